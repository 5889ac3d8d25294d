import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiForbiddenResponse, ApiServiceUnavailableResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { DATABASE_UNAVAILABLE, ErrorBody } from '../common/error-body.dto.js';
import { describeRule, type AccessRule } from './access.policy.js';
import { CSRF_FAILED_MESSAGE } from './csrf-check.js';
import { ROLES } from './role.js';

export const ACCESS_RULE = 'hospiai:access-rule';
export const SESSION_SCHEME = 'session';
export const API_TOKEN_SCHEME = 'apiToken';

/** A route's 403 answers, one example per error code. */
export type ForbiddenExamples = Record<string, { summary: string; value: ErrorBody }>;

/** The 403 of a state-changing request by the dashboard's cookie session without its CSRF token. */
export const CSRF_FAILED = {
  summary: 'the cookie session (dashboard) sent a POST, PUT, PATCH or DELETE without a valid `X-CSRF-Token` header',
  value: { error: CSRF_FAILED_MESSAGE, code: 'csrf_failed', requestId: 'req-7f3a2c' },
};

/** Each code with when it is answered, for the 403's description. */
export function describeForbidden(examples: ForbiddenExamples): string {
  return Object.entries(examples)
    .map(([code, { summary }]) => `\`${code}\`: ${summary}`)
    .join('; ');
}

/** Options of `@ApiForbiddenResponse` for these answers (a GET loses `csrf_failed` in src/swagger.ts). */
export function forbiddenResponse(examples: ForbiddenExamples): Parameters<typeof ApiForbiddenResponse>[0] {
  return { type: ErrorBody, description: describeForbidden(examples), examples };
}

/**
 * The 403 answers a rule allows: `csrf_failed` on any route a session may call; `forbidden` only
 * where the rule leaves some caller out (a session of every role, and no API token, is never
 * refused by it: an API token there fails as a session would, with 401).
 */
function forbiddenAnswers(rule: Omit<AccessRule, 'public'>): ForbiddenExamples {
  const everySession = !rule.scopes?.length && ROLES.every((role) => rule.roles?.includes(role));
  const forbidden = {
    summary: `the caller is not allowed: ${describeRule(rule)}`,
    value: { error: 'You are not allowed to do this', code: 'forbidden', requestId: 'req-7f3a2c' },
  };
  // An API token used from outside its IP allowlist (McpValidationService.authenticate).
  const ipNotAllowed = {
    summary: "an API token used from an address outside the token's IP allowlist",
    value: { error: 'Adresse IP non autorisée', code: 'ip_not_allowed', requestId: 'req-7f3a2c' },
  };
  if (rule.scopes?.length) return { forbidden, ip_not_allowed: ipNotAllowed, csrf_failed: CSRF_FAILED };
  return everySession ? { csrf_failed: CSRF_FAILED } : { forbidden, csrf_failed: CSRF_FAILED };
}

const UNAUTHORIZED = { error: 'Authentication required', code: 'unauthorized', requestId: 'req-7f3a2c' };

/** The 401 of a route only sessions may call. */
const SESSION_UNAUTHORIZED = {
  description: 'Missing, invalid or expired credentials (`WWW-Authenticate: Bearer error="invalid_token"` when a bearer was sent)',
  type: ErrorBody,
  example: UNAUTHORIZED,
};

/**
 * The 401s of a route that also takes API tokens: a refused API token is answered with the
 * validate route's codes and messages (McpValidationService.authenticate), a session as above.
 */
const TOKEN_OR_SESSION_UNAUTHORIZED = {
  description:
    'A refused API token: `invalid_token`, `token_expired` or `token_revoked` (with `WWW-Authenticate: Bearer error="invalid_token"`); ' +
    'no credentials or a refused session: `unauthorized`',
  type: ErrorBody,
  examples: {
    invalid_token: { summary: 'an API token that is malformed, badly signed or not an API token', value: { error: 'Token invalide', code: 'invalid_token', requestId: 'req-7f3a2c' } },
    token_expired: { summary: 'an API token past its expiry', value: { error: 'Token expiré', code: 'token_expired', requestId: 'req-7f3a2c' } },
    token_revoked: {
      summary: 'an API token revoked or rotated, or whose owner is disabled',
      value: { error: 'Token révoqué ou inexistant', code: 'token_revoked', requestId: 'req-7f3a2c' },
    },
    unauthorized: { summary: 'no credentials, or a session that is refused', value: UNAUTHORIZED },
  },
};

/**
 * States who may call a route, enforces it through the global guard and
 * documents it in Swagger (security scheme, 401/403/503 answers, `x-access`).
 * Every route carries exactly one of `@Access(...)` or `@Public()`.
 */
export function Access(rule: Omit<AccessRule, 'public'>): MethodDecorator & ClassDecorator {
  const decorators = [SetMetadata(ACCESS_RULE, rule), ApiExtension('x-access', describeRule(rule))];
  if (rule.roles?.length) decorators.push(ApiBearerAuth(SESSION_SCHEME));
  if (rule.scopes?.length) decorators.push(ApiBearerAuth(API_TOKEN_SCHEME));
  decorators.push(
    ApiUnauthorizedResponse(rule.scopes?.length ? TOKEN_OR_SESSION_UNAUTHORIZED : SESSION_UNAUTHORIZED),
    ApiForbiddenResponse(forbiddenResponse(forbiddenAnswers(rule))),
    ApiServiceUnavailableResponse({
      ...DATABASE_UNAVAILABLE,
      description: 'The database cannot be reached while the caller is checked (session or API token): try again after Retry-After',
    }),
  );
  return applyDecorators(...decorators);
}

/** Any logged-in person, whatever the role. */
Access.session = (): MethodDecorator & ClassDecorator => Access({ roles: ROLES });

/** Opens a route to anyone. */
export function Public(): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(ACCESS_RULE, { public: true } satisfies AccessRule), ApiExtension('x-access', 'public'));
}

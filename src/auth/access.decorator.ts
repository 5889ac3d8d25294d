import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiForbiddenResponse, ApiServiceUnavailableResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ROLES } from '../users/user.entity.js';
import { ErrorBody } from '../common/error-body.dto.js';
import { describeRule, type AccessRule } from './access.policy.js';

export const ACCESS_RULE = 'hospiai:access-rule';
export const SESSION_SCHEME = 'session';
export const API_TOKEN_SCHEME = 'apiToken';

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
    ApiUnauthorizedResponse({
      description: 'Missing, invalid or expired credentials',
      type: ErrorBody,
      example: { error: 'Authentication required', code: 'unauthorized', requestId: 'req-7f3a2c' },
    }),
    ApiForbiddenResponse({
      description: `Caller is not allowed: ${describeRule(rule)}`,
      type: ErrorBody,
      example: { error: 'You are not allowed to do this', code: 'forbidden', requestId: 'req-7f3a2c' },
    }),
    ApiServiceUnavailableResponse({
      description: 'The database cannot be reached while the caller is checked (session or API token): try again after Retry-After',
      type: ErrorBody,
      example: { error: 'Service indisponible', code: 'service_unavailable', requestId: 'req-7f3a2c' },
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

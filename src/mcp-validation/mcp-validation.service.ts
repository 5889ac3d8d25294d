import { performance } from 'node:perf_hooks';
import { Injectable, Logger } from '@nestjs/common';
import { hasAllScopes, isScope, type Scope } from '../../libs/scopes/src/index.js';
import { AuditWriter } from '../audit/audit.writer.js';
import type { ValidateOutcome } from '../audit/audit.types.js';
import { ApiTokenAuthenticator } from '../access/api-token-authenticator.js';
import { bearerTokenOf } from '../access/bearer.js';
import type { Principal } from '../access/principal.js';
import { AppError } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { isDatabaseUnavailable } from '../database/db-errors.js';
import { ValidateFailureLimit } from '../rate-limit/validate-failure-limit.js';
import { IP_NOT_ALLOWED } from '../tokens/ip-allowlist.js';
import { fingerprintOf, TokenCodec, type ApiTokenClaims, type Inspected } from '../tokens/token-codec.js';
import { TokensRepository, type TokenState } from '../tokens/tokens.repository.js';
import { canonicalResource, MAX_RESOURCE_URI_LENGTH } from '../common/resource-uri.js';
import { ThrottledValidations } from './throttled-validations.js';
import { TokenStateCache } from './token-state.cache.js';

/** The answers of docs/api.md ("Validation"), word for word. */
export const ANSWERS = {
  invalid: { error: 'Token invalide', code: 'invalid_token' },
  expired: { error: 'Token expiré', code: 'token_expired' },
  revoked: { error: 'Token révoqué ou inexistant', code: 'token_revoked' },
  insufficientScope: { error: 'Scope insuffisant', code: 'insufficient_scope' },
  ipNotAllowed: { error: 'Adresse IP non autorisée', code: IP_NOT_ALLOWED },
  badRequest: { error: 'Requête invalide', code: 'invalid_request' },
  misconfigured: { error: 'Configuration serveur invalide' },
  tooManyFailures: { error: 'Trop de validations en échec : réessayez plus tard', code: 'too_many_requests' },
  unavailable: { error: 'Service indisponible' },
} as const;

/** Stands for a request body that is not JSON, or that Fastify refused before the route ran (see ./validate-route.ts). */
export const NOT_JSON: unique symbol = Symbol('not JSON');

/** The audited reason of a token refused because it is bound to another resource. */
export const WRONG_AUDIENCE = 'wrong_audience';

const INVALID_TOKEN_HEADER = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };
const RETRY_AFTER_SECONDS = '5';
const MAX_REQUIRED_SCOPES = 20;

export interface ValidationAnswer {
  /** As audited: valid, invalid, expired, revoked, insufficient_scope or error. */
  outcome: string;
  status: number;
  /** The JSON body: an object, or (the 200 answer) its JSON text, with the Content-Type in `headers`. */
  body: Record<string, unknown> | string;
  headers: Record<string, string>;
}

const VALID_HEADERS = { 'Cache-Control': 'no-store', 'Content-Type': 'application/json; charset=utf-8' };

export interface ValidBody {
  valid: true;
  user: {
    id: string;
    email: string;
    firstname: string;
    surname: string;
    name: string;
    phoneNumber: string | null;
    profileCompletedAt: string | null;
  };
  token: { id: string; name: string; scopes: Scope[]; expiresAt: string };
  scopes: Scope[];
  exp: number;
}

/** The decision on a token, before it is audited and turned into an answer. */
export type Decision =
  | { outcome: 'valid'; state: TokenState; exp: number; claims: ApiTokenClaims }
  | { outcome: Exclude<ValidateOutcome, 'valid' | 'error'>; reason: string; tokenId?: string; userId?: string; state?: TokenState }
  | { outcome: 'error'; reason: 'unavailable' | 'misconfigured' };

/** What the optional body asks: `requiredScopes`, and the `resource` the caller is (audience binding). */
interface ValidateRequest {
  scopes: string[];
  /** As sent (canonicalised only if it differs from a bound token's audience); null when absent. */
  resource: string | null;
}

/** The optional body: `{requiredScopes?, resource?}`, or a reason it is not one. */
function requestOf(body: unknown): ({ ok: true } & ValidateRequest) | { ok: false; reason: string } {
  if (body === NOT_JSON) return { ok: false, reason: 'body is not valid JSON' };
  if (body === undefined || body === null || body === '') return { ok: true, scopes: [], resource: null };
  if (typeof body !== 'object' || Array.isArray(body)) return { ok: false, reason: 'body must be a JSON object' };
  const keys = Object.keys(body);
  if (keys.some((k) => k !== 'requiredScopes' && k !== 'resource')) return { ok: false, reason: 'only requiredScopes and resource are accepted in the body' };
  const { requiredScopes: rs, resource } = body as { requiredScopes?: unknown; resource?: unknown };
  if (resource !== undefined && (typeof resource !== 'string' || resource.length === 0 || resource.length > MAX_RESOURCE_URI_LENGTH)) {
    return { ok: false, reason: `resource must be a URI of at most ${MAX_RESOURCE_URI_LENGTH} characters` };
  }
  const given = resource === undefined ? null : resource;
  if (rs === undefined) return { ok: true, scopes: [], resource: given };
  if (!Array.isArray(rs) || rs.length > MAX_REQUIRED_SCOPES || !rs.every((s) => typeof s === 'string' && s.length <= 100)) {
    return { ok: false, reason: `requiredScopes must be an array of at most ${MAX_REQUIRED_SCOPES} scope names` };
  }
  return { ok: true, scopes: [...new Set(rs as string[])], resource: given };
}

/**
 * Whether a token with this state may be used by the resource the caller names (null: none). An
 * unbound token may be used by every resource; a bound one only by its own, compared as strings:
 * the stored audience is canonical, so the resource is canonicalised only when it is not already
 * equal to it. A bound token presented without a resource is refused too.
 */
export function audienceAllows(state: Pick<TokenState, 'audience'>, resource: string | null): boolean {
  if (state.audience === null) return true;
  if (resource === null) return false;
  return resource === state.audience || canonicalResource(resource) === state.audience;
}

/**
 * POST /api/mcp/validate, top to bottom as docs/api.md ("Validation") reads: the bearer token,
 * its signature and claims, its state and its owner's in the database, the
 * required scopes; then one audit event, committed before the answer. A failure refused by the
 * failed-validation limit (429) is counted into one event per address and minute instead
 * (ThrottledValidations).
 */
@Injectable()
export class McpValidationService implements ApiTokenAuthenticator {
  private readonly logger = new Logger(McpValidationService.name);
  /**
   * The 200 answer's JSON for a token state: the same for every call with that token (its `exp`
   * included), so written once. Keyed by the state object, it goes when the state is dropped or reloaded.
   */
  private readonly validJson = new WeakMap<TokenState, { exp: number; json: string }>();

  constructor(
    private readonly codec: TokenCodec,
    private readonly tokens: TokensRepository,
    private readonly audit: AuditWriter,
    private readonly cache: TokenStateCache,
    private readonly failures: ValidateFailureLimit,
    private readonly throttled: ThrottledValidations,
  ) {}

  async validate(authorization: unknown, body: unknown, ctx: RequestContext): Promise<ValidationAnswer> {
    const started = performance.now();
    const token = bearerTokenOf(authorization);
    const required = requestOf(body);
    // Verified and hashed once: the fingerprint is compared with the stored one, and named (shortened) in the audit event.
    const inspected = token && required.ok && this.codec.canVerify ? this.codec.inspect(token) : undefined;
    const fingerprint = inspected?.fingerprint ?? (token ? fingerprintOf(token) : undefined);

    let decision: Decision;
    if (!required.ok) {
      decision = { outcome: 'invalid', reason: 'bad_request' };
    } else {
      decision = await this.decide(token, ctx.ip, inspected, required.resource);
      if (decision.outcome === 'valid' && !hasAllScopes(required.scopes, decision.state.scopes)) {
        decision = { outcome: 'insufficient_scope', reason: 'missing_scopes', tokenId: decision.state.id, userId: decision.state.userId, state: decision.state };
      }
    }

    // A failure counts against the caller's address; past its limit, failures are answered 429 (valid tokens never are).
    const failed = decision.outcome === 'invalid' || decision.outcome === 'expired' || decision.outcome === 'revoked';
    const retryAfter = failed ? await this.failures.failure(ctx.ip) : 0;
    if (retryAfter > 0) {
      // Refused by the limit: counted into one event per address and minute rather than one per
      // call, so that failures past the limit cannot grow the audit log (no database round trip).
      this.throttled.count(ctx.ip, decision.outcome);
      return { status: 429, body: { ...ANSWERS.tooManyFailures }, headers: { 'Retry-After': String(retryAfter) }, outcome: decision.outcome };
    }

    const tokenId = decision.outcome === 'valid' ? decision.state.id : decision.outcome !== 'error' ? decision.tokenId : undefined;
    const userId = decision.outcome === 'valid' ? decision.state.userId : decision.outcome !== 'error' ? decision.userId : undefined;
    try {
      await this.audit.record({
        type: 'token.validate',
        outcome: decision.outcome,
        actorUserId: userId ?? null,
        tokenId: tokenId ?? null,
        ...ctx,
        latencyMs: performance.now() - started,
        details: {
          ...(decision.outcome !== 'valid' ? { reason: decision.reason } : {}),
          ...(decision.outcome !== 'valid' && decision.reason === WRONG_AUDIENCE ? { resource: required.ok ? required.resource : null } : {}),
          ...(required.ok && required.scopes.length > 0 ? { requiredScopes: required.scopes } : {}),
          ...(fingerprint ? { fingerprint: fingerprint.slice(0, 16) } : {}),
        },
      });
    } catch (err) {
      // No answer without its audit event.
      this.logger.error({ err, reqId: ctx.requestId }, 'validation not audited: answering 503');
      return { ...this.unavailable(), outcome: 'error' };
    }
    return { ...this.answer(decision, required.ok ? required.scopes : []), outcome: decision.outcome };
  }

  /**
   * For the global guard: same checks, no audit event of its own. The caller is HospiAI's own API,
   * not an MCP server: a token bound to an MCP server is refused here (wrong audience); `ip` is
   * checked against the token's IP allowlist.
   */
  async authenticate(token: string, ip: string | null): Promise<Extract<Principal, { kind: 'token' }>> {
    const d = await this.decide(token, ip, undefined, null);
    if (d.outcome === 'valid') {
      // The state's scopes are those the token grants now (a privileged one only while its owner's role allows it).
      return { kind: 'token', userId: d.state.userId, role: d.state.owner.role, tokenId: d.state.id, scopes: d.state.scopes };
    }
    if (d.outcome === 'error') {
      throw d.reason === 'unavailable'
        ? new AppError(503, 'service_unavailable', ANSWERS.unavailable.error, {}, { 'Retry-After': RETRY_AFTER_SECONDS })
        : new AppError(500, 'server_misconfigured', ANSWERS.misconfigured.error);
    }
    if (d.outcome === 'ip_not_allowed') throw new AppError(403, ANSWERS.ipNotAllowed.code, ANSWERS.ipNotAllowed.error);
    const a = d.outcome === 'expired' ? ANSWERS.expired : d.outcome === 'revoked' ? ANSWERS.revoked : ANSWERS.invalid;
    throw new AppError(401, a.code, a.error, {}, INVALID_TOKEN_HEADER);
  }

  /**
   * The same checks as validate, for token introspection (RFC 7662): the decision
   * itself, with the token's claims; no audit event (the caller writes its own). `ip` is the
   * caller's address, checked against the token's IP allowlist; `resource` is the calling MCP
   * server's resource URI (null if it has none): a token bound to another is refused.
   */
  inspect(token: string | undefined, ip: string | null, resource: string | null): Promise<Decision> {
    return this.decide(token, ip, undefined, resource);
  }

  private async decide(token: string | undefined, ip: string | null, inspected: Inspected | undefined, resource: string | null): Promise<Decision> {
    if (!this.codec.canVerify) return { outcome: 'error', reason: 'misconfigured' };
    if (!token) return { outcome: 'invalid', reason: 'no_token' };

    const { result: verified, fingerprint } = inspected ?? this.codec.inspect(token);
    if (!verified.ok) {
      return verified.outcome === 'expired'
        ? { outcome: 'expired', reason: 'expired', tokenId: verified.claims.jti, userId: verified.claims.sub }
        : { outcome: 'invalid', reason: verified.reason };
    }
    const claims = verified.claims;

    let state: TokenState | undefined;
    try {
      state = await this.cache.get(claims.jti, (id) => this.tokens.stateOf(id));
    } catch (err) {
      // Unreachable, timed out, locked, refused: whatever the failure, the token's state is unknown
      // and no answer can be given safely. An unreachable database is not logged per call (an
      // outage would log every request; the revocation channel and readiness report it). The
      // logger's error serializer leaves out the query and its parameters.
      if (!isDatabaseUnavailable(err)) this.logger.error({ err }, 'token state lookup failed: answering unavailable');
      return { outcome: 'error', reason: 'unavailable' };
    }
    const ids = { tokenId: claims.jti, userId: claims.sub };
    if (!state) return { outcome: 'revoked', reason: 'unknown_token', ...ids };
    if (state.userId !== claims.sub || state.fingerprint !== fingerprint) return { outcome: 'invalid', reason: 'token_mismatch', ...ids };
    if (state.revokedAt) return { outcome: 'revoked', reason: 'revoked', ...ids };
    if (state.owner.disabled) return { outcome: 'revoked', reason: 'owner_disabled', ...ids };
    if (state.expiresAt.getTime() <= Date.now()) return { outcome: 'expired', reason: 'expired', ...ids };
    // The row's audience decides (the JWT's `aud` only says so too).
    if (!audienceAllows(state, resource)) return { outcome: 'invalid', reason: WRONG_AUDIENCE, ...ids, state };
    // The IP allowlist (docs/governance.md): one lookup in the list built with the cached state.
    if (state.allowlist && !state.allowlist.allows(ip)) return { outcome: 'ip_not_allowed', reason: IP_NOT_ALLOWED, ...ids, state };
    return { outcome: 'valid', state, exp: claims.exp, claims };
  }

  private answer(d: Decision, required: string[]): Omit<ValidationAnswer, 'outcome'> {
    switch (d.outcome) {
      case 'valid': {
        const s = d.state;
        const known = this.validJson.get(s);
        if (known && known.exp === d.exp) return { status: 200, body: known.json, headers: VALID_HEADERS };
        const body: ValidBody = {
          valid: true,
          user: {
            id: s.owner.id,
            email: s.owner.email,
            firstname: s.owner.firstname,
            surname: s.owner.surname,
            name: `${s.owner.firstname} ${s.owner.surname}`.trim(),
            phoneNumber: s.owner.phoneNumber,
            profileCompletedAt: s.owner.profileCompletedAt ? s.owner.profileCompletedAt.toISOString() : null,
          },
          token: { id: s.id, name: s.name, scopes: s.scopes, expiresAt: s.expiresAt.toISOString() },
          scopes: s.scopes,
          exp: d.exp,
        };
        const json = JSON.stringify(body);
        this.validJson.set(s, { exp: d.exp, json });
        return { status: 200, body: json, headers: VALID_HEADERS };
      }
      case 'insufficient_scope':
        return {
          status: 403,
          body: { ...ANSWERS.insufficientScope, requiredScopes: required, scopes: d.state?.scopes ?? [] },
          // Only catalogue names go into the header: a caller's free text never does.
          headers: { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${required.filter(isScope).join(' ')}"` },
        };
      case 'ip_not_allowed':
        return { status: 403, body: { ...ANSWERS.ipNotAllowed }, headers: {} };
      case 'expired':
        return { status: 401, body: { ...ANSWERS.expired }, headers: INVALID_TOKEN_HEADER };
      case 'revoked':
        return { status: 401, body: { ...ANSWERS.revoked }, headers: INVALID_TOKEN_HEADER };
      case 'invalid':
        return d.reason === 'bad_request'
          ? { status: 400, body: { ...ANSWERS.badRequest }, headers: {} }
          : { status: 401, body: { ...ANSWERS.invalid }, headers: INVALID_TOKEN_HEADER };
      case 'error':
        return d.reason === 'unavailable' ? this.unavailable() : { status: 500, body: { ...ANSWERS.misconfigured }, headers: {} };
    }
  }

  private unavailable(): Omit<ValidationAnswer, 'outcome'> {
    return { status: 503, body: { ...ANSWERS.unavailable }, headers: { 'Retry-After': RETRY_AFTER_SECONDS } };
  }
}

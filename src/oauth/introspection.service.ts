import { performance } from 'node:perf_hooks';
import { Injectable, Logger } from '@nestjs/common';
import { AuditWriter } from '../audit/audit.writer.js';
import type { IntrospectOutcome } from '../audit/audit.types.js';
import { AppError } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { CLIENT_CHALLENGE, clientCredentials, recordableClientId } from '../mcp-clients/client-credentials.js';
import { McpClientsService, type AuthenticatedClient } from '../mcp-clients/mcp-clients.service.js';
import { McpValidationService, WRONG_AUDIENCE } from '../mcp-validation/mcp-validation.service.js';
import { API_TOKEN_AUDIENCE, fingerprintOf } from '../tokens/token-codec.js';
import { FORM_CONTENT_TYPE, type FormBody } from './form-body.js';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export interface IntrospectionAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

function oauthError(status: number, error: string, description: string, headers: Record<string, string> = {}): IntrospectionAnswer {
  return { status, body: { error, error_description: description }, headers: { ...NO_STORE, ...headers } };
}

const INACTIVE: IntrospectionAnswer = { status: 200, body: { active: false }, headers: NO_STORE };

function isForm(contentType: unknown): boolean {
  return typeof contentType === 'string' && contentType.split(';')[0].trim().toLowerCase() === FORM_CONTENT_TYPE;
}

/**
 * POST /api/oauth/introspect (RFC 7662) for registered MCP servers: the same
 * checks as POST /api/mcp/validate, answered as `{active, scope, …}`, or
 * `{active: false}` and nothing else for any token validation would refuse.
 * Every call by an authenticated client, and every failed client
 * authentication, writes one `token.introspect` event before the answer.
 */
@Injectable()
export class IntrospectionService {
  private readonly logger = new Logger(IntrospectionService.name);

  constructor(
    private readonly clients: McpClientsService,
    private readonly validation: McpValidationService,
    private readonly audit: AuditWriter,
  ) {}

  async introspect(contentType: unknown, authorization: unknown, body: unknown, ctx: RequestContext): Promise<IntrospectionAnswer> {
    const started = performance.now();
    const form = isForm(contentType) && body && typeof body === 'object' ? (body as FormBody) : undefined;

    // 1. The client (the MCP server asking).
    const creds = clientCredentials(authorization, form);
    if (creds.kind === 'malformed' && creds.reason.includes('twice')) {
      return this.refuseClient(started, ctx, 'two_authentication_methods', undefined, undefined, () =>
        oauthError(400, 'invalid_request', 'Use one client authentication method only'),
      );
    }
    if (creds.kind !== 'credentials') {
      return this.refuseClient(started, ctx, creds.kind === 'none' ? 'no_credentials' : 'malformed_credentials');
    }
    let client: AuthenticatedClient | undefined;
    try {
      client = await this.clients.authenticate(creds.credentials);
    } catch (err) {
      // The database cannot be reached: answered the OAuth way, like any other failure of this route.
      if (err instanceof AppError && err.status === 503) return this.unavailable();
      throw err;
    }
    if (!client) return this.refuseClient(started, ctx, 'bad_credentials', creds.credentials.clientId, creds.credentials.method);

    // 2. The request.
    if (!form) return this.badRequest(started, ctx, client, 'The body must be application/x-www-form-urlencoded');
    const token = form.token;
    if (typeof token !== 'string' || token === '') return this.badRequest(started, ctx, client, 'token is required, once');
    for (const [key, value] of Object.entries(form)) {
      if (Array.isArray(value)) return this.badRequest(started, ctx, client, `${key} must be given once`);
    }

    // 3. The token, as validation sees it.
    // Audience binding: the calling server's own resource URI (a bound token for another is inactive);
    // the caller's address, checked against the token's IP allowlist.
    const d = await this.validation.inspect(token, ctx.ip, client.resourceUri);
    // (decide() never answers insufficient_scope: no scope is required here.)
    const outcome: IntrospectOutcome = d.outcome === 'insufficient_scope' ? 'invalid' : d.outcome;
    const ids =
      d.outcome === 'valid'
        ? { tokenId: d.state.id, userId: d.state.userId }
        : d.outcome === 'error'
          ? {}
          : { tokenId: d.tokenId, userId: d.userId };
    try {
      await this.audit.record({
        type: 'token.introspect',
        outcome,
        actorUserId: ids.userId ?? null,
        tokenId: ids.tokenId ?? null,
        ...ctx,
        latencyMs: performance.now() - started,
        details: {
          clientId: client.clientId,
          clientName: client.name,
          ...(d.outcome !== 'valid' ? { reason: d.reason } : {}),
          ...(d.outcome !== 'valid' && d.reason === WRONG_AUDIENCE ? { resource: client.resourceUri } : {}),
          fingerprint: fingerprintOf(token).slice(0, 16),
        },
      });
    } catch (err) {
      this.logger.error({ err, reqId: ctx.requestId }, 'introspection not audited: answering 503');
      return this.unavailable();
    }

    if (d.outcome === 'valid') {
      const { state, claims } = d;
      return {
        status: 200,
        headers: NO_STORE,
        body: {
          active: true,
          scope: state.scopes.join(' '),
          client_id: state.id,
          sub: state.userId,
          username: state.owner.email,
          token_type: 'Bearer',
          exp: claims.exp,
          iat: claims.iat,
          jti: claims.jti,
          iss: claims.iss,
          aud: state.audience ? [API_TOKEN_AUDIENCE, state.audience] : [API_TOKEN_AUDIENCE],
        },
      };
    }
    if (d.outcome === 'error') {
      return d.reason === 'unavailable'
        ? this.unavailable()
        : { status: 500, body: { error: 'server_error', error_description: 'Configuration serveur invalide' }, headers: NO_STORE };
    }
    return INACTIVE;
  }

  private async refuseClient(
    started: number,
    ctx: RequestContext,
    reason: string,
    clientId?: string,
    method?: string,
    answer: () => IntrospectionAnswer = () => oauthError(401, 'invalid_client', 'Client authentication failed', { 'WWW-Authenticate': CLIENT_CHALLENGE }),
  ): Promise<IntrospectionAnswer> {
    // A client id of another shape than ours may be the secret (typed as the id): it is only said to be malformed.
    const named = clientId === undefined ? {} : recordableClientId(clientId) ? { clientId } : { clientIdMalformed: true };
    try {
      await this.audit.record({
        type: 'token.introspect',
        outcome: 'invalid_client',
        ...ctx,
        latencyMs: performance.now() - started,
        details: { reason, ...named, ...(method ? { method } : {}) },
      });
    } catch (err) {
      this.logger.error({ err, reqId: ctx.requestId }, 'refused introspection not audited: answering 503');
      return this.unavailable();
    }
    return answer();
  }

  private async badRequest(started: number, ctx: RequestContext, client: AuthenticatedClient, description: string): Promise<IntrospectionAnswer> {
    try {
      await this.audit.record({
        type: 'token.introspect',
        outcome: 'invalid',
        ...ctx,
        latencyMs: performance.now() - started,
        details: { reason: 'bad_request', clientId: client.clientId, clientName: client.name },
      });
    } catch (err) {
      this.logger.error({ err, reqId: ctx.requestId }, 'introspection not audited: answering 503');
      return this.unavailable();
    }
    return oauthError(400, 'invalid_request', description);
  }

  private unavailable(): IntrospectionAnswer {
    return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'Service indisponible' }, headers: { ...NO_STORE, 'Retry-After': '5' } };
  }
}

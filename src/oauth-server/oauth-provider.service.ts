import { generateKeyPairSync, hkdfSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import type { default as Provider, ClientLike, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { DataSource, EntityManager } from 'typeorm';
import { isScope, SCOPE_NAMES, type Scope } from '../../libs/scopes/src/index.js';
import { AuditWriter } from '../audit/audit.writer.js';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { AppError } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { McpClientsService } from '../mcp-clients/mcp-clients.service.js';
import { RevocationBus } from '../revocation/revocation.bus.js';
import { TokensService } from '../tokens/tokens.service.js';
import { TokenCodec } from '../tokens/token-codec.js';
import { UsersRepository } from '../users/users.repository.js';
import { fetchPolicyOf, guardedFetch } from './cimd-fetch.js';
import { OAuthModelsRepository, type OAuthPayload } from './oauth-models.repository.js';

/** Where the provider's endpoints live (the issuer is the service's root URL). */
export const OAUTH_ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  registration: '/oauth/register',
  revocation: '/oauth/revoke',
  jwks: '/oauth/jwks',
} as const;
export const INTERACTION_PREFIX = '/oauth/interaction';
export const INTROSPECTION_ROUTE = '/api/oauth/introspect';

const GRANT_TTL_SECONDS = 365 * 86400;
const INTERACTION_TTL_SECONDS = 3600;
/** The provider's own login session: short, since a dashboard session is reused when there is one. */
const SESSION_TTL_SECONDS = 8 * 3600;
const PRUNE_EVERY_MS = 10 * 60_000;

/** A registered, active MCP server, as the authorization server sees it. */
export interface ResourceServerInfo {
  id: string;
  name: string;
  resourceUri: string;
  acceptedScopes: readonly Scope[];
}

/** What the HTTP layer hands to the provider hooks: who asks. */
export function contextOf(ctx: KoaContextWithOIDC): RequestContext {
  const ua = ctx.get('user-agent');
  const state = (ctx.req as unknown as { hospiai?: RequestContext }).hospiai;
  return state ?? { ip: ctx.ip ?? null, userAgent: ua === '' ? null : ua.slice(0, 512), requestId: '', clientRequestId: null };
}

function isLoopbackRedirect(uri: string): boolean {
  const u = URL.parse(uri);
  return !!u && u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
}

/** RFC 8252 loopback (any port) or https: the only redirect URIs a client may register. */
export function redirectUriAllowed(uri: unknown): boolean {
  if (typeof uri !== 'string') return false;
  const u = URL.parse(uri);
  if (!u || u.hash !== '') return false;
  return u.protocol === 'https:' || isLoopbackRedirect(uri);
}

/**
 * The OAuth 2.1 authorization server for MCP clients: oidc-provider, configured here, created on first
 * use (the issuer defaults to the address the service actually listens on), storing its models in
 * `oauth_model`. Access tokens it hands out are HospiAI API tokens (see issueAccessToken).
 */
type OidcProviderModule = typeof import('oidc-provider');
let oidc: OidcProviderModule | undefined;

/** oidc-provider, once loaded (OAuthProviderService.onModuleInit loads it before any request). */
function lib(): OidcProviderModule {
  if (!oidc) throw new Error('oidc-provider is not loaded yet');
  return oidc;
}

/**
 * Loads oidc-provider once, when the module starts (after the configuration was checked, so that
 * a configuration error stays the one line it is). What it writes to the console while it loads
 * (on Node 20, which it does not support: a warning) goes to the service's JSON log instead of a
 * raw line among the JSON ones.
 */
async function loadOidcProvider(logger: Logger): Promise<OidcProviderModule> {
  if (oidc) return oidc;
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    const line = args.map(String).join(' ');
    if (line.startsWith('oidc-provider')) logger.warn(line);
    else warn(...args);
  };
  try {
    oidc = await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
  return oidc;
}

@Injectable()
export class OAuthProviderService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('OAuthServer');
  private instance: Provider | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly models: OAuthModelsRepository,
    private readonly mcpClients: McpClientsService,
    private readonly tokens: TokensService,
    private readonly codec: TokenCodec,
    private readonly users: UsersRepository,
    private readonly audit: AuditWriter,
    private readonly revocations: RevocationBus,
    private readonly adapterHost: HttpAdapterHost,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async onModuleInit(): Promise<void> {
    await loadOidcProvider(this.logger);
  }

  onModuleDestroy(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
  }

  get issuer(): string {
    if (this.config.publicUrl) return this.config.publicUrl;
    const address = this.adapterHost.httpAdapter?.getHttpServer()?.address() as AddressInfo | string | null | undefined;
    const port = address && typeof address === 'object' ? address.port : this.config.port;
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    return `http://${host}:${port}`;
  }

  get provider(): Provider {
    this.instance ??= this.create();
    return this.instance;
  }

  private requestHandler: ReturnType<Provider['callback']> | undefined;

  /** The provider's Node request handler. */
  get handler(): ReturnType<Provider['callback']> {
    this.requestHandler ??= this.provider.callback();
    return this.requestHandler;
  }

  /** The MCP server registered for a resource URI, if active. */
  async resourceServer(uri: string): Promise<ResourceServerInfo | undefined> {
    const found = await this.mcpClients.findByResource(uri);
    if (!found) return undefined;
    return { id: found.id, name: found.name, resourceUri: found.resourceUri, acceptedScopes: found.acceptedScopes.filter(isScope) };
  }

  private create(): Provider {
    const config = this.config;
    const oauth = config.oauth;
    const models = this.models;
    const onGrantRevoked = (grantId: string): Promise<void> => this.grantRevokedByProvider(grantId);
    const key = Buffer.from(hkdfSync('sha256', config.jwt.secret, 'hospiai', 'oauth-cookies-v1', 32)).toString('base64url');
    // ID tokens are not part of this server's use (MCP clients ask for access tokens); the provider
    // still needs a signing key for its JWKS: one made at start, kept in memory.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'hospiai-oauth' };

    class PgAdapter {
      constructor(private readonly name: string) {}
      async upsert(id: string, payload: OAuthPayload, expiresIn?: number): Promise<void> {
        const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
        await models.upsert(this.name, id, payload, expiresAt);
      }
      find(id: string) {
        return models.find(this.name, id);
      }
      findByUid(uid: string) {
        return models.findByUid(this.name, uid);
      }
      findByUserCode(userCode: string) {
        return models.findByUserCode(this.name, userCode);
      }
      consume(id: string) {
        return models.consume(this.name, id);
      }
      destroy(id: string) {
        return models.destroy(this.name, id);
      }
      async revokeByGrantId(grantId: string): Promise<void> {
        // The provider revokes a grant model by model; the access tokens are ours (api_tokens rows).
        if (this.name === 'AccessToken') await onGrantRevoked(grantId);
        await models.destroyByGrant(this.name, grantId);
      }
    }

    const configuration: Configuration = {
      adapter: PgAdapter as never,
      clients: [],
      jwks: { keys: [jwk as never] },
      cookies: {
        keys: [key],
        long: { httpOnly: true, sameSite: 'lax', secure: this.issuerIsHttps() },
        short: { httpOnly: true, sameSite: 'lax', secure: this.issuerIsHttps() },
      },
      routes: { ...OAUTH_ROUTES },
      responseTypes: ['code'],
      pkce: { required: () => true },
      scopes: ['openid', 'offline_access'],
      clientDefaults: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
        id_token_signed_response_alg: 'ES256',
      },
      conformIdTokenClaims: false,
      allowOmittingSingleRegisteredRedirectUri: false,
      ttl: {
        AccessToken: oauth.accessTokenTtlSeconds,
        AuthorizationCode: 60,
        RefreshToken: oauth.refreshTokenTtlSeconds,
        Grant: GRANT_TTL_SECONDS,
        Interaction: INTERACTION_TTL_SECONDS,
        Session: SESSION_TTL_SECONDS,
        IdToken: 3600,
      },
      rotateRefreshToken: true,
      issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: ClientLike) => client.grantTypeAllowed('refresh_token'),
      interactions: {
        policy: consentPolicy(),
        url: async (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `${INTERACTION_PREFIX}/${interaction.uid}`,
      },
      // A consent is remembered per user, client and resource (whatever the browser session): the
      // latest live grant for them is reused, and the consent page shows only for scopes it lacks.
      loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
        const oidc = ctx.oidc as KoaContextWithOIDC['oidc'] & {
          result?: { consent?: { grantId?: string } };
          session?: { accountId?: string; grantIdFor(clientId: string): string | undefined };
        };
        const clientId = oidc.client?.clientId;
        if (!clientId) return undefined;
        const accountId = oidc.session?.accountId;
        const resource = typeof oidc.params?.resource === 'string' ? oidc.params.resource : undefined;
        const grantId =
          oidc.result?.consent?.grantId ??
          oidc.session?.grantIdFor(clientId) ??
          (accountId && resource ? await models.grantIdFor(accountId, clientId, resource) : undefined);
        return grantId ? this.provider.Grant.find(grantId) : undefined;
      },
      findAccount: async (_ctx, sub) => {
        const user = await this.users.findById(sub);
        if (!user || user.disabledAt) return undefined;
        return { accountId: sub, claims: async () => ({ sub }) };
      },
      fetch: this.auditedFetch(guardedFetch(fetchPolicyOf(oauth, config.host), oauth.cimdExtraCa)) as never,
      discovery: {
        introspection_endpoint: `${this.issuer}${INTROSPECTION_ROUTE}`,
        client_id_metadata_document_supported: true,
      },
      features: {
        devInteractions: { enabled: false },
        pushedAuthorizationRequests: { enabled: false },
        dPoP: { enabled: false },
        introspection: { enabled: false },
        userinfo: { enabled: false },
        rpInitiatedLogout: { enabled: false },
        revocation: { enabled: true },
        registration: {
          enabled: oauth.dynamicRegistration !== 'off',
          initialAccessToken: oauth.dynamicRegistration === 'token' ? (oauth.dcrInitialAccessToken ?? false) : false,
        },
        clientIdMetadataDocument: {
          enabled: true,
          ack: 'draft-02',
          allowClient: async (_ctx: KoaContextWithOIDC, client: ClientLike) => client.redirectUris?.every(redirectUriAllowed) ?? false,
          cacheDuration: { min: 60, max: 86400 },
        },
        resourceIndicators: {
          enabled: true,
          // `resource` is required at the authorization endpoint; at the token endpoint the granted one is used.
          defaultResource: async (ctx: KoaContextWithOIDC) => {
            if (ctx.oidc.route === 'authorization') throw new (lib().errors.InvalidTarget)('the resource parameter is required');
            return undefined;
          },
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: KoaContextWithOIDC, resourceIndicator: string) => {
            const rs = await this.resourceServer(resourceIndicator);
            if (!rs) throw new (lib().errors.InvalidTarget)('resource is not a registered MCP server');
            return {
              scope: rs.acceptedScopes.join(' '),
              audience: rs.resourceUri,
              accessTokenTTL: oauth.accessTokenTtlSeconds,
              accessTokenFormat: 'opaque',
            };
          },
        },
      },
      renderError: async (ctx: KoaContextWithOIDC, out: Record<string, string>) => {
        ctx.type = 'html';
        ctx.body = errorPage(out as Record<string, string>);
      },
    };
    const provider = new (lib().default)(this.issuer, configuration);
    provider.proxy = config.trustProxy !== false;
    provider.use(async (ctx, next) => this.hooks(ctx as KoaContextWithOIDC, next));
    this.listen(provider);
    this.pruneTimer = setInterval(() => void this.models.pruneExpired().catch(() => undefined), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    return provider;
  }

  /** Client ID Metadata Document fetches, audited (fetched, or refused and why): never a document's content. */
  private auditedFetch(inner: (url: string, options: RequestInit) => Promise<Response>) {
    return async (url: string, options: RequestInit): Promise<Response> => {
      const ctx = lib().default.ctx;
      const request = ctx ? contextOf(ctx) : {};
      try {
        const res = await inner(url, options);
        await this.audit.record({
          type: 'oauth.client_document',
          outcome: res.status === 200 ? 'success' : 'failure',
          ...request,
          details: { clientId: url, status: res.status },
        });
        return res;
      } catch (err) {
        const reason = err instanceof Error ? err.message.slice(0, 200) : 'fetch failed';
        await this.audit.record({ type: 'oauth.client_document', outcome: 'failure', ...request, details: { clientId: url, reason } });
        throw err;
      }
    };
  }

  private issuerIsHttps(): boolean {
    return this.issuer.startsWith('https:');
  }

  /** Runs around every provider request: checks before it, our access tokens and metadata after it. */
  private async hooks(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    const path = ctx.path;
    if (path === OAUTH_ROUTES.registration && ctx.method === 'POST') {
      const body = (ctx.req as unknown as { body?: Record<string, unknown> }).body;
      const uris = body?.redirect_uris;
      if (!Array.isArray(uris) || uris.length === 0 || !uris.every(redirectUriAllowed)) {
        await this.audit.record({
          type: 'oauth.client_register',
          outcome: 'failure',
          ...contextOf(ctx),
          details: { reason: 'redirect_uri', clientName: typeof body?.client_name === 'string' ? body.client_name.slice(0, 100) : null },
        });
        ctx.status = 400;
        ctx.body = {
          error: 'invalid_redirect_uri',
          error_description: 'redirect_uris must be https URLs or loopback http URLs (RFC 8252)',
        };
        return;
      }
      // A client's `scope` metadata (the MCP SDK sends the scopes of the 401's challenge) would be checked
      // against the provider's static (OpenID) scopes: the catalogue's are resource scopes, bounded per MCP server
      // at consent time, so the client's own list is not kept.
      if (body && 'scope' in body) delete body.scope;
      // Loopback redirect URIs match on any port (RFC 8252 §7.3): the provider does so for native clients.
      if (body && uris.every((u) => isLoopbackRedirect(u as string)) && body.application_type === undefined)
        body.application_type = 'native';
    }
    if (path === OAUTH_ROUTES.revocation && ctx.method === 'POST') {
      if (await this.revokeOurToken(ctx)) return;
    }
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
      const doc = ctx.body as Record<string, unknown>;
      doc.scopes_supported = [...SCOPE_NAMES];
      doc.response_types_supported = ['code'];
      doc.code_challenge_methods_supported = ['S256'];
      doc.grant_types_supported = ['authorization_code', 'refresh_token'];
      doc.introspection_endpoint = `${this.issuer}${INTROSPECTION_ROUTE}`;
      doc.client_id_metadata_document_supported = true;
      doc.authorization_response_iss_parameter_supported = true;
      if (this.config.oauth.dynamicRegistration === 'off') delete doc.registration_endpoint;
    }
    if (ctx.oidc?.route === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      await this.issueAccessToken(ctx, ctx.body as Record<string, unknown>);
    }
  }

  /**
   * The token endpoint's answer, once the provider has checked the grant: its access token is
   * replaced by a HospiAI API token (a row: owner = the consenting user, name = the client's name,
   * the granted scopes, audience = the resource, via the client, tagged with the grant), signed by
   * our TokenCodec so that validate and introspection accept it as any other.
   */
  private async issueAccessToken(ctx: KoaContextWithOIDC, body: Record<string, unknown>): Promise<void> {
    const at = ctx.oidc.entities.AccessToken as unknown as
      | { accountId: string; grantId: string; scopes: Set<string>; resourceServer?: { audience?: string; identifier?: () => string } }
      | undefined;
    const client = ctx.oidc.client;
    if (!at || !client) return;
    const grantType = String(ctx.oidc.params?.grant_type ?? '');
    const scopes = [...at.scopes].filter(isScope);
    const audience = at.resourceServer?.audience;
    if (!audience || scopes.length === 0) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_scope', error_description: 'no scope of the catalogue was granted for this resource' };
      return;
    }
    const clientName = (client.clientName ?? client.clientId).slice(0, 100);
    const lifetimeSeconds = this.config.oauth.accessTokenTtlSeconds;
    const request = contextOf(ctx);
    let issued: Awaited<ReturnType<TokensService['issueWithin']>>;
    try {
      issued = await this.issueWithin(at, client, clientName, scopes, audience, grantType, request);
    } catch (err) {
      // The account was disabled, or the MCP server retired or its accepted scopes changed, since the consent.
      if (!(err instanceof AppError)) throw err;
      ctx.status = 400;
      ctx.body = { error: 'invalid_grant', error_description: 'the grant can no longer be honoured' };
      return;
    }
    body.access_token = issued.token;
    body.expires_in = lifetimeSeconds;
    body.scope = scopes.join(' ');
  }

  private issueWithin(
    at: { accountId: string; grantId: string },
    client: ClientLike,
    clientName: string,
    scopes: Scope[],
    audience: string,
    grantType: string,
    request: RequestContext,
  ) {
    const lifetimeSeconds = this.config.oauth.accessTokenTtlSeconds;
    return this.dataSource.transaction(async (m) => {
      const out = await this.tokens.issueWithin(
        m,
        {
          userId: at.accountId,
          name: clientName,
          scopes,
          lifetimeSeconds,
          audience,
          viaClient: { clientId: client.clientId, name: clientName },
        },
        request,
      );
      await this.models.tagToken(out.id, at.grantId, m);
      await this.audit.recordWithin(m, {
        type: grantType === 'refresh_token' ? 'oauth.refresh' : 'oauth.code_exchange',
        outcome: 'success',
        actorUserId: at.accountId,
        tokenId: out.id,
        ...request,
        details: { clientId: client.clientId, clientName, resource: audience, scopes, grantId: at.grantId },
      });
      return out;
    });
  }

  /**
   * RFC 7009 for our access tokens: a HospiAI token issued to the calling client is revoked (its row);
   * anything else goes on to the provider (refresh tokens). Answers whether it was handled.
   */
  private async revokeOurToken(ctx: KoaContextWithOIDC): Promise<boolean> {
    const body = (ctx.req as unknown as { body?: Record<string, unknown> }).body;
    const token = body?.token;
    if (typeof token !== 'string' || token.split('.').length !== 3) return false;
    const verified = this.codec.verify(token);
    const request = contextOf(ctx);
    if (!verified.ok && verified.outcome === 'invalid') {
      ctx.status = 200;
      ctx.body = '';
      return true;
    }
    const claims = verified.ok ? verified.claims : verified.claims;
    const clientId = typeof body?.client_id === 'string' ? body.client_id : undefined;
    const row = await this.models.grantOfToken(claims.jti);
    if (!row || !row.grantId) {
      ctx.status = 200;
      ctx.body = '';
      return true;
    }
    const grant = await this.models.grant(row.grantId);
    // A client revokes only the tokens issued to it (RFC 7009 §2.1); anything else is answered 200 and left alone.
    if (!grant || (clientId !== undefined && grant.payload.clientId !== clientId)) {
      ctx.status = 200;
      ctx.body = '';
      return true;
    }
    const event = await this.dataSource.transaction(async (m) => {
      const revoked = await this.models.revokeTokensOf([claims.jti], m);
      const published = revoked.length > 0 ? await this.revocations.publish(m, 'token', claims.jti) : undefined;
      await this.audit.recordWithin(m, {
        type: 'oauth.revoke',
        outcome: published ? 'success' : 'already_revoked',
        actorUserId: row.userId,
        tokenId: claims.jti,
        ...request,
        details: { clientId: grant.payload.clientId, tokenType: 'access_token' },
      });
      return published;
    });
    if (event) await this.revocations.settled(event);
    ctx.status = 200;
    ctx.body = '';
    return true;
  }

  /**
   * The provider revokes a grant: a refresh token used twice (the whole family goes, OAuth 2.1
   * §4.3.1, a security event) or a refresh token revoked by its client (RFC 7009). Its access tokens
   * (our rows) are revoked in the same step, before the provider answers.
   */
  private async grantRevokedByProvider(grantId: string): Promise<void> {
    const ctx = lib().default.ctx as KoaContextWithOIDC | undefined;
    const replay = ctx?.oidc?.route === 'token';
    const grant = await this.models.grant(grantId);
    await this.revokeGrantTokens(grantId, ctx ? contextOf(ctx) : undefined, (m, revoked) =>
      this.audit.recordWithin(m, {
        type: replay ? 'oauth.refresh_replay' : 'oauth.revoke',
        outcome: replay ? 'failure' : 'success',
        actorUserId: (grant?.payload.accountId as string | undefined) ?? null,
        ...(ctx ? contextOf(ctx) : {}),
        details: {
          grantId,
          clientId: grant?.payload.clientId ?? null,
          revokedTokens: revoked.length,
          ...(replay
            ? { reason: 'refresh token used twice: the grant and all its tokens are revoked', security: true }
            : { tokenType: 'refresh_token' }),
        },
      }),
    );
  }

  /** Revokes a grant's access tokens, publishing each revocation, with `audit` in the same transaction. */
  async revokeGrantTokens(
    grantId: string,
    _request: RequestContext | undefined,
    audit: (m: EntityManager, revoked: string[]) => Promise<void>,
  ): Promise<void> {
    const events = await this.dataSource.transaction(async (m) => {
      const revoked = await this.models.revokeTokensOfGrant(grantId, m);
      const published = [];
      for (const id of revoked) published.push(await this.revocations.publish(m, 'token', id));
      await audit(m, revoked);
      return published;
    });
    for (const e of events) await this.revocations.settled(e);
  }

  /** Audit events for what the provider does on its own. */
  private listen(provider: Provider): void {
    const record = (ctx: KoaContextWithOIDC, input: Omit<Parameters<AuditWriter['record']>[0], 'ip' | 'userAgent' | 'requestId'>) =>
      void this.audit.record({ ...input, ...contextOf(ctx) }).catch((err: unknown) => this.logger.error(err));
    provider.on('authorization.accepted', (ctx: KoaContextWithOIDC) =>
      record(ctx, {
        type: 'oauth.authorize',
        outcome: 'success',
        details: {
          clientId: ctx.oidc.client?.clientId ?? null,
          resource: ctx.oidc.params?.resource ?? null,
          scope: ctx.oidc.params?.scope ?? null,
        },
      }),
    );
    provider.on('authorization.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string }) =>
      record(ctx, {
        type: 'oauth.authorize',
        outcome: 'failure',
        details: {
          clientId: ctx.oidc?.client?.clientId ?? ctx.oidc?.params?.client_id ?? null,
          error: err.error ?? 'server_error',
          description: err.error_description ?? null,
        },
      }),
    );
    provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string }) =>
      record(ctx, {
        type: ctx.oidc?.params?.grant_type === 'refresh_token' ? 'oauth.refresh' : 'oauth.code_exchange',
        outcome: 'failure',
        details: {
          clientId: ctx.oidc?.client?.clientId ?? null,
          error: err.error ?? 'server_error',
          description: err.error_description ?? null,
        },
      }),
    );
    provider.on(
      'registration_create.success',
      (ctx: KoaContextWithOIDC, client: { clientId: string; clientName?: string; redirectUris?: string[] }) =>
        record(ctx, {
          type: 'oauth.client_register',
          outcome: 'success',
          details: { clientId: client.clientId, clientName: client.clientName ?? null, redirectUris: client.redirectUris ?? [] },
        }),
    );
    provider.on('registration_create.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string }) =>
      record(ctx, {
        type: 'oauth.client_register',
        outcome: 'failure',
        details: { error: err.error ?? 'server_error', description: err.error_description ?? null },
      }),
    );
    provider.on('revocation.error', (ctx: KoaContextWithOIDC, err: { error?: string }) =>
      record(ctx, { type: 'oauth.revoke', outcome: 'failure', details: { error: err.error ?? 'server_error' } }),
    );
    provider.on('server_error', (_ctx: unknown, err: unknown) => this.logger.error(err));
  }
}

/**
 * oidc-provider's prompts, but a native (loopback) client is not asked for consent on every
 * authorization: the consent is remembered per user, client, resource and scopes, for every client.
 */
function consentPolicy(): unknown {
  const policy = lib().interactionPolicy.base();
  policy.get('consent')?.checks.remove('native_client_prompt');
  return policy;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The provider's error page (no redirect possible: unknown client, bad redirect URI…), in French. */
export function errorPage(out: Record<string, string>): string {
  return `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Erreur d'autorisation — HospiAI</title>
<link rel="stylesheet" href="/dashboard/dashboard.css"></head><body><main class="oauth">
<h1>L'autorisation n'a pas pu aboutir</h1><p>L'application qui vous a envoyé ici a fait une demande invalide.</p>
<p><code>${escapeHtml(String(out.error ?? 'server_error'))}</code> ${escapeHtml(String(out.error_description ?? ''))}</p></main></body></html>`;
}

import { Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isScope, type Scope } from '../../libs/scopes/src/index.js';
import { AuditWriter } from '../audit/audit.writer.js';
import { AuthService } from '../auth/auth.service.js';
import { AppError } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { refusedScopes } from '../tokens/token-scopes.js';
import { UsersRepository } from '../users/users.repository.js';
import { renderConsentPage } from './consent-page.js';
import { page, pageCsp } from './html.js';
import { renderLoginPage } from './login-page.js';
import { OAuthProviderService, type ResourceServerInfo } from './oauth-provider.service.js';

type Details = Awaited<ReturnType<OAuthProviderService['provider']['interactionDetails']>>;

function originOf(uri: unknown): string | undefined {
  if (typeof uri !== 'string') return undefined;
  const u = URL.parse(uri);
  return u ? u.origin : undefined;
}

function scopesOf(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter((s) => s !== '') : [];
}

/** What the consent page offers: the scopes asked that the person's role may hold and the MCP server accepts. */
export function grantableScopes(asked: readonly string[], role: Parameters<typeof refusedScopes>[0], rs: ResourceServerInfo): { grantable: Scope[]; refused: string[] } {
  const known = [...new Set(asked)].filter(isScope);
  const byRole = new Set(refusedScopes(role, known));
  const accepted = new Set(rs.acceptedScopes);
  const grantable = known.filter((s) => !byRole.has(s) && accepted.has(s));
  const refused = [...new Set(asked)].filter((s) => !grantable.includes(s as Scope) && s !== 'openid' && s !== 'offline_access');
  return { grantable, refused };
}

/** The login and consent steps of an authorization, on oidc-provider's interactions. */
@Injectable()
export class InteractionService {
  private readonly logger = new Logger('OAuthInteraction');

  constructor(
    private readonly oauth: OAuthProviderService,
    private readonly auth: AuthService,
    private readonly users: UsersRepository,
    private readonly audit: AuditWriter,
  ) {}

  private async details(req: FastifyRequest, reply: FastifyReply): Promise<Details | undefined> {
    try {
      return await this.oauth.provider.interactionDetails(req.raw, reply.raw);
    } catch {
      return undefined;
    }
  }

  private send(reply: FastifyReply, status: number, html: string, redirectUri?: unknown): void {
    void reply
      .status(status)
      .header('Content-Type', 'text/html; charset=utf-8')
      .header('Cache-Control', 'no-store')
      .header('Content-Security-Policy', pageCsp(originOf(redirectUri)))
      .send(html);
  }

  private expired(reply: FastifyReply): void {
    this.send(
      reply,
      400,
      page(
        'Demande expirée',
        `    <h1>Cette demande d’autorisation a expiré</h1>
    <p>Retournez dans votre application et recommencez la connexion.</p>`,
      ),
    );
  }

  private clientName(details: Details): Promise<string> {
    return this.oauth.provider.Client.find(String(details.params.client_id)).then(
      (c) => c?.clientName ?? String(details.params.client_id),
      () => String(details.params.client_id),
    );
  }

  /** Ends the interaction with `result`: the provider answers with a redirect (the reply is hijacked). */
  private async finish(req: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>, merge: boolean): Promise<void> {
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) reply.raw.setHeader(name, value as string | string[]);
    }
    reply.hijack();
    await this.oauth.provider.interactionFinished(req.raw, reply.raw, result as never, { mergeWithLastSubmission: merge });
  }

  async show(uid: string, req: FastifyRequest, reply: FastifyReply, sessionJwt: string | undefined, ctx: RequestContext): Promise<void> {
    const details = await this.details(req, reply);
    if (!details || details.uid !== uid) return this.expired(reply);
    if (details.prompt.name === 'login') {
      // A dashboard session is reused: the person is already signed in.
      const user = sessionJwt ? await this.auth.sessionUser(sessionJwt) : undefined;
      if (user) {
        await this.audit.record({ type: 'auth.login', outcome: 'success', actorUserId: user.id, ...ctx, details: { email: user.email, via: 'oauth_session_reuse' } });
        return this.finish(req, reply, { login: { accountId: user.id } }, false);
      }
      return this.send(reply, 200, renderLoginPage({ uid, clientName: await this.clientName(details) }), details.params.redirect_uri);
    }
    return this.showConsent(uid, details, reply);
  }

  private async consentView(details: Details) {
    const accountId = details.session?.accountId;
    const user = accountId ? await this.users.findById(accountId) : null;
    const resource = String(details.params.resource ?? '');
    const rs = await this.oauth.resourceServer(resource);
    if (!user || user.disabledAt || !rs) return undefined;
    const asked = scopesOf(details.params.scope);
    return { user, rs, resource, asked, ...grantableScopes(asked, user.role, rs) };
  }

  private async showConsent(uid: string, details: Details, reply: FastifyReply): Promise<void> {
    const view = await this.consentView(details);
    if (!view) return this.expired(reply);
    const redirectUri = String(details.params.redirect_uri ?? '');
    this.send(
      reply,
      200,
      renderConsentPage({
        uid,
        clientName: await this.clientName(details),
        clientId: String(details.params.client_id),
        redirectHost: URL.parse(redirectUri)?.host ?? redirectUri,
        serverName: view.rs.name,
        resource: view.resource,
        grantable: view.grantable,
        refused: view.refused,
        userEmail: view.user.email,
      }),
      redirectUri,
    );
  }

  async login(uid: string, req: FastifyRequest, reply: FastifyReply, email: string, password: string, ctx: RequestContext): Promise<void> {
    const details = await this.details(req, reply);
    if (!details || details.uid !== uid || details.prompt.name !== 'login') return this.expired(reply);
    try {
      const { user } = await this.auth.login(email.trim().toLowerCase(), password, ctx);
      return this.finish(req, reply, { login: { accountId: user.id } }, false);
    } catch (err) {
      const status = err instanceof AppError ? err.status : 500;
      if (!(err instanceof AppError)) this.logger.error(err);
      const message =
        status === 429
          ? 'Trop de tentatives de connexion : réessayez dans quelques minutes.'
          : status === 401
            ? 'Adresse e-mail ou mot de passe incorrect.'
            : 'La connexion a échoué : réessayez.';
      const safeEmail = email.length <= 254 && /^[^\s@]+@[^\s@]+$/.test(email) ? email : '';
      return this.send(
        reply,
        status === 429 ? 429 : status === 401 ? 401 : 503,
        renderLoginPage({ uid, clientName: await this.clientName(details), email: safeEmail, error: message }),
        details.params.redirect_uri,
      );
    }
  }

  async consent(uid: string, req: FastifyRequest, reply: FastifyReply, allow: boolean, ctx: RequestContext): Promise<void> {
    const details = await this.details(req, reply);
    if (!details || details.uid !== uid || details.prompt.name !== 'consent') return this.expired(reply);
    if (!allow) return this.deny(uid, req, reply, ctx, details);
    const view = await this.consentView(details);
    if (!view) return this.expired(reply);
    const clientId = String(details.params.client_id);
    if (view.grantable.length === 0) return this.deny(uid, req, reply, ctx, details);
    const { Grant } = this.oauth.provider;
    const grant = (details.grantId ? await Grant.find(details.grantId) : undefined) ?? new Grant({ accountId: view.user.id, clientId });
    const missing = (details.prompt.details.missingOIDCScope as string[] | undefined) ?? [];
    if (missing.length > 0) grant.addOIDCScope(missing.join(' '));
    grant.addResourceScope(view.resource, view.grantable.join(' '));
    const refused = view.asked.filter((s) => isScope(s) && !view.grantable.includes(s));
    // Asked but not grantable: rejected, so that the consent is not asked again for them.
    if (refused.length > 0) grant.rejectResourceScope(view.resource, refused.join(' '));
    const grantId = await grant.save();
    await this.audit.record({
      type: 'oauth.consent',
      outcome: 'success',
      actorUserId: view.user.id,
      ...ctx,
      details: { clientId, resource: view.resource, scopes: view.grantable, refusedScopes: refused, grantId },
    });
    return this.finish(req, reply, { consent: { grantId } }, true);
  }

  /** Refuser (or Annuler on the login page): the client gets `access_denied`. */
  async deny(uid: string, req: FastifyRequest, reply: FastifyReply, ctx: RequestContext, known?: Details): Promise<void> {
    const details = known ?? (await this.details(req, reply));
    if (!details || details.uid !== uid) return this.expired(reply);
    await this.audit.record({
      type: 'oauth.consent',
      outcome: 'failure',
      actorUserId: details.session?.accountId ?? null,
      ...ctx,
      details: { clientId: String(details.params.client_id), resource: details.params.resource ?? null, reason: 'access_denied' },
    });
    return this.finish(req, reply, { error: 'access_denied', error_description: 'the person refused the authorization' }, false);
  }
}


import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as oidc from 'openid-client';
import type { DataSource } from 'typeorm';
import { AuditWriter } from '../audit/audit.writer.js';
import type { AuditInput } from '../audit/audit.types.js';
import { AuthService } from '../auth/auth.service.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import type { AppConfig, OidcProviderConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { isUniqueViolation } from '../database/db-errors.js';
import type { User } from '../users/user.entity.js';
import { UsersRepository } from '../users/users.repository.js';
import { LastAdminError, UsersService } from '../users/users.service.js';
import {
  admit,
  claimText,
  namesOf,
  POLICY_REFUSALS,
  REFUSAL_MESSAGES,
  trustedForEmail,
  type Admission,
  type Claims,
  type RefusalReason,
} from './claims.js';
import { IdentitiesRepository, type UserIdentity } from './identities.repository.js';
import { TRANSACTION_TTL_SECONDS, TransactionSealer, type LoginTransaction } from './login-transaction.js';
import { OidcClients } from './oidc-clients.js';

/**
 * The password hash of an account created by single sign-on: not an Argon2 hash, so no password
 * ever verifies against it (PasswordHasher.verify gives false); sessions are still bound to it
 * and to the session epoch, as every session is.
 */
export const SSO_PASSWORD_HASH = '!sso-only';

export const PROVIDER_NOT_FOUND = 'Identity provider not found';
export const SSO_REFUSED = 'sso_refused';
export const SSO_FAILED = 'sso_failed';
export const INVALID_LOGOUT_TOKEN = 'invalid_logout_token';
export const INVALID_LOGOUT_TOKEN_MESSAGE = 'Jeton de déconnexion invalide';

/** A refused SSO login: 403 `sso_refused` (the provider's or the account's decision) or 400 `sso_failed` (the protocol), French message. */
export class SsoRefusal extends AppError {
  constructor(readonly reason: RefusalReason) {
    super(POLICY_REFUSALS.has(reason) ? 403 : 400, POLICY_REFUSALS.has(reason) ? SSO_REFUSED : SSO_FAILED, REFUSAL_MESSAGES[reason], {
      reason,
    });
  }
}

/** Where a dashboard login may land: a dashboard page, never another site. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/dashboard\/[a-z]+(\?[^\s]*)?$/.test(next) && !next.startsWith('/dashboard/login')
    ? next
    : '/dashboard/tokens';
}

/** An error's message, short and on one line, for an audit event (never a token: the libraries' messages name claims, not values). */
function reasonText(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  const text = `${typeof e.code === 'string' ? `${e.code}: ` : ''}${typeof e.message === 'string' ? e.message : 'error'}`;
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ').slice(0, 200);
}

/** A network failure reaching the provider (as opposed to an answer openid-client refused). */
function isUnreachable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; cause?: unknown };
  return e.name === 'TypeError' || e.code === 'OAUTH_TIMEOUT' || e.name === 'AbortError' || e.name === 'TimeoutError';
}

export interface SsoLogin {
  user: User;
  accessToken: string;
  expiresIn: number;
}

/**
 * Staff single sign-on with OpenID Connect (docs/sso.md): the login at a provider, the account it
 * maps to (by issuer and subject, never by email alone), the role its claim gives, and the
 * provider's logouts.
 */
@Injectable()
export class SsoService {
  private readonly logger = new Logger(SsoService.name);
  private readonly sealer: TransactionSealer;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clients: OidcClients,
    private readonly identities: IdentitiesRepository,
    private readonly users: UsersService,
    private readonly usersRepository: UsersRepository,
    private readonly auth: AuthService,
    private readonly audit: AuditWriter,
  ) {
    this.sealer = new TransactionSealer(config.jwt.secret);
  }

  provider(id: string): OidcProviderConfig {
    const p = this.clients.provider(id);
    if (!p) throw AppError.notFound('Identity provider');
    return p;
  }

  redirectUri(p: OidcProviderConfig, requestOrigin: string): string {
    return `${this.config.sso.redirectBaseUrl ?? requestOrigin}/api/auth/oidc/${p.id}/callback`;
  }

  postLogoutUri(requestOrigin: string): string {
    return `${this.config.sso.redirectBaseUrl ?? requestOrigin}/dashboard/login?raison=logout`;
  }

  /** The provider's authorization URL, and the sealed transaction for the cookie. */
  async start(p: OidcProviderConfig, requestOrigin: string, next: string): Promise<{ url: string; sealed: string }> {
    const t: LoginTransaction = {
      p: p.id,
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
      next,
      exp: Math.floor(Date.now() / 1000) + TRANSACTION_TTL_SECONDS,
    };
    let url: URL;
    try {
      url = await this.clients.authorizationUrl(p, this.redirectUri(p, requestOrigin), t);
    } catch {
      throw new AppError(503, ErrorCode.ServiceUnavailable, 'Service indisponible', {}, { 'Retry-After': '30' });
    }
    return { url: url.href, sealed: this.sealer.seal(t) };
  }

  /** The transaction of the cookie, for the callback (undefined when missing, expired, or not this provider's). */
  transactionOf(p: OidcProviderConfig, sealed: string | undefined): LoginTransaction | undefined {
    const t = this.sealer.open(sealed);
    return t && t.p === p.id ? t : undefined;
  }

  private async refuse(
    p: OidcProviderConfig,
    reason: RefusalReason,
    ctx: RequestContext,
    details: Record<string, unknown> = {},
  ): Promise<SsoRefusal> {
    await this.audit.record({
      type: 'auth.login',
      outcome: 'failure',
      ...ctx,
      details: { method: 'oidc', provider: p.id, reason, ...details },
    });
    return new SsoRefusal(reason);
  }

  /**
   * The provider's answer: the code exchanged and the ID token validated by openid-client, the
   * claims checked (domain, group, role), the account found or created, its role applied, a
   * session opened. Every refusal is audited with its reason and thrown as an SsoRefusal.
   */
  async callback(
    p: OidcProviderConfig,
    t: LoginTransaction | undefined,
    currentUrl: URL,
    requestOrigin: string,
    ctx: RequestContext,
  ): Promise<SsoLogin> {
    const providerError = currentUrl.searchParams.get('error');
    if (!t) throw await this.refuse(p, 'expired', ctx, providerError ? { providerError: providerError.slice(0, 64) } : {});
    if (providerError !== null) {
      // openid-client would refuse it too; the provider's error code (access_denied…) is worth keeping.
      throw await this.refuse(p, 'provider_error', ctx, { providerError: providerError.replace(/[^\x21-\x7e]/g, '').slice(0, 64) });
    }
    let claims: Claims;
    let idTokenClaims: Claims;
    try {
      ({ claims, idTokenClaims } = await this.clients.exchange(p, currentUrl, this.redirectUri(p, requestOrigin), t));
    } catch (err) {
      if (isUnreachable(err)) {
        this.logger.warn(`OIDC provider ${p.id} unreachable: ${reasonText(err)}`);
        throw new AppError(503, ErrorCode.ServiceUnavailable, 'Service indisponible', {}, { 'Retry-After': '30' });
      }
      throw await this.refuse(p, 'invalid_response', ctx, { error: reasonText(err) });
    }
    const issuer = String(idTokenClaims.iss);
    const subject = String(idTokenClaims.sub);
    const who = { issuer, subject };
    const admission = admit(p, claims);
    if ('refused' in admission) {
      const email = typeof claims.email === 'string' ? claims.email.slice(0, 254) : undefined;
      throw await this.refuse(p, admission.refused, ctx, { ...who, ...(email ? { email } : {}) });
    }
    const sid = typeof idTokenClaims.sid === 'string' ? idTokenClaims.sid.slice(0, 255) : null;
    const user = await this.account(p, who, claims, admission, sid, ctx);
    const found = await this.users.findActiveByIdWithPassword(user.id);
    if (!found) throw await this.refuse(p, 'disabled', ctx, { ...who, email: user.email });
    await this.audit.record({
      type: 'auth.login',
      outcome: 'success',
      actorUserId: found.id,
      ...ctx,
      details: { method: 'oidc', provider: p.id, email: found.email, ...who, role: found.role },
    });
    return { user: found, ...this.auth.issueSession(found) };
  }

  /** The account of this identity: found by (issuer, subject), else linked or created; its role set from the claim. */
  private async account(
    p: OidcProviderConfig,
    who: { issuer: string; subject: string },
    claims: Claims,
    admission: Admission,
    sid: string | null,
    ctx: RequestContext,
  ): Promise<User> {
    const professionalId = claimText(claims, p.professionalIdClaim) ?? null;
    const base = { provider: p.id, ...who };
    let identity = await this.identities.find(who.issuer, who.subject);
    if (!identity) {
      const existing = await this.users.findByEmailWithPassword(admission.email);
      try {
        if (existing) {
          // An email claim alone never takes over an account: only a provider trusted for the domain may.
          if (!trustedForEmail(p, claims, admission.email))
            throw await this.refuse(p, 'email_in_use', ctx, { ...who, email: admission.email });
          identity = await this.dataSource.transaction(async (m) => {
            const linked = await this.identities.insert(
              { userId: existing.id, ...base, professionalId, linkedBy: null, sessionId: sid, loggedIn: false },
              m,
            );
            await this.audit.recordWithin(m, {
              type: 'user.update',
              outcome: 'success',
              actorUserId: existing.id,
              ...ctx,
              details: { targetUserId: existing.id, changed: ['identity'], source: 'oidc', ...base, linkedBy: 'trusted_email_domain' },
            });
            return linked;
          });
        } else {
          identity = await this.create(p, base, claims, admission, professionalId, sid, ctx);
        }
      } catch (err) {
        // The same person logging in twice at once: the other login created the account or the identity.
        if (!isUniqueViolation(err)) throw err;
        identity = await this.identities.find(who.issuer, who.subject);
        if (!identity) throw await this.refuse(p, 'email_in_use', ctx, { ...who, email: admission.email });
      }
    }
    const user = await this.users.findById(identity.userId);
    if (!user || user.disabledAt !== null) throw await this.refuse(p, 'disabled', ctx, { ...who, ...(user ? { email: user.email } : {}) });
    // A provider without a role map (Pro Santé Connect) says who people are, not what they may do: the
    // role it gives applies at the account's creation only, and admins manage it in HospiAI afterwards.
    if (Object.keys(p.roleMap).length > 0 && user.role !== admission.role) {
      try {
        await this.users.applyProvidedRole(user.id, admission.role, { provider: p.id, claim: p.roleClaim, previousRole: user.role }, ctx);
      } catch (err) {
        if (err instanceof LastAdminError) throw await this.refuse(p, 'last_admin', ctx, { ...who, email: user.email });
        throw err;
      }
    }
    await this.identities.recordLogin(identity.id, sid, professionalId);
    return user;
  }

  /** Just-in-time creation: the account (role from the claim, names and email from the claims, no password) and its identity, with its event. */
  private async create(
    p: OidcProviderConfig,
    base: { provider: string; issuer: string; subject: string },
    claims: Claims,
    admission: Admission,
    professionalId: string | null,
    sid: string | null,
    ctx: RequestContext,
  ): Promise<UserIdentity> {
    const names = namesOf(claims, admission.email);
    return this.dataSource.transaction(async (m) => {
      const user = await this.usersRepository.insert(
        {
          email: admission.email,
          passwordHash: SSO_PASSWORD_HASH,
          ...names,
          phoneNumber: null,
          role: admission.role,
          profileCompletedAt: null,
          disabledAt: null,
        },
        m,
      );
      const identity = await this.identities.insert(
        { userId: user.id, ...base, professionalId, linkedBy: null, sessionId: sid, loggedIn: false },
        m,
      );
      await this.audit.recordWithin(m, {
        type: 'auth.register',
        outcome: 'success',
        actorUserId: user.id,
        ...ctx,
        details: { email: user.email, source: 'oidc', ...base, role: user.role, ...(professionalId ? { professionalId } : {}) },
      });
      return identity;
    });
  }

  /** RP-initiated logout: the provider's end-session URL, where the browser goes next (undefined: the provider has none). */
  async endSessionUrl(p: OidcProviderConfig, requestOrigin: string, userId: string, ctx: RequestContext): Promise<string | undefined> {
    let url: string | undefined;
    try {
      url = await this.clients.endSessionUrl(p, this.postLogoutUri(requestOrigin));
    } catch {
      throw new AppError(503, ErrorCode.ServiceUnavailable, 'Service indisponible', {}, { 'Retry-After': '30' });
    }
    await this.audit.record({
      type: 'auth.logout',
      outcome: 'success',
      actorUserId: userId,
      ...ctx,
      details: { method: 'oidc', provider: p.id, kind: 'rp_initiated' },
    });
    return url;
  }

  /**
   * Back-channel logout: the logout token verified (OidcClients.verifyLogoutToken), then every
   * session of the accounts it names ends (their session epoch moves, as a disable's does). Audited
   * as `auth.logout`, refused ones too.
   */
  async backchannelLogout(p: OidcProviderConfig, logoutToken: unknown, ctx: RequestContext): Promise<void> {
    if (typeof logoutToken !== 'string' || logoutToken === '' || logoutToken.length > 16384) {
      await this.audit.record({
        type: 'auth.logout',
        outcome: 'failure',
        ...ctx,
        details: { method: 'oidc_backchannel', provider: p.id, reason: 'missing_logout_token' },
      });
      throw new AppError(400, INVALID_LOGOUT_TOKEN, INVALID_LOGOUT_TOKEN_MESSAGE);
    }
    let token;
    try {
      token = await this.clients.verifyLogoutToken(p, logoutToken);
    } catch (err) {
      await this.audit.record({
        type: 'auth.logout',
        outcome: 'failure',
        ...ctx,
        details: { method: 'oidc_backchannel', provider: p.id, reason: 'invalid_logout_token', error: reasonText(err) },
      });
      throw new AppError(400, INVALID_LOGOUT_TOKEN, INVALID_LOGOUT_TOKEN_MESSAGE);
    }
    const userIds = await this.identities.usersOf(token.issuer, token.sub, token.sid);
    const details = {
      method: 'oidc_backchannel',
      provider: p.id,
      issuer: token.issuer,
      ...(token.sub ? { subject: token.sub } : {}),
      ...(token.sid ? { sid: token.sid } : {}),
    };
    if (userIds.length === 0) {
      await this.audit.record({ type: 'auth.logout', outcome: 'success', ...ctx, details: { ...details, accounts: 0 } });
      return;
    }
    for (const id of userIds) {
      await this.users.endSessions(id, (user): AuditInput => ({
        type: 'auth.logout',
        outcome: 'success',
        actorUserId: user.id,
        ...ctx,
        details: { ...details, targetUserId: user.id, changed: ['sessions'] },
      }));
    }
  }

  /** The identities of an account (auditors and admins). */
  identitiesOf(userId: string): Promise<UserIdentity[]> {
    return this.identities.forUser(userId);
  }

  /**
   * An admin links an existing account to an identity at a provider (its subject): that person's
   * next login there opens this account, whatever the email claim says.
   */
  async link(actorId: string, userId: string, p: OidcProviderConfig, subject: string, ctx: RequestContext): Promise<UserIdentity> {
    let issuer: string;
    try {
      issuer = (await this.clients.configuration(p)).serverMetadata().issuer;
    } catch {
      throw new AppError(503, ErrorCode.ServiceUnavailable, 'Service indisponible', {}, { 'Retry-After': '30' });
    }
    try {
      return await this.dataSource.transaction(async (m) => {
        const user = await this.usersRepository.lockById(userId, m);
        if (!user) throw AppError.notFound('User');
        const identity = await this.identities.insert(
          { userId: user.id, provider: p.id, issuer, subject, professionalId: null, linkedBy: actorId, loggedIn: false },
          m,
        );
        await this.audit.recordWithin(m, {
          type: 'user.update',
          outcome: 'success',
          actorUserId: actorId,
          ...ctx,
          details: { targetUserId: user.id, changed: ['identity'], source: 'admin', provider: p.id, issuer, subject },
        });
        return identity;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(409, 'identity_taken', 'This identity is already linked to an account');
      throw err;
    }
  }
}

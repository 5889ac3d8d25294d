import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { AuditWriter } from '../audit/audit.writer.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import type { User } from '../users/user.entity.js';
import { UsersService } from '../users/users.service.js';
import { LoginLockout, type LoginOutcome } from '../rate-limit/login-lockout.js';
import { tooManyRequests } from '../rate-limit/too-many-requests.js';
import { isWellFormedEmail, type RegisterDto } from './auth.dto.js';
import { KeyRing } from './key-ring.js';
import { PasswordHasher } from './password-hasher.js';
import { jwtHeaderOf } from '../access/bearer.js';
import { credentialsTag, SESSION_AUDIENCE, SESSION_CREDENTIALS_CLAIM, SESSION_JWT_TYPE, SESSION_TOKEN_USE } from './session.strategy.js';

export const INVALID_CREDENTIALS = 'Email or password is incorrect';
/** SSO_ONLY=true: the answer to a password login of anyone but the break-glass admin. */
export const SSO_ONLY_MESSAGE = 'Connexion par mot de passe désactivée : connectez-vous avec le fournisseur d’identité de votre établissement.';

/**
 * The email of a failed login, as its audit event holds it. What was typed in the email field is
 * kept only if it is an email address: people type their password there, and no event may hold a
 * password. Anything else is recorded as `emailMalformed: true` and no text of it at all (not even
 * a hash: a password's hash could be tested offline against guesses).
 */
function loginEmail(email: string): { email: string } | { emailMalformed: true } {
  return isWellFormedEmail(email) ? { email } : { emailMalformed: true };
}

@Injectable()
export class AuthService {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    private readonly keys: KeyRing,
    private readonly audit: AuditWriter,
    private readonly lockout: LoginLockout,
  ) {}

  async register(dto: RegisterDto, ctx: RequestContext): Promise<User> {
    if (!this.config.allowRegistration || this.config.sso.ssoOnly) {
      throw new AppError(403, ErrorCode.RegistrationClosed, 'Registration is closed: ask an administrator for an account');
    }
    let user: User;
    try {
      user = await this.users.create(
        {
          email: dto.email,
          passwordHash: await this.hasher.hash(dto.password),
          firstname: dto.firstname,
          surname: dto.surname,
          phoneNumber: dto.phoneNumber ?? null,
        },
        (created) => ({ type: 'auth.register', outcome: 'success', actorUserId: created.id, ...ctx, details: { email: created.email } }),
      );
    } catch (err) {
      if (err instanceof AppError && err.code === ErrorCode.EmailTaken) {
        await this.audit.record({ type: 'auth.register', outcome: 'failure', ...ctx, details: { email: dto.email, reason: 'email_taken' } });
      }
      throw err;
    }
    return user;
  }

  /**
   * Checks credentials. Unknown email, wrong password and disabled account
   * give the same error, after the same Argon2 work.
   */
  async login(email: string, password: string, ctx: RequestContext): Promise<{ user: User; accessToken: string; expiresIn: number }> {
    if (this.config.sso.ssoOnly && email.normalize('NFC') !== this.config.admin?.email) {
      // Refused before any password check: with SSO_ONLY, only the break-glass admin (ADMIN_EMAIL) has a password.
      await this.audit.record({ type: 'auth.login', outcome: 'failure', ...ctx, details: { ...loginEmail(email), method: 'password', reason: 'sso_only' } });
      throw new AppError(403, ErrorCode.SsoOnly, SSO_ONLY_MESSAGE);
    }
    const admission = this.lockout.begin(email, ctx.ip);
    if (admission.refusedFor > 0) {
      // Refused without looking at the password: guesses during a lockout teach nothing and do not extend it.
      const reason = admission.reason ?? 'locked_out';
      await this.audit.record({ type: 'auth.login', outcome: 'failure', ...ctx, details: { ...loginEmail(email), reason } });
      throw tooManyRequests(admission.refusedFor, 'Too many failed logins: try again later');
    }
    let outcome: LoginOutcome = 'error';
    try {
      // The account's budget of checks is spent: this address has not failed on it, so it waits its turn rather than being refused.
      if (admission.waitMs > 0) await sleep(admission.waitMs);
      const found = await this.users.findByEmailWithPassword(email);
      const ok = await this.hasher.verify(found?.passwordHash, password);
      const failure = !found ? 'unknown_email' : !ok ? 'wrong_password' : found.disabledAt !== null ? 'disabled' : undefined;
      outcome = failure ? 'failure' : 'success';
      await this.audit.record({
        type: 'auth.login',
        outcome,
        actorUserId: found?.id ?? null,
        ...ctx,
        details: {
          ...(failure ? { ...loginEmail(email), reason: failure } : { email }),
          ...(admission.waitMs > 0 ? { delayedMs: admission.waitMs } : {}),
        },
      });
      if (failure || !found) throw new AppError(401, ErrorCode.InvalidCredentials, INVALID_CREDENTIALS);
      return { user: found, ...this.issueSession(found) };
    } finally {
      this.lockout.end(email, ctx.ip, outcome);
    }
  }

  /**
   * The account of a dashboard session JWT (the session cookie), checked as SessionStrategy checks it:
   * signature, issuer, audience, expiry, then the account enabled and the password and epoch it was opened with.
   */
  async sessionUser(sessionJwt: string): Promise<User | undefined> {
    const key = this.keys.session;
    if (!key || jwtHeaderOf(sessionJwt)?.typ !== SESSION_JWT_TYPE) return undefined;
    let claims: Record<string, unknown>;
    try {
      claims = this.jwt.verify(sessionJwt, {
        secret: key as never,
        algorithms: ['HS256'],
        issuer: this.config.jwt.issuer,
        audience: SESSION_AUDIENCE,
        clockTolerance: 5,
      });
    } catch {
      return undefined;
    }
    if (claims.token_use !== SESSION_TOKEN_USE || typeof claims.sub !== 'string') return undefined;
    const user = await this.users.findActiveByIdWithPassword(claims.sub);
    if (!user) return undefined;
    const expected = credentialsTag(key, user.passwordHash, user.sessionEpoch);
    return claims[SESSION_CREDENTIALS_CLAIM] === expected ? user : undefined;
  }

  /** A session bound to the user's current password and session epoch: a new password or a disable ends it (SessionStrategy). */
  issueSession(user: Pick<User, 'id' | 'passwordHash' | 'sessionEpoch'>): { accessToken: string; expiresIn: number } {
    const key = this.keys.session;
    const kid = this.keys.signing?.kid;
    if (!key || !kid) throw new AppError(500, ErrorCode.Internal, 'Internal server error');
    const expiresIn = this.config.jwt.sessionTtlSeconds;
    const accessToken = this.jwt.sign(
      { token_use: SESSION_TOKEN_USE, [SESSION_CREDENTIALS_CLAIM]: credentialsTag(key, user.passwordHash, user.sessionEpoch) },
      {
        secret: key as never,
        algorithm: 'HS256',
        expiresIn,
        issuer: this.config.jwt.issuer,
        audience: SESSION_AUDIENCE,
        subject: user.id,
        header: { alg: 'HS256', typ: SESSION_JWT_TYPE, kid: `session-${kid}` },
      },
    );
    return { accessToken, expiresIn };
  }
}

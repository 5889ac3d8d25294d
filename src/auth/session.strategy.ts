import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { UsersService } from '../users/users.service.js';
import { jwtHeaderOf } from '../access/bearer.js';
import { KeyRing } from './key-ring.js';
import type { Principal } from '../access/principal.js';
import { sessionFromCookie } from './session-cookie.js';

export const SESSION_AUDIENCE = 'hospiai:session';
export const SESSION_TOKEN_USE = 'session';
/**
 * The `typ` of a session JWT's header (explicit typing, RFC 8725 §3.11): API tokens have `JWT`,
 * and each side refuses the other's, besides the audience, `token_use` and key that differ too.
 */
export const SESSION_JWT_TYPE = 'session+jwt';
/** The claim that binds a session to the password it was opened with (see credentialsTag). */
export const SESSION_CREDENTIALS_CLAIM = 'cred';

/**
 * A keyed digest of the account's password hash (a new hash, a new salt: every password change
 * gives another) and its session epoch (moved by every disable), so that a session opened before
 * the password changed, or before the account was disabled, no longer verifies, even once the
 * account is enabled again. Epoch 0 gives the digest of the password alone, as before epochs.
 */
export function credentialsTag(key: KeyObject, passwordHash: string, sessionEpoch: number): string {
  const h = createHmac('sha256', key).update('hospiai-session-credentials:').update(passwordHash);
  if (sessionEpoch > 0) h.update(`\nsession-epoch:${sessionEpoch}`);
  return h.digest('base64url');
}

function sameTag(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

interface SessionClaims {
  sub?: unknown;
  token_use?: unknown;
  [SESSION_CREDENTIALS_CLAIM]?: unknown;
}

/**
 * Sessions: short-lived HS256 JWTs signed with the session key, header `typ`
 * `session+jwt`, audience `hospiai:session`, `token_use: session`. The user is read again on every
 * request, so a disabled account, a changed role or a changed password takes effect at once.
 *
 * The JWT comes from `Authorization: Bearer`, or, for the dashboard, from the
 * HttpOnly session cookie when the request has no Authorization header (the
 * global guard then requires the CSRF header on state-changing methods).
 */
@Injectable()
export class SessionStrategy extends PassportStrategy(Strategy, 'session') {
  constructor(
    @InjectConfig() config: AppConfig,
    private readonly keys: KeyRing,
    private readonly users: UsersService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromExtractors([ExtractJwt.fromAuthHeaderAsBearerToken(), sessionFromCookie]),
      // The key is given only for a JWT typed as a session: an API token (typ JWT) is refused here.
      secretOrKeyProvider: (_req: unknown, raw: unknown, done: (err: unknown, key?: unknown) => void) =>
        jwtHeaderOf(raw)?.typ !== SESSION_JWT_TYPE
          ? done(new Error('not a session JWT'))
          : keys.session
            ? done(null, keys.session)
            : done(new Error('no session key')),
      algorithms: ['HS256'],
      issuer: config.jwt.issuer,
      audience: SESSION_AUDIENCE,
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: 5, maxAge: `${config.jwt.sessionTtlSeconds + 5}s` },
    } as never);
  }

  async validate(claims: SessionClaims): Promise<Principal | false> {
    if (claims.token_use !== SESSION_TOKEN_USE || typeof claims.sub !== 'string') return false;
    const user = await this.users.findActiveByIdWithPassword(claims.sub);
    if (!user || !this.keys.session || !sameTag(claims[SESSION_CREDENTIALS_CLAIM], credentialsTag(this.keys.session, user.passwordHash, user.sessionEpoch))) {
      return false;
    }
    return { kind: 'session', userId: user.id, role: user.role, email: user.email };
  }
}

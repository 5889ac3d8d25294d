import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { UsersService } from '../users/users.service.js';
import { jwtHeaderOf } from './bearer.js';
import { KeyRing } from './key-ring.js';
import type { Principal } from './principal.js';
import { sessionFromCookie } from './session-cookie.js';

export const SESSION_AUDIENCE = 'hospiai:session';
export const SESSION_TOKEN_USE = 'session';
/**
 * The `typ` of a session JWT's header (explicit typing, RFC 8725 §3.11): API tokens have `JWT`,
 * and each side refuses the other's, besides the audience, `token_use` and key that differ too.
 */
export const SESSION_JWT_TYPE = 'session+jwt';

interface SessionClaims {
  sub?: unknown;
  token_use?: unknown;
}

/**
 * Sessions: short-lived HS256 JWTs signed with the session key, header `typ`
 * `session+jwt`, audience `hospiai:session`, `token_use: session`. The user is read again on every
 * request, so a disabled account or a changed role takes effect at once.
 *
 * The JWT comes from `Authorization: Bearer`, or, for the dashboard, from the
 * HttpOnly session cookie when the request has no Authorization header (the
 * global guard then requires the CSRF header on state-changing methods).
 */
@Injectable()
export class SessionStrategy extends PassportStrategy(Strategy, 'session') {
  constructor(
    @InjectConfig() config: AppConfig,
    keys: KeyRing,
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
    const user = await this.users.findActiveById(claims.sub);
    if (!user) return false;
    return { kind: 'session', userId: user.id, role: user.role, email: user.email };
  }
}

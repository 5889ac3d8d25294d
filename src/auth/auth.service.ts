import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { User } from '../users/user.entity.js';
import { UsersService } from '../users/users.service.js';
import type { RegisterDto } from './auth.dto.js';
import { KeyRing } from './key-ring.js';
import { PasswordHasher } from './password-hasher.js';
import { SESSION_AUDIENCE, SESSION_TOKEN_USE } from './session.strategy.js';

export const INVALID_CREDENTIALS = 'Email or password is incorrect';

@Injectable()
export class AuthService {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    private readonly keys: KeyRing,
  ) {}

  async register(dto: RegisterDto): Promise<User> {
    if (!this.config.allowRegistration) {
      throw new AppError(403, ErrorCode.RegistrationClosed, 'Registration is closed: ask an administrator for an account');
    }
    return this.users.create({
      email: dto.email,
      passwordHash: await this.hasher.hash(dto.password),
      firstname: dto.firstname,
      surname: dto.surname,
      phoneNumber: dto.phoneNumber ?? null,
    });
  }

  /**
   * Checks credentials. Unknown email, wrong password and disabled account
   * give the same error, after the same Argon2 work.
   */
  async login(email: string, password: string): Promise<{ user: User; accessToken: string; expiresIn: number } | { user: User | null; failure: 'unknown_email' | 'wrong_password' | 'disabled' }> {
    const found = await this.users.findByEmailWithPassword(email);
    const ok = await this.hasher.verify(found?.passwordHash, password);
    if (!found) return { user: null, failure: 'unknown_email' };
    if (!ok) return { user: found, failure: 'wrong_password' };
    if (found.disabledAt !== null) return { user: found, failure: 'disabled' };
    return { user: found, ...this.issueSession(found) };
  }

  issueSession(user: Pick<User, 'id'>): { accessToken: string; expiresIn: number } {
    const key = this.keys.session;
    const kid = this.keys.signing?.kid;
    if (!key || !kid) throw new AppError(500, ErrorCode.Internal, 'Internal server error');
    const expiresIn = this.config.jwt.sessionTtlSeconds;
    const accessToken = this.jwt.sign(
      { token_use: SESSION_TOKEN_USE },
      {
        secret: key as never,
        algorithm: 'HS256',
        expiresIn,
        issuer: this.config.jwt.issuer,
        audience: SESSION_AUDIENCE,
        subject: user.id,
        header: { alg: 'HS256', typ: 'JWT', kid: `session-${kid}` },
      },
    );
    return { accessToken, expiresIn };
  }
}

import { Module, type OnApplicationBootstrap, Logger } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { CsrfCheck } from '../access/csrf-check.js';
import type { AppConfig } from '../config/config.js';
import { APP_CONFIG, InjectConfig } from '../config/config.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { UsersModule } from '../users/users.module.js';
import { UsersService } from '../users/users.service.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';
import { KeyRing } from './key-ring.js';
import { PasswordHasher } from './password-hasher.js';
import { SessionCookies } from './session-cookie.js';
import { SessionStrategy } from './session.strategy.js';

@Module({
  imports: [UsersModule, AuditModule, PassportModule, JwtModule.register({})],
  controllers: [AuthController],
  providers: [
    AuthService,
    PasswordHasher,
    SessionStrategy,
    SessionCookies,
    // The global guard's CSRF check (src/access) is the session cookie's.
    { provide: CsrfCheck, useExisting: SessionCookies },
    { provide: KeyRing, inject: [APP_CONFIG], useFactory: (config: AppConfig) => KeyRing.fromConfig(config) },
  ],
  exports: [KeyRing, PasswordHasher, AuthService, SessionCookies, CsrfCheck],
})
export class AuthModule implements OnApplicationBootstrap {
  private readonly logger = new Logger(AuthModule.name);

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.jwt.secretSource === 'generated') {
      this.logger.warn(`JWT_SECRET is not set: using a generated key kept in ${this.config.dataDir}/jwt-secret (set JWT_SECRET in production)`);
    }
    if (this.config.admin) {
      // Audited by ensureAdmin, each change in one transaction with its event.
      await this.users.ensureAdmin(this.config.admin.email, this.config.admin.password, this.hasher);
    }
  }
}

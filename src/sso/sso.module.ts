import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { UsersModule } from '../users/users.module.js';
import { IdentitiesRepository } from './identities.repository.js';
import { OidcClients } from './oidc-clients.js';
import { SsoController } from './sso.controller.js';
import { SsoService } from './sso.service.js';

/** Staff single sign-on with OpenID Connect (docs/sso.md). */
@Module({
  imports: [UsersModule, AuthModule, AuditModule],
  controllers: [SsoController],
  providers: [SsoService, OidcClients, IdentitiesRepository],
  exports: [SsoService],
})
export class SsoModule {}

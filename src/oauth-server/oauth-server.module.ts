import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { McpClientsModule } from '../mcp-clients/mcp-clients.module.js';
import { RevocationModule } from '../revocation/revocation.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { UsersModule } from '../users/users.module.js';
import { GrantsController } from './grants.controller.js';
import { GrantsService } from './grants.service.js';
import { InteractionController } from './interaction.controller.js';
import { InteractionService } from './interaction.service.js';
import { OAuthModelsRepository } from './oauth-models.repository.js';
import { OAuthProviderService } from './oauth-provider.service.js';
import { OAuthServerController } from './oauth-server.controller.js';

/** The OAuth 2.1 authorization server for MCP clients (docs/mcp-oauth.md), on oidc-provider. */
@Module({
  imports: [AuditModule, AuthModule, McpClientsModule, RevocationModule, TokensModule, UsersModule],
  controllers: [OAuthServerController, InteractionController, GrantsController],
  providers: [OAuthModelsRepository, OAuthProviderService, InteractionService, GrantsService],
})
export class OAuthServerModule {}

import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { McpClientsController } from './mcp-clients.controller.js';
import { McpClientsRepository } from './mcp-clients.repository.js';
import { McpClientsService } from './mcp-clients.service.js';
import { RevocationStreamController } from './revocation-stream.controller.js';
import { RevocationStreamService } from './revocation-stream.service.js';
import { VerifiedClientsCache } from './verified-clients.cache.js';

/** Registered MCP servers (admin routes) and the revocation stream they follow. */
@Module({
  imports: [AuditModule, TokensModule],
  controllers: [McpClientsController, RevocationStreamController],
  providers: [McpClientsService, McpClientsRepository, RevocationStreamService, VerifiedClientsCache],
  exports: [McpClientsService],
})
export class McpClientsModule {}

import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { McpClientsModule } from '../mcp-clients/mcp-clients.module.js';
import { McpValidationModule } from '../mcp-validation/mcp-validation.module.js';
import { IntrospectionController } from './introspection.controller.js';
import { IntrospectionService } from './introspection.service.js';

/** OAuth 2.0 endpoints for registered MCP servers: token introspection (RFC 7662). */
@Module({
  imports: [AuditModule, McpClientsModule, McpValidationModule],
  controllers: [IntrospectionController],
  providers: [IntrospectionService],
})
export class OAuthModule {}

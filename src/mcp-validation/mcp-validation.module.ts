import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { ApiTokenAuthenticator } from '../access/api-token-authenticator.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { McpValidationController } from './mcp-validation.controller.js';
import { McpValidationService } from './mcp-validation.service.js';
import { ThrottledValidations } from './throttled-validations.js';
import { TokenStateCache } from './token-state.cache.js';

@Module({
  imports: [TokensModule, AuditModule],
  controllers: [McpValidationController],
  providers: [McpValidationService, TokenStateCache, ThrottledValidations, { provide: ApiTokenAuthenticator, useExisting: McpValidationService }],
  exports: [ApiTokenAuthenticator, McpValidationService],
})
export class McpValidationModule {}

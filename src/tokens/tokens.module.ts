import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { UsersModule } from '../users/users.module.js';
import { ApiToken } from './api-token.entity.js';
import { TokenCodec } from './token-codec.js';
import { TokenUsageController } from './token-usage.controller.js';
import { TokenUsageService } from './token-usage.service.js';
import { TokensController } from './tokens.controller.js';
import { TokensRepository } from './tokens.repository.js';
import { TokensService } from './tokens.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([ApiToken]), JwtModule.register({}), AuditModule, AuthModule, UsersModule, PoliciesModule],
  controllers: [TokensController, TokenUsageController],
  providers: [TokensService, TokensRepository, TokenCodec, TokenUsageService],
  // The repository for validation (a token's state) and the revocation stream (a user's token ids).
  exports: [TokensService, TokensRepository, TokenCodec],
})
export class TokensModule {}

import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { ApiToken } from './api-token.entity.js';
import { TokenCodec } from './token-codec.js';
import { TokensController } from './tokens.controller.js';
import { TokensService } from './tokens.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([ApiToken]), JwtModule.register({}), AuditModule, AuthModule],
  controllers: [TokensController],
  providers: [TokensService, TokenCodec],
  exports: [TokensService, TokenCodec],
})
export class TokensModule {}

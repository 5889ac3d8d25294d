import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AuditModule } from '../audit/audit.module.js';
import { DatabaseHealth } from '../database/database-health.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), AuditModule],
  controllers: [HealthController],
  providers: [DatabaseHealth],
})
export class HealthModule {}

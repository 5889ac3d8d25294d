import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller.js';
import { AuditMaintenanceService } from './audit-maintenance.service.js';
import { AuditQueryService } from './audit-query.service.js';
import { AuditWriter } from './audit.writer.js';

@Module({
  controllers: [AuditController],
  providers: [AuditWriter, AuditQueryService, AuditMaintenanceService],
  exports: [AuditWriter, AuditQueryService, AuditMaintenanceService],
})
export class AuditModule {}

import { Module } from '@nestjs/common';
import { AuditCheckpointService } from './audit-checkpoint.service.js';
import { AuditCheckpointsRepository } from './audit-checkpoints.repository.js';
import { AuditController } from './audit.controller.js';
import { AuditFeedRepository } from './audit-feed.repository.js';
import { AuditExportService } from './audit-export.service.js';
import { AuditForwardRepository } from './audit-forward.repository.js';
import { AuditForwarderService } from './audit-forwarder.service.js';
import { AuditListService } from './audit-list.service.js';
import { AuditMaintenanceService } from './audit-maintenance.service.js';
import { AuditRetentionRepository } from './audit-retention.repository.js';
import { AuditRollupsRepository } from './audit-rollups.repository.js';
import { AuditStatsService } from './audit-stats.service.js';
import { AuditVerifyService } from './audit-verify.service.js';
import { AuditRepository } from './audit.repository.js';
import { AuditWriter } from './audit.writer.js';
import { LongReadLimiter } from './long-read-limiter.js';

@Module({
  controllers: [AuditController],
  providers: [
    AuditRepository,
    AuditRollupsRepository,
    AuditRetentionRepository,
    LongReadLimiter,
    AuditWriter,
    AuditListService,
    AuditExportService,
    AuditStatsService,
    AuditVerifyService,
    AuditMaintenanceService,
    AuditCheckpointsRepository,
    AuditCheckpointService,
    AuditFeedRepository,
    AuditForwardRepository,
    AuditForwarderService,
  ],
  exports: [
    AuditWriter,
    AuditListService,
    AuditExportService,
    AuditStatsService,
    AuditVerifyService,
    AuditMaintenanceService,
    AuditCheckpointService,
    AuditFeedRepository,
    AuditForwarderService,
  ],
})
export class AuditModule {}

import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { PoliciesController } from './policies.controller.js';
import { PoliciesRepository } from './policies.repository.js';
import { PoliciesService } from './policies.service.js';

@Module({
  imports: [AuditModule],
  controllers: [PoliciesController],
  providers: [PoliciesService, PoliciesRepository],
  // For the tokens module: the policy every new token is checked against, and its "apply to existing".
  exports: [PoliciesService],
})
export class PoliciesModule {}

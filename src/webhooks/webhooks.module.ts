import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { WebhookClock } from './webhook-clock.js';
import { WebhookDispatcher } from './webhook-dispatcher.service.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksRepository } from './webhooks.repository.js';
import { WebhooksService } from './webhooks.service.js';

/** Webhook endpoints (admins), and the dispatcher that derives events from the audit log and expiry reminders. */
@Module({
  imports: [AuditModule, TokensModule],
  controllers: [WebhooksController],
  providers: [WebhooksRepository, WebhooksService, WebhookDispatcher, WebhookClock],
  exports: [WebhookDispatcher, WebhookClock],
})
export class WebhooksModule {}

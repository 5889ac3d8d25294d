import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { Principal } from '../access/principal.js';
import { AuditWriter } from '../audit/audit.writer.js';
import { AppError } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { urlProblem } from './webhook-address.js';
import {
  SECRET_MESSAGE,
  type CreatedWebhookView,
  type CreateWebhookDto,
  type UpdateWebhookDto,
  type WebhookDeliveryView,
  type WebhookView,
} from './webhooks.dto.js';
import { type DeliveryRow, type EndpointRow, WebhooksRepository } from './webhooks.repository.js';

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

export function toWebhookView(e: EndpointRow): WebhookView {
  return {
    id: e.id,
    url: e.url,
    eventTypes: e.eventTypes as WebhookView['eventTypes'],
    enabled: e.enabled,
    description: e.description,
    createdAt: new Date(e.createdAt).toISOString(),
    updatedAt: new Date(e.updatedAt).toISOString(),
  };
}

function toDeliveryView(d: DeliveryRow): WebhookDeliveryView {
  return {
    id: d.id,
    eventId: d.eventId,
    eventType: d.eventType as WebhookDeliveryView['eventType'],
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: iso(d.nextAttemptAt),
    lastAttemptAt: iso(d.lastAttemptAt),
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    createdAt: new Date(d.createdAt).toISOString(),
    deliveredAt: iso(d.deliveredAt),
  };
}

/** Where an audit event may say where a webhook sends: the origin only (a URL's path may hold a receiver's own secret). */
const originOf = (url: string): string => new URL(url).origin;

/** Webhook endpoints, registered by admins; every change is audited, the secret never. */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly repo: WebhooksRepository,
    private readonly audit: AuditWriter,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  private checkUrl(url: string): void {
    const problem = urlProblem(url, this.config.webhooks.allowPrivateNetworks);
    if (problem) throw AppError.badRequest(`Invalid request: url: ${problem}`, [{ field: 'url', message: problem }]);
  }

  async create(p: Principal, dto: CreateWebhookDto, ctx: RequestContext): Promise<CreatedWebhookView> {
    this.checkUrl(dto.url);
    if (dto.secret !== undefined) {
      const raw = dto.secret.slice('whsec_'.length);
      const bytes = Buffer.from(raw, 'base64');
      if (bytes.length < 24 || bytes.length > 64 || bytes.toString('base64') !== raw) {
        throw AppError.badRequest(`Invalid request: ${SECRET_MESSAGE}`, [{ field: 'secret', message: SECRET_MESSAGE }]);
      }
    }
    const secret = dto.secret ?? `whsec_${randomBytes(32).toString('base64')}`;
    const row = await this.dataSource.transaction(async (m) => {
      const created = await this.repo.insertEndpoint(
        {
          id: randomUUID(),
          url: dto.url,
          secret,
          eventTypes: dto.eventTypes,
          enabled: dto.enabled ?? true,
          description: dto.description || null,
          createdBy: p.userId,
        },
        m,
      );
      await this.audit.recordWithin(m, {
        type: 'webhook.create',
        outcome: 'success',
        actorUserId: p.userId,
        ...ctx,
        details: { webhookId: created.id, urlOrigin: originOf(created.url), eventTypes: created.eventTypes, enabled: created.enabled },
      });
      return created;
    });
    return { ...toWebhookView(row), secret };
  }

  async list(): Promise<WebhookView[]> {
    return (await this.repo.listEndpoints()).map(toWebhookView);
  }

  async get(id: string): Promise<WebhookView> {
    const row = await this.repo.findEndpoint(id);
    if (!row) throw AppError.notFound('Webhook');
    return toWebhookView(row);
  }

  async update(p: Principal, id: string, dto: UpdateWebhookDto, ctx: RequestContext): Promise<WebhookView> {
    if (dto.url !== undefined) this.checkUrl(dto.url);
    const row = await this.dataSource.transaction(async (m) => {
      const before = await this.repo.findEndpoint(id, m);
      if (!before) throw AppError.notFound('Webhook');
      const after = await this.repo.updateEndpoint(
        id,
        {
          url: dto.url,
          eventTypes: dto.eventTypes,
          enabled: dto.enabled,
          description: dto.description === undefined ? undefined : dto.description || null,
        },
        m,
      );
      if (!after) throw AppError.notFound('Webhook');
      const changed = (['url', 'eventTypes', 'enabled', 'description'] as const).filter((k) => dto[k] !== undefined);
      await this.audit.recordWithin(m, {
        type: 'webhook.update',
        outcome: 'success',
        actorUserId: p.userId,
        ...ctx,
        details: { webhookId: id, changed, urlOrigin: originOf(after.url), eventTypes: after.eventTypes, enabled: after.enabled },
      });
      return after;
    });
    return toWebhookView(row);
  }

  async remove(p: Principal, id: string, ctx: RequestContext): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const before = await this.repo.findEndpoint(id, m);
      if (!before) throw AppError.notFound('Webhook');
      await this.repo.deleteEndpoint(id, m);
      await this.audit.recordWithin(m, {
        type: 'webhook.delete',
        outcome: 'success',
        actorUserId: p.userId,
        ...ctx,
        details: { webhookId: id, urlOrigin: originOf(before.url) },
      });
    });
  }

  async deliveries(id: string, limit: number): Promise<WebhookDeliveryView[]> {
    if (!(await this.repo.findEndpoint(id))) throw AppError.notFound('Webhook');
    return (await this.repo.deliveriesOf(id, limit)).map(toDeliveryView);
  }
}

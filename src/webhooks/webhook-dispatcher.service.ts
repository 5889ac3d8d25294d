import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { AuditFeedRepository, type FedEvent } from '../audit/audit-feed.repository.js';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import type { ApiToken } from '../tokens/api-token.entity.js';
import { TokensRepository } from '../tokens/tokens.repository.js';
import type { WebhookEventType } from './webhook-address.js';
import { WebhookClock } from './webhook-clock.js';
import { sendWebhook } from './webhook-sender.js';
import { type NewDelivery, type ReminderDue, WebhooksRepository } from './webhooks.repository.js';

/** The audit events webhooks are derived from (policy.change is written by the admin policies). */
const FED_TYPES = ['token.create', 'token.rotate', 'token.revoke', 'policy.change'] as const;
/** Audit events read per pass. */
const FEED_BATCH = 500;
/** Reminders emitted per pass. */
const REMINDER_BATCH = 500;
/** Deliveries sent per pass, side by side. */
const SEND_BATCH = 20;
/** Attempts before a delivery is given up (`failed`): about 8 hours of retries. */
export const MAX_ATTEMPTS = 10;
const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 4 * 3_600_000;
const DAY_MS = 86_400_000;

/** The delay before attempt `attempt + 1`, after `attempt` failed ones: exponential, ±20 % jitter. */
export function retryDelayMs(attempt: number, random = Math.random()): number {
  const base = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random));
}

/** An event as it is sent: `{type, timestamp, data}` (the Standard Webhooks payload form). */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  timestamp: string;
  data: Record<string, unknown>;
}

/** What an event says of a token: never its text (there is none to say: only its id and fingerprint are kept). */
function tokenData(t: ApiToken | undefined, id: string, ownerId?: unknown): Record<string, unknown> {
  if (!t) return { tokenId: id, ownerId: typeof ownerId === 'string' ? ownerId : null };
  return {
    tokenId: t.id,
    name: t.name,
    scopes: t.scopes,
    ownerId: t.userId,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    revokedAt: t.revokedAt ? t.revokedAt.toISOString() : null,
    revokedReason: t.revokedAt ? t.revokedReason : null,
  };
}

const REMINDER_EVENT: Record<ReminderDue['kind'], { type: WebhookEventType; daysBefore?: number }> = {
  expiring_7d: { type: 'token.expiring', daysBefore: 7 },
  expiring_1d: { type: 'token.expiring', daysBefore: 1 },
  expired: { type: 'token.expired' },
};

/**
 * Turns committed audit events and expiry reminders into webhook deliveries, then sends the
 * deliveries that are due. One dispatcher at a time across instances (a PostgreSQL advisory lock),
 * every WEBHOOK_DISPATCH_INTERVAL_SECONDS on each instance.
 *
 * Nothing is lost: the outbox's cursor on the audit log moves in the same transaction as the
 * deliveries it queues, and a reminder is marked sent in the same transaction as its deliveries.
 * A delivery is at least once: a crash between a receiver's answer and its record sends it again,
 * with the same `webhook-id`.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly repo: WebhooksRepository,
    private readonly feed: AuditFeedRepository,
    private readonly tokens: TokensRepository,
    private readonly clock: WebhookClock,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const seconds = this.config.webhooks.dispatchIntervalSeconds;
    if (seconds === 0) return;
    this.timer = setInterval(() => this.tick(), seconds * 1000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private tick(): void {
    this.running ??= this.runOnce(false)
      .then(() => {
        if (this.failing) this.logger.log('webhooks: dispatching again');
        this.failing = false;
      })
      .catch((err: unknown) => {
        if (!this.failing) this.logger.error({ err }, 'webhooks: a dispatch pass failed (tried again at the next one)');
        this.failing = true;
      })
      .finally(() => (this.running = undefined));
  }

  /**
   * One pass: queues the events (audit log, reminders), then sends what is due. With `wait` false,
   * a pass that finds another instance's under way leaves it to it.
   */
  async runOnce(wait = true): Promise<void> {
    const queued = await this.dataSource.transaction(async (m) => {
      if (!(await this.repo.lockDispatcher(wait, m))) return false;
      const now = this.clock.now();
      await this.queueAuditEvents(now, m);
      await this.queueReminders(now, m);
      return true;
    });
    if (!queued) return;
    await this.dataSource.transaction(async (m) => {
      if (!(await this.repo.lockDispatcher(wait, m))) return;
      await this.sendDue(m);
    });
  }

  private async deliveriesFor(events: WebhookEvent[], m: EntityManager, createdAt: Date): Promise<NewDelivery[]> {
    if (events.length === 0) return [];
    const endpoints = await this.repo.enabledEndpoints(m);
    const out: NewDelivery[] = [];
    for (const e of events) {
      for (const ep of endpoints) {
        if (!ep.eventTypes.includes(e.type)) continue;
        out.push({
          endpointId: ep.id,
          eventId: e.id,
          eventType: e.type,
          payload: { type: e.type, timestamp: e.timestamp, data: e.data },
          createdAt,
        });
      }
    }
    return out;
  }

  private async queueAuditEvents(now: Date, m: EntityManager): Promise<void> {
    let cursor = await this.repo.auditCursor(m);
    for (;;) {
      const { events, head } = await this.feed.committedAfter(cursor, FED_TYPES, FEED_BATCH, m);
      const mapped: WebhookEvent[] = [];
      for (const e of events) mapped.push(...(await this.eventsOf(e)));
      await this.repo.insertDeliveries(await this.deliveriesFor(mapped, m, now), m);
      const full = events.length === FEED_BATCH;
      cursor = full ? events[events.length - 1].id : head;
      if (!full) break;
    }
    await this.repo.setAuditCursor(cursor, m);
  }

  /** The webhook events an audit event stands for (none for a refused or repeated change). */
  private async eventsOf(e: FedEvent): Promise<WebhookEvent[]> {
    if (e.outcome !== 'success') return [];
    const at = new Date(e.occurredAt).toISOString();
    const d = e.details ?? {};
    const token = async (id: string) => (await this.tokens.findById(id)) ?? undefined;
    switch (e.type) {
      case 'token.create':
        return e.tokenId
          ? [
              {
                id: `evt_a${e.id}`,
                type: 'token.created',
                timestamp: at,
                data: { ...tokenData(await token(e.tokenId), e.tokenId), actorUserId: e.actorUserId },
              },
            ]
          : [];
      case 'token.revoke':
        return e.tokenId
          ? [
              {
                id: `evt_a${e.id}`,
                type: 'token.revoked',
                timestamp: at,
                data: { ...tokenData(await token(e.tokenId), e.tokenId, d.ownerId), actorUserId: e.actorUserId },
              },
            ]
          : [];
      case 'token.rotate': {
        const out: WebhookEvent[] = [];
        if (typeof d.previousTokenId === 'string') {
          const previous = await token(d.previousTokenId);
          out.push({
            id: `evt_a${e.id}_revoked`,
            type: 'token.revoked',
            timestamp: at,
            data: { ...tokenData(previous, d.previousTokenId, d.ownerId), actorUserId: e.actorUserId },
          });
        }
        if (e.tokenId) {
          out.push({
            id: `evt_a${e.id}_created`,
            type: 'token.created',
            timestamp: at,
            data: { ...tokenData(await token(e.tokenId), e.tokenId), actorUserId: e.actorUserId },
          });
        }
        return out;
      }
      case 'policy.change':
        return [{ id: `evt_a${e.id}`, type: 'policy.changed', timestamp: at, data: { actorUserId: e.actorUserId, ...d } }];
      default:
        return [];
    }
  }

  private async queueReminders(now: Date, m: EntityManager): Promise<void> {
    const due = await this.repo.dueReminders(now, REMINDER_BATCH, m);
    const fresh = await this.repo.markReminders(due, now, m);
    const events: WebhookEvent[] = due
      .filter((r) => fresh.has(`${r.kind}:${r.tokenId}`))
      .map((r) => {
        const { type, daysBefore } = REMINDER_EVENT[r.kind];
        const expiresAt = new Date(r.expiresAt);
        return {
          id: `evt_${r.kind}_${r.tokenId}`,
          type,
          timestamp: now.toISOString(),
          data: {
            tokenId: r.tokenId,
            name: r.name,
            scopes: r.scopes,
            ownerId: r.ownerId,
            createdAt: new Date(r.createdAt).toISOString(),
            expiresAt: expiresAt.toISOString(),
            ...(daysBefore ? { daysBefore, daysLeft: Math.max(0, Math.ceil((expiresAt.getTime() - now.getTime()) / DAY_MS)) } : {}),
          },
        };
      });
    await this.repo.insertDeliveries(await this.deliveriesFor(events, m, now), m);
  }

  private async sendDue(m: EntityManager): Promise<void> {
    const due = await this.repo.claimDue(this.clock.now(), SEND_BATCH, m);
    const allowPrivate = this.config.webhooks.allowPrivateNetworks;
    const results = await Promise.all(
      due.map(async (d) => {
        const body = JSON.stringify(d.payload);
        // The signature's timestamp is the real time: receivers check it against their own clock.
        const r = await sendWebhook(d.url, d.secret, d.eventId, new Date(), body, allowPrivate);
        return { d, r };
      }),
    );
    const now = this.clock.now();
    for (const { d, r } of results) {
      const attempt = d.attempts + 1;
      const nextAttemptAt = r.ok || attempt >= MAX_ATTEMPTS ? null : new Date(now.getTime() + retryDelayMs(attempt));
      await this.repo.recordAttempt(d.id, { at: now, delivered: r.ok, statusCode: r.status, error: r.error, nextAttemptAt }, m);
    }
  }
}

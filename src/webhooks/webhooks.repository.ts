import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** A registered endpoint as stored (the secret included: only the dispatcher reads it). */
export interface EndpointRow {
  id: string;
  url: string;
  secret: string;
  eventTypes: string[];
  enabled: boolean;
  description: string | null;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface DeliveryRow {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** A delivery due now, with what sending it needs. */
export interface DueDelivery {
  id: string;
  eventId: string;
  payload: unknown;
  attempts: number;
  url: string;
  secret: string;
}

export interface NewDelivery {
  endpointId: string;
  eventId: string;
  eventType: string;
  payload: unknown;
  createdAt: Date;
}

/** A token that reached a reminder's point: 7 days or 1 day before its expiry, or its expiry. */
export interface ReminderDue {
  tokenId: string;
  ownerId: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date;
  kind: 'expiring_7d' | 'expiring_1d' | 'expired';
}

/** The advisory lock key that lets one dispatcher at a time work, across instances ('hookdisp'). */
const DISPATCHER_LOCK = 0x686f6f6b64697370n;

const ENDPOINT_COLUMNS = `"id", "url", "secret", "event_types" AS "eventTypes", "enabled", "description", "created_by" AS "createdBy",
  "created_at" AS "createdAt", "updated_at" AS "updatedAt"`;
const DELIVERY_COLUMNS = `"id"::text AS "id", "endpoint_id" AS "endpointId", "event_id" AS "eventId", "event_type" AS "eventType", "status",
  "attempts", "next_attempt_at" AS "nextAttemptAt", "last_attempt_at" AS "lastAttemptAt", "last_status_code" AS "lastStatusCode",
  "last_error" AS "lastError", "created_at" AS "createdAt", "delivered_at" AS "deliveredAt"`;

/**
 * Every query of the webhooks: endpoints, deliveries, the outbox cursor on the audit log, and the
 * expiry reminders (a read of api_tokens against the reminders already sent).
 */
@Injectable()
export class WebhooksRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private q(m?: EntityManager): DataSource | EntityManager {
    return m ?? this.dataSource;
  }

  async insertEndpoint(e: Omit<EndpointRow, 'createdAt' | 'updatedAt'>, m?: EntityManager): Promise<EndpointRow> {
    const [row] = (await this.q(m).query(
      `INSERT INTO "webhook_endpoint" ("id", "url", "secret", "event_types", "enabled", "description", "created_by")
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${ENDPOINT_COLUMNS}`,
      [e.id, e.url, e.secret, e.eventTypes, e.enabled, e.description, e.createdBy],
    )) as EndpointRow[];
    return row;
  }

  async listEndpoints(): Promise<EndpointRow[]> {
    return (await this.dataSource.query(
      `SELECT ${ENDPOINT_COLUMNS} FROM "webhook_endpoint" ORDER BY "created_at" DESC, "id"`,
    )) as EndpointRow[];
  }

  async findEndpoint(id: string, m?: EntityManager): Promise<EndpointRow | null> {
    const rows = (await this.q(m).query(`SELECT ${ENDPOINT_COLUMNS} FROM "webhook_endpoint" WHERE "id" = $1 ${m ? 'FOR UPDATE' : ''}`, [
      id,
    ])) as EndpointRow[];
    return rows[0] ?? null;
  }

  async updateEndpoint(
    id: string,
    set: { url?: string; eventTypes?: string[]; enabled?: boolean; description?: string | null },
    m: EntityManager,
  ): Promise<EndpointRow | null> {
    const [rows] = (await m.query(
      `UPDATE "webhook_endpoint" SET "url" = coalesce($2::varchar, "url"), "event_types" = coalesce($3::text[], "event_types"),
              "enabled" = coalesce($4::boolean, "enabled"), "description" = CASE WHEN $5::boolean THEN $6::varchar ELSE "description" END, "updated_at" = now()
        WHERE "id" = $1 RETURNING ${ENDPOINT_COLUMNS}`,
      [id, set.url ?? null, set.eventTypes ?? null, set.enabled ?? null, set.description !== undefined, set.description ?? null],
    )) as [EndpointRow[], number];
    return rows[0] ?? null;
  }

  async deleteEndpoint(id: string, m: EntityManager): Promise<boolean> {
    const [, n] = (await m.query(`DELETE FROM "webhook_endpoint" WHERE "id" = $1`, [id])) as [unknown, number];
    return n > 0;
  }

  /** The enabled endpoints and their event types. */
  async enabledEndpoints(m?: EntityManager): Promise<{ id: string; eventTypes: string[] }[]> {
    return (await this.q(m).query(`SELECT "id", "event_types" AS "eventTypes" FROM "webhook_endpoint" WHERE "enabled"`)) as {
      id: string;
      eventTypes: string[];
    }[];
  }

  /** An endpoint's deliveries, newest first. */
  async deliveriesOf(endpointId: string, limit: number): Promise<DeliveryRow[]> {
    return (await this.dataSource.query(
      `SELECT ${DELIVERY_COLUMNS} FROM "webhook_delivery" WHERE "endpoint_id" = $1 ORDER BY "id" DESC LIMIT $2`,
      [endpointId, limit],
    )) as DeliveryRow[];
  }

  /** The dispatcher's lock for the rest of the transaction: false when another session holds it (unless `wait`). */
  async lockDispatcher(wait: boolean, m: EntityManager): Promise<boolean> {
    if (wait) {
      await m.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [DISPATCHER_LOCK.toString()]);
      return true;
    }
    const [row] = (await m.query(`SELECT pg_try_advisory_xact_lock($1::bigint) AS ok`, [DISPATCHER_LOCK.toString()])) as { ok: boolean }[];
    return row.ok;
  }

  /** The last audit event id turned into deliveries. */
  async auditCursor(m: EntityManager): Promise<string> {
    const [row] = (await m.query(`SELECT "audit_cursor"::text AS c FROM "webhook_outbox_state" WHERE "id" = 1 FOR UPDATE`)) as {
      c: string;
    }[];
    return row.c;
  }

  async setAuditCursor(cursor: string, m: EntityManager): Promise<void> {
    await m.query(`UPDATE "webhook_outbox_state" SET "audit_cursor" = $1::bigint, "updated_at" = now() WHERE "id" = 1`, [cursor]);
  }

  /** Adds deliveries, due at once; an event already queued for an endpoint is not queued twice. */
  async insertDeliveries(rows: NewDelivery[], m: EntityManager): Promise<void> {
    if (rows.length === 0) return;
    await m.query(
      `INSERT INTO "webhook_delivery" ("endpoint_id", "event_id", "event_type", "payload", "created_at", "next_attempt_at")
       SELECT e, i, t, p, c, c FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::jsonb[], $5::timestamptz[]) AS x(e, i, t, p, c)
       ON CONFLICT ("endpoint_id", "event_id") DO NOTHING`,
      [
        rows.map((r) => r.endpointId),
        rows.map((r) => r.eventId),
        rows.map((r) => r.eventType),
        rows.map((r) => JSON.stringify(r.payload)),
        rows.map((r) => r.createdAt.toISOString()),
      ],
    );
  }

  /**
   * Tokens, neither revoked nor past their expiry by more than 7 days, that reached a reminder's
   * point at `now` without it being sent yet: `expired` from the expiry, `expiring_1d` in its last
   * day, `expiring_7d` in its last 7 days before that. Soonest expiry first.
   */
  async dueReminders(now: Date, limit: number, m: EntityManager): Promise<ReminderDue[]> {
    return (await m.query(
      `SELECT * FROM (
         SELECT t."id" AS "tokenId", t."user_id" AS "ownerId", t."name", t."scopes", t."created_at" AS "createdAt", t."expires_at" AS "expiresAt",
                CASE WHEN t."expires_at" <= $1 THEN 'expired'
                     WHEN t."expires_at" <= $1::timestamptz + interval '1 day' THEN 'expiring_1d'
                     ELSE 'expiring_7d' END AS "kind"
           FROM "api_tokens" t
          WHERE t."revoked_at" IS NULL AND t."expires_at" > $1::timestamptz - interval '7 days' AND t."expires_at" <= $1::timestamptz + interval '7 days'
       ) d
       WHERE NOT EXISTS (SELECT 1 FROM "webhook_reminder" r WHERE r."token_id" = d."tokenId" AND r."kind" = d."kind")
       ORDER BY d."expiresAt" LIMIT $2`,
      [now.toISOString(), limit],
    )) as ReminderDue[];
  }

  /** Records reminders as sent; returns those that were not already. */
  async markReminders(rows: { tokenId: string; kind: string }[], at: Date, m: EntityManager): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const inserted = (await m.query(
      `INSERT INTO "webhook_reminder" ("token_id", "kind", "sent_at")
       SELECT t, k, $3 FROM unnest($1::uuid[], $2::varchar[]) AS x(t, k)
       ON CONFLICT DO NOTHING RETURNING "token_id" AS "tokenId", "kind"`,
      [rows.map((r) => r.tokenId), rows.map((r) => r.kind), at.toISOString()],
    )) as { tokenId: string; kind: string }[];
    return new Set(inserted.map((r) => `${r.kind}:${r.tokenId}`));
  }

  /** Up to `limit` pending deliveries due at `now` to enabled endpoints, locked for this transaction. */
  async claimDue(now: Date, limit: number, m: EntityManager): Promise<DueDelivery[]> {
    return (await m.query(
      `SELECT d."id"::text AS "id", d."event_id" AS "eventId", d."payload", d."attempts", e."url", e."secret"
         FROM "webhook_delivery" d JOIN "webhook_endpoint" e ON e."id" = d."endpoint_id"
        WHERE d."status" = 'pending' AND d."next_attempt_at" <= $1 AND e."enabled"
        ORDER BY d."next_attempt_at", d."id" LIMIT $2
        FOR UPDATE OF d SKIP LOCKED`,
      [now.toISOString(), limit],
    )) as DueDelivery[];
  }

  /** The outcome of an attempt: delivered, or pending again at `nextAttemptAt`, or failed for good (null). */
  async recordAttempt(
    id: string,
    a: { at: Date; delivered: boolean; statusCode: number | null; error: string | null; nextAttemptAt: Date | null },
    m: EntityManager,
  ): Promise<void> {
    await m.query(
      `UPDATE "webhook_delivery" SET "attempts" = "attempts" + 1, "last_attempt_at" = $2::timestamptz, "last_status_code" = $3::int,
              "last_error" = $4::varchar,
              "status" = CASE WHEN $5::boolean THEN 'delivered' WHEN $6::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
              "next_attempt_at" = CASE WHEN $5::boolean THEN NULL ELSE $6::timestamptz END,
              "delivered_at" = CASE WHEN $5::boolean THEN $2::timestamptz ELSE NULL END
        WHERE "id" = $1::bigint`,
      [id, a.at.toISOString(), a.statusCode, a.error?.slice(0, 300) ?? null, a.delivered, a.nextAttemptAt?.toISOString() ?? null],
    );
  }
}

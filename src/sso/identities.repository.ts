import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** An account's identity at an OpenID Connect provider (table `user_identities`). */
export interface UserIdentity {
  id: string;
  userId: string;
  provider: string;
  issuer: string;
  subject: string;
  professionalId: string | null;
  linkedBy: string | null;
  createdAt: Date;
  lastLoginAt: Date | null;
}

interface Row {
  id: string;
  user_id: string;
  provider: string;
  issuer: string;
  subject: string;
  professional_id: string | null;
  linked_by: string | null;
  created_at: Date;
  last_login_at: Date | null;
}

const COLUMNS = `"id", "user_id", "provider", "issuer", "subject", "professional_id", "linked_by", "created_at", "last_login_at"`;

function toIdentity(r: Row): UserIdentity {
  return {
    id: r.id,
    userId: r.user_id,
    provider: r.provider,
    issuer: r.issuer,
    subject: r.subject,
    professionalId: r.professional_id,
    linkedBy: r.linked_by,
    createdAt: r.created_at,
    lastLoginAt: r.last_login_at,
  };
}

/** Every query on `user_identities`; each method runs on `m` when given (the caller's transaction). */
@Injectable()
export class IdentitiesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private q(m?: EntityManager): EntityManager {
    return m ?? this.dataSource.manager;
  }

  /** The identity of (issuer, subject), its row locked FOR UPDATE when `m` is a transaction that asks for it. */
  async find(issuer: string, subject: string, m?: EntityManager, lock = false): Promise<UserIdentity | undefined> {
    const rows = (await this.q(m).query(
      `SELECT ${COLUMNS} FROM "user_identities" WHERE "issuer" = $1 AND "subject" = $2${lock ? ' FOR UPDATE' : ''}`,
      [issuer, subject],
    )) as Row[];
    return rows[0] ? toIdentity(rows[0]) : undefined;
  }

  /** The accounts a back-channel logout names: by subject, or by the provider's session id. */
  async usersOf(issuer: string, subject: string | undefined, sessionId: string | undefined, m?: EntityManager): Promise<string[]> {
    const rows = (await this.q(m).query(
      `SELECT DISTINCT "user_id" FROM "user_identities"
        WHERE "issuer" = $1 AND (("subject" = $2 AND $2 IS NOT NULL) OR ("session_id" = $3 AND $3 IS NOT NULL))
        ORDER BY "user_id"`,
      [issuer, subject ?? null, sessionId ?? null],
    )) as { user_id: string }[];
    return rows.map((r) => r.user_id);
  }

  async forUser(userId: string, m?: EntityManager): Promise<UserIdentity[]> {
    const rows = (await this.q(m).query(`SELECT ${COLUMNS} FROM "user_identities" WHERE "user_id" = $1 ORDER BY "created_at", "id"`, [
      userId,
    ])) as Row[];
    return rows.map(toIdentity);
  }

  async insert(
    row: {
      userId: string;
      provider: string;
      issuer: string;
      subject: string;
      professionalId: string | null;
      linkedBy: string | null;
      sessionId?: string | null;
      loggedIn: boolean;
    },
    m: EntityManager,
  ): Promise<UserIdentity> {
    const rows = (await m.query(
      `INSERT INTO "user_identities" ("user_id", "provider", "issuer", "subject", "professional_id", "linked_by", "session_id", "last_login_at")
       VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8 THEN now() END)
       RETURNING ${COLUMNS}`,
      [row.userId, row.provider, row.issuer, row.subject, row.professionalId, row.linkedBy, row.sessionId ?? null, row.loggedIn],
    )) as Row[];
    return toIdentity(rows[0]);
  }

  /** Records a login: its time, the provider's session id, and the professional identifier when the provider gave one. */
  async recordLogin(id: string, sessionId: string | null, professionalId: string | null, m?: EntityManager): Promise<void> {
    await this.q(m).query(
      `UPDATE "user_identities" SET "last_login_at" = now(), "session_id" = $2, "professional_id" = COALESCE($3, "professional_id") WHERE "id" = $1`,
      [id, sessionId, professionalId],
    );
  }
}

import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** What oidc-provider stores of one model instance (grant, code, refresh token, session, interaction, client…). */
export type OAuthPayload = Record<string, unknown>;

/** A grant as the "Applications autorisées" page lists it. */
export interface GrantRow {
  id: string;
  payload: OAuthPayload;
  expires_at: Date | null;
}

/**
 * Every query of the authorization server: its `oauth_model` table (oidc-provider's storage, one
 * row per model and id) and the access tokens it issued (`api_tokens.oauth_grant_id`).
 */
@Injectable()
export class OAuthModelsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async upsert(
    model: string,
    id: string,
    payload: OAuthPayload,
    expiresAt: Date | null,
    m: EntityManager = this.dataSource.manager,
  ): Promise<void> {
    const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    await m.query(
      `INSERT INTO "oauth_model" ("model", "id", "payload", "grant_id", "uid", "user_code", "expires_at")
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT ("model", "id") DO UPDATE SET "payload" = EXCLUDED."payload", "grant_id" = EXCLUDED."grant_id",
         "uid" = EXCLUDED."uid", "user_code" = EXCLUDED."user_code", "expires_at" = EXCLUDED."expires_at"`,
      [model, id, JSON.stringify(payload), str(payload.grantId), str(payload.uid), str(payload.userCode), expiresAt],
    );
  }

  private async findWhere(model: string, column: 'id' | 'uid' | 'user_code', value: string): Promise<OAuthPayload | undefined> {
    const rows = (await this.dataSource.query(
      `SELECT "payload", "consumed_at" FROM "oauth_model"
        WHERE "model" = $1 AND "${column}" = $2 AND ("expires_at" IS NULL OR "expires_at" > now())
        LIMIT 1`,
      [model, value],
    )) as { payload: OAuthPayload; consumed_at: Date | null }[];
    const row = rows[0];
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
  }

  find(model: string, id: string): Promise<OAuthPayload | undefined> {
    return this.findWhere(model, 'id', id);
  }

  findByUid(model: string, uid: string): Promise<OAuthPayload | undefined> {
    return this.findWhere(model, 'uid', uid);
  }

  findByUserCode(model: string, userCode: string): Promise<OAuthPayload | undefined> {
    return this.findWhere(model, 'user_code', userCode);
  }

  async consume(model: string, id: string): Promise<void> {
    await this.dataSource.query(`UPDATE "oauth_model" SET "consumed_at" = now() WHERE "model" = $1 AND "id" = $2`, [model, id]);
  }

  async destroy(model: string, id: string, m: EntityManager = this.dataSource.manager): Promise<void> {
    await m.query(`DELETE FROM "oauth_model" WHERE "model" = $1 AND "id" = $2`, [model, id]);
  }

  async destroyByGrant(model: string, grantId: string, m: EntityManager = this.dataSource.manager): Promise<void> {
    await m.query(`DELETE FROM "oauth_model" WHERE "model" = $1 AND "grant_id" = $2`, [model, grantId]);
  }

  /** Rows past their expiry; answers how many went. */
  async pruneExpired(limit = 1000): Promise<number> {
    const [, count] = (await this.dataSource.query(
      `DELETE FROM "oauth_model" WHERE ctid IN (SELECT ctid FROM "oauth_model" WHERE "expires_at" <= now() LIMIT $1)`,
      [limit],
    )) as [unknown, number];
    return count;
  }

  /** The live grants of an account, newest first. */
  async grantsOf(accountId: string): Promise<GrantRow[]> {
    return (await this.dataSource.query(
      `SELECT "id", "payload", "expires_at" FROM "oauth_model"
        WHERE "model" = 'Grant' AND "payload"->>'accountId' = $1 AND ("expires_at" IS NULL OR "expires_at" > now())
        ORDER BY ("payload"->>'iat')::bigint DESC`,
      [accountId],
    )) as GrantRow[];
  }

  /** The latest live grant of an account to a client for a resource. */
  async grantIdFor(accountId: string, clientId: string, resource: string): Promise<string | undefined> {
    const rows = (await this.dataSource.query(
      `SELECT "id" FROM "oauth_model"
        WHERE "model" = 'Grant' AND "payload"->>'accountId' = $1 AND "payload"->>'clientId' = $2 AND "payload"->'resources' ? $3
          AND ("expires_at" IS NULL OR "expires_at" > now())
        ORDER BY ("payload"->>'iat')::bigint DESC LIMIT 1`,
      [accountId, clientId, resource],
    )) as { id: string }[];
    return rows[0]?.id;
  }

  async grant(id: string, m: EntityManager = this.dataSource.manager): Promise<GrantRow | undefined> {
    const rows = (await m.query(`SELECT "id", "payload", "expires_at" FROM "oauth_model" WHERE "model" = 'Grant' AND "id" = $1`, [
      id,
    ])) as GrantRow[];
    return rows[0];
  }

  /** The name of a grant's client: from its latest access token, else from its registration (dynamic clients). */
  async clientNameOf(grantId: string, clientId: string): Promise<string | undefined> {
    const rows = (await this.dataSource.query(
      `SELECT COALESCE(
         (SELECT "name" FROM "api_tokens" WHERE "oauth_grant_id" = $1 ORDER BY "created_at" DESC LIMIT 1),
         (SELECT "payload"->>'client_name' FROM "oauth_model" WHERE "model" = 'Client' AND "id" = $2)
       ) AS "name"`,
      [grantId, clientId],
    )) as { name: string | null }[];
    return rows[0]?.name ?? undefined;
  }

  /** Records the grant an access token was issued under. */
  async tagToken(tokenId: string, grantId: string, m: EntityManager): Promise<void> {
    await m.query(`UPDATE "api_tokens" SET "oauth_grant_id" = $2 WHERE "id" = $1`, [tokenId, grantId]);
  }

  /** Revokes the live access tokens issued under a grant; answers their ids, sorted. */
  async revokeTokensOfGrant(grantId: string, m: EntityManager): Promise<string[]> {
    const [rows] = (await m.query(
      `UPDATE "api_tokens" SET "revoked_at" = now(), "revoked_reason" = 'revoked'
        WHERE "oauth_grant_id" = $1 AND "revoked_at" IS NULL
        RETURNING "id"`,
      [grantId],
    )) as [{ id: string }[], number];
    return rows.map((r) => r.id).sort();
  }

  /** Revokes these access tokens if live; answers those it revoked. */
  async revokeTokensOf(ids: string[], m: EntityManager): Promise<string[]> {
    const [rows] = (await m.query(
      `UPDATE "api_tokens" SET "revoked_at" = now(), "revoked_reason" = 'revoked'
        WHERE "id" = ANY($1::uuid[]) AND "revoked_at" IS NULL
        RETURNING "id"`,
      [ids],
    )) as [{ id: string }[], number];
    return rows.map((r) => r.id).sort();
  }

  /** The grant an access token was issued under (null for a token made by hand). */
  async grantOfToken(tokenId: string): Promise<{ grantId: string | null; userId: string } | undefined> {
    const rows = (await this.dataSource.query(`SELECT "oauth_grant_id", "user_id" FROM "api_tokens" WHERE "id" = $1`, [tokenId])) as {
      oauth_grant_id: string | null;
      user_id: string;
    }[];
    return rows[0] ? { grantId: rows[0].oauth_grant_id, userId: rows[0].user_id } : undefined;
  }
}

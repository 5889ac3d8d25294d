import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** A row of `mcp_client`. */
export interface McpClientRow {
  id: string;
  client_id: string;
  name: string;
  secret_hash: string;
  created_by: string | null;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  /** The canonical resource URI (see ./resource-uri.ts); null for a server registered without one. */
  resource_uri: string | null;
  /** The scopes a token for this server may carry. */
  accepted_scopes: string[];
}

const COLUMNS = `"id", "client_id", "name", "secret_hash", "created_by", "created_at", "revoked_at", "last_used_at", "resource_uri", "accepted_scopes"`;

/** The unique index that keeps a resource URI to one active server (a 23505 on it is a conflict). */
export const RESOURCE_URI_INDEX = 'UQ_mcp_client_resource_uri_active';

/**
 * Every query on `mcp_client` (a table without an entity: plain parameterised SQL). Each method
 * runs on `m` when given (a transaction the caller opened with `dataSource.transaction`), on the
 * DataSource's manager otherwise.
 */
@Injectable()
export class McpClientsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(
    row: Pick<McpClientRow, 'id' | 'client_id' | 'name' | 'secret_hash' | 'created_by' | 'resource_uri' | 'accepted_scopes'>,
    m: EntityManager = this.dataSource.manager,
  ): Promise<McpClientRow> {
    const [created] = (await m.query(
      `INSERT INTO "mcp_client" ("id", "client_id", "name", "secret_hash", "created_by", "resource_uri", "accepted_scopes")
       VALUES ($1, $2, $3, $4, $5, $6, $7::text[]) RETURNING ${COLUMNS}`,
      [row.id, row.client_id, row.name, row.secret_hash, row.created_by, row.resource_uri, row.accepted_scopes],
    )) as McpClientRow[];
    return created;
  }

  /** The row locked FOR UPDATE until the caller's transaction ends. */
  async lockById(id: string, m: EntityManager): Promise<McpClientRow | undefined> {
    const [row] = (await m.query(`SELECT ${COLUMNS} FROM "mcp_client" WHERE "id" = $1 FOR UPDATE`, [id])) as McpClientRow[];
    return row;
  }

  /** Writes the columns `set` names (name, resource URI, accepted scopes) and gives the row back. */
  async update(
    id: string,
    set: Partial<Pick<McpClientRow, 'name' | 'resource_uri' | 'accepted_scopes'>>,
    m: EntityManager,
  ): Promise<McpClientRow | undefined> {
    const [rows] = (await m.query(
      `UPDATE "mcp_client"
          SET "name" = CASE WHEN $2::boolean THEN $3 ELSE "name" END,
              "resource_uri" = CASE WHEN $4::boolean THEN $5 ELSE "resource_uri" END,
              "accepted_scopes" = CASE WHEN $6::boolean THEN $7::text[] ELSE "accepted_scopes" END
        WHERE "id" = $1
        RETURNING ${COLUMNS}`,
      [
        id,
        set.name !== undefined,
        set.name ?? null,
        set.resource_uri !== undefined,
        set.resource_uri ?? null,
        set.accepted_scopes !== undefined,
        set.accepted_scopes ?? null,
      ],
    )) as [McpClientRow[], number];
    return rows[0];
  }

  /** The active server whose canonical resource URI is `resourceUri`. */
  async findActiveByResource(resourceUri: string): Promise<McpClientRow | undefined> {
    const [row] = (await this.dataSource.query(
      `SELECT ${COLUMNS} FROM "mcp_client" WHERE "resource_uri" = $1 AND "revoked_at" IS NULL`,
      [resourceUri],
    )) as McpClientRow[];
    return row;
  }

  /** Newest first. */
  async list(): Promise<McpClientRow[]> {
    return (await this.dataSource.query(`SELECT ${COLUMNS} FROM "mcp_client" ORDER BY "created_at" DESC, "id" DESC`)) as McpClientRow[];
  }

  async findById(id: string): Promise<McpClientRow | undefined> {
    const [row] = (await this.dataSource.query(`SELECT ${COLUMNS} FROM "mcp_client" WHERE "id" = $1`, [id])) as McpClientRow[];
    return row;
  }

  async findByClientId(clientId: string): Promise<McpClientRow | undefined> {
    const [row] = (await this.dataSource.query(`SELECT ${COLUMNS} FROM "mcp_client" WHERE "client_id" = $1`, [clientId])) as McpClientRow[];
    return row;
  }

  /** Revokes the client if it is not revoked yet; true when this call revoked it. */
  async revoke(id: string, m: EntityManager = this.dataSource.manager): Promise<boolean> {
    const result = (await m.query(`UPDATE "mcp_client" SET "revoked_at" = now() WHERE "id" = $1 AND "revoked_at" IS NULL`, [id])) as [
      unknown,
      number,
    ];
    return result[1] > 0;
  }

  /** Records a use, to the minute: no write when the stored one is less than a minute old. */
  async touchLastUsed(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE "mcp_client" SET "last_used_at" = now() WHERE "id" = $1 AND ("last_used_at" IS NULL OR "last_used_at" < now() - interval '1 minute')`,
      [id],
    );
  }

  /** Whether the client exists and is not revoked. */
  async isActive(id: string): Promise<boolean> {
    const rows = (await this.dataSource.query(`SELECT 1 FROM "mcp_client" WHERE "id" = $1 AND "revoked_at" IS NULL`, [id])) as unknown[];
    return rows.length > 0;
  }
}

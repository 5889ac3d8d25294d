import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { TokenPolicy } from './token-policy.js';

export interface StoredPolicy extends TokenPolicy {
  updatedAt: Date;
  updatedBy: string | null;
}

function fromRow(r: Record<string, unknown>): StoredPolicy {
  return {
    maxLifetimeDays: r.max_lifetime_days as number,
    restrictedScopes: r.restricted_scopes as TokenPolicy['restrictedScopes'],
    allowlistRequiredForWrite: r.allowlist_required_for_write as boolean,
    updatedAt: r.updated_at as Date,
    updatedBy: (r.updated_by as string | null) ?? null,
  };
}

/** Every query on `token_policy` (one row, created by its migration). */
@Injectable()
export class PoliciesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The policy; in `m`, its row locked FOR SHARE (a change waits for the creates that read it) or FOR UPDATE. */
  async get(m?: EntityManager, lock?: 'share' | 'update'): Promise<StoredPolicy> {
    const suffix = lock === 'update' ? ' FOR UPDATE' : lock === 'share' ? ' FOR SHARE' : '';
    const rows = (await (m ?? this.dataSource.manager).query(
      `SELECT "max_lifetime_days", "restricted_scopes", "allowlist_required_for_write", "updated_at", "updated_by"
         FROM "token_policy" WHERE "id" = 1${suffix}`,
    )) as Record<string, unknown>[];
    if (!rows[0]) throw new Error('token_policy has no row: the migrations have not run');
    return fromRow(rows[0]);
  }

  async save(policy: TokenPolicy, by: string, m: EntityManager): Promise<StoredPolicy> {
    const rows = (await m.query(
      `UPDATE "token_policy"
          SET "max_lifetime_days" = $1, "restricted_scopes" = $2::jsonb, "allowlist_required_for_write" = $3,
              "updated_at" = now(), "updated_by" = $4
        WHERE "id" = 1
        RETURNING "max_lifetime_days", "restricted_scopes", "allowlist_required_for_write", "updated_at", "updated_by"`,
      [policy.maxLifetimeDays, JSON.stringify(policy.restrictedScopes), policy.allowlistRequiredForWrite, by],
    )) as [Record<string, unknown>[], number];
    return fromRow(rows[0][0]);
  }
}

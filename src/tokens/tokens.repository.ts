import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { EntityManager, Repository } from 'typeorm';
import type { Scope } from '../../libs/scopes/src/index.js';
import type { Bind } from '../audit/audit.writer.js';
import type { Role } from '../access/role.js';
import { ApiToken, type RevokedReason } from './api-token.entity.js';
import { allowlistOf, type IpAllowlist } from './ip-allowlist.js';
import { grantedScopes } from './token-scopes.js';

/** What validation needs to know about a token and its owner, read in one query. */
export interface TokenState {
  id: string;
  userId: string;
  name: string;
  /** The scopes the token grants now (grantedScopes): every answer about the token uses these. */
  scopes: Scope[];
  fingerprint: string;
  expiresAt: Date;
  revokedAt: Date | null;
  /** The canonical resource URI the token is bound to, or null (unbound): the decision uses this, not the JWT's `aud`. */
  audience: string | null;
  /** The IP allowlist, built once per loaded state (undefined: every address may use the token). */
  allowlist: IpAllowlist | undefined;
  owner: {
    id: string;
    email: string;
    firstname: string;
    surname: string;
    phoneNumber: string | null;
    profileCompletedAt: Date | null;
    role: Role;
    disabled: boolean;
  };
}

/** A token's row as inserted (`seq` is numbered by the database). */
export type NewTokenRow = Omit<ApiToken, 'user' | 'seq'>;

/** Last uses to write, one per token, as columns (ids in order). */
export interface LastUses {
  ids: readonly string[];
  ats: readonly string[];
  ips: readonly (string | null)[];
}

/**
 * Every query on `api_tokens`, the validate path's token-and-owner read included. Each method
 * runs on `m` when given (a transaction the caller opened with `dataSource.transaction`), on the
 * DataSource's manager otherwise; the locking one needs one.
 */
@Injectable()
export class TokensRepository {
  constructor(@InjectRepository(ApiToken) private readonly repo: Repository<ApiToken>) {}

  private tokens(m?: EntityManager): Repository<ApiToken> {
    return m ? m.getRepository(ApiToken) : this.repo;
  }

  /** Inserts the token and gives back its entity. */
  async insert(row: NewTokenRow, m?: EntityManager): Promise<ApiToken> {
    const tokens = this.tokens(m);
    const entity = tokens.create(row);
    await tokens.insert(entity);
    return entity;
  }

  /** The user's tokens, newest first (creation order within a second). */
  listOf(userId: string): Promise<ApiToken[]> {
    return this.repo.find({ where: { userId }, order: { createdAt: 'DESC', seq: 'DESC' } });
  }

  findById(id: string): Promise<ApiToken | null> {
    return this.repo.findOneBy({ id });
  }

  /** The token, its row locked FOR UPDATE until the caller's transaction ends. */
  lockById(id: string, m: EntityManager): Promise<ApiToken | null> {
    return m.getRepository(ApiToken).createQueryBuilder('t').setLock('pessimistic_write').where('t.id = :id', { id }).getOne();
  }

  /** Writes only the columns `set` names. */
  async update(id: string, set: Partial<NewTokenRow>, m?: EntityManager): Promise<void> {
    await this.tokens(m).update({ id }, set);
  }

  /** Revokes the token if it is not revoked yet; true when this call revoked it. */
  async revoke(id: string, m?: EntityManager): Promise<boolean> {
    const result = (await this.tokens(m).query(
      `UPDATE "api_tokens" SET "revoked_at" = now(), "revoked_reason" = 'revoked' WHERE "id" = $1 AND "revoked_at" IS NULL`,
      [id],
    )) as [unknown, number];
    return result[1] > 0;
  }

  /**
   * Revokes every token of the user not revoked yet (expired ones too: none may come back), with
   * `reason`; gives the ids revoked. Run in the transaction that holds the user's row locked.
   */
  async revokeAllOf(userId: string, reason: RevokedReason, m: EntityManager): Promise<string[]> {
    const [rows] = (await m.query(
      `UPDATE "api_tokens" SET "revoked_at" = now(), "revoked_reason" = $2
        WHERE "user_id" = $1 AND "revoked_at" IS NULL
        RETURNING "id"`,
      [userId, reason],
    )) as [{ id: string }[], number];
    return rows.map((r) => r.id).sort();
  }

  /**
   * The active tokens (not revoked, not expired) that break a token policy, their rows locked FOR
   * UPDATE in `m`: a lifetime longer than `maxLifetimeDays`, a scope their owner's role may not
   * grant under `restricted` (scope → roles), or a scope of `writeScopes` without an allowlist
   * when `allowlistRequired`. In id order.
   */
  async nonCompliant(
    rules: { maxLifetimeDays: number; restricted: Record<string, readonly string[]>; allowlistRequired: boolean; writeScopes: readonly string[] },
    m: EntityManager,
  ): Promise<{ id: string; userId: string; name: string }[]> {
    const rows = (await m.query(
      `SELECT t."id", t."user_id", t."name"
         FROM "api_tokens" t JOIN "users" u ON u."id" = t."user_id"
        WHERE t."revoked_at" IS NULL AND t."expires_at" > now()
          AND (t."expires_at" - t."created_at" > make_interval(days => $1::int)
               OR EXISTS (SELECT 1 FROM jsonb_each($2::jsonb) AS r("scope", "roles")
                           WHERE r."scope" = ANY (t."scopes") AND NOT (r."roles" ? u."role"::text))
               OR ($3::boolean AND t."allowed_ips" IS NULL AND t."scopes" && $4::text[]))
        ORDER BY t."id"
          FOR UPDATE OF t`,
      [rules.maxLifetimeDays, JSON.stringify(rules.restricted), rules.allowlistRequired, rules.writeScopes],
    )) as { id: string; user_id: string; name: string }[];
    return rows.map((r) => ({ id: r.id, userId: r.user_id, name: r.name }));
  }

  /** Revokes the token with `reason` if it is not revoked yet; true when this call revoked it. */
  async revokeWithReason(id: string, reason: RevokedReason, m: EntityManager): Promise<boolean> {
    const result = (await m.query(
      `UPDATE "api_tokens" SET "revoked_at" = now(), "revoked_reason" = $2 WHERE "id" = $1 AND "revoked_at" IS NULL`,
      [id, reason],
    )) as [unknown, number];
    return result[1] > 0;
  }

  /**
   * Token and owner in one query, for validation. The validate path reads it on every cache miss:
   * one round trip, nothing else.
   */
  async stateOf(tokenId: string): Promise<TokenState | undefined> {
    const rows = (await this.repo.query(
      `SELECT t."id", t."user_id", t."name", t."scopes", t."fingerprint", t."expires_at", t."revoked_at", t."audience", t."allowed_ips",
              u."email", u."firstname", u."surname", u."phone_number", u."profile_completed_at", u."role", u."disabled_at"
         FROM "api_tokens" t JOIN "users" u ON u."id" = t."user_id"
        WHERE t."id" = $1`,
      [tokenId],
    )) as Record<string, unknown>[];
    const r = rows[0];
    if (!r) return undefined;
    return {
      id: r.id as string,
      userId: r.user_id as string,
      name: r.name as string,
      // Once per load: a change of role publishes a revocation of the user, which drops the cached state.
      scopes: grantedScopes(r.role as Role, r.scopes as Scope[]),
      fingerprint: r.fingerprint as string,
      expiresAt: r.expires_at as Date,
      revokedAt: (r.revoked_at as Date | null) ?? null,
      audience: (r.audience as string | null) ?? null,
      allowlist: allowlistOf(r.allowed_ips as string[] | null),
      owner: {
        id: r.user_id as string,
        email: r.email as string,
        firstname: r.firstname as string,
        surname: r.surname as string,
        phoneNumber: (r.phone_number as string | null) ?? null,
        profileCompletedAt: (r.profile_completed_at as Date | null) ?? null,
        role: r.role as Role,
        disabled: r.disabled_at !== null,
      },
    };
  }

  /**
   * The scopes accepted by the active registered MCP server whose resource URI is `resourceUri`
   * (canonical), or undefined when there is none: a token may be bound only to such a server.
   */
  async acceptedScopesOfResource(resourceUri: string, m?: EntityManager): Promise<string[] | undefined> {
    const rows = (await this.tokens(m).query(
      `SELECT "accepted_scopes" FROM "mcp_client" WHERE "resource_uri" = $1 AND "revoked_at" IS NULL`,
      [resourceUri],
    )) as { accepted_scopes: string[] }[];
    return rows[0]?.accepted_scopes;
  }

  /**
   * The ids of the user's tokens that a validation cache may still hold: not expired, not revoked,
   * or only for the last five minutes.
   */
  async recentIdsOf(userId: string): Promise<string[]> {
    const rows = (await this.repo.query(
      `SELECT "id" FROM "api_tokens"
        WHERE "user_id" = $1 AND "expires_at" > now() - interval '5 minutes'
          AND ("revoked_at" IS NULL OR "revoked_at" > now() - interval '5 minutes')
        ORDER BY "id" LIMIT 10000`,
      [userId],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /**
   * The statement that writes last uses, for an audit batch's transaction (its values bound with
   * `bind`). A use is written when the stored one is at least `resolutionMs` older, or earlier and
   * from another address.
   */
  lastUseUpdate(uses: LastUses, resolutionMs: number, bind: Bind): string {
    const v = { id: bind(uses.ids, 'uuid[]'), at: bind(uses.ats, 'timestamptz[]'), ip: bind(uses.ips, 'varchar[]') };
    return `UPDATE "api_tokens" t SET "last_used_at" = v.at, "last_used_ip" = v.ip
              FROM unnest(${v.id}, ${v.at}, ${v.ip}) AS v(id, at, ip)
             WHERE t."id" = v.id
               AND (t."last_used_at" IS NULL OR t."last_used_at" <= v.at - ${bind(`${resolutionMs} milliseconds`, 'interval')}
                    OR (t."last_used_at" < v.at AND t."last_used_ip" IS DISTINCT FROM v.ip))`;
  }
}

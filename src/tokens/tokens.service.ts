import { randomUUID } from 'node:crypto';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { Scope } from '../../libs/scopes/src/index.js';
import { AuditWriter, type BatchEvent, type BatchStatement, type Bind } from '../audit/audit.writer.js';
import type { Principal } from '../access/principal.js';
import type { Role } from '../access/role.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { PoliciesService } from '../policies/policies.service.js';
import { DEFAULT_POLICY, enforcePolicy, WRITE_SCOPES, type TokenPolicy } from '../policies/token-policy.js';
import { RevocationBus } from '../revocation/revocation.bus.js';
import type { RevocationEvent } from '../revocation/revocation-events.repository.js';
import { UsersRepository } from '../users/users.repository.js';
import { UsersService } from '../users/users.service.js';
import { type ApiToken, tokenStatus } from './api-token.entity.js';
import { parseAllowlist } from './ip-allowlist.js';
import { fingerprintOf, TokenCodec } from './token-codec.js';
import { refusedScopes } from './token-scopes.js';
import { canonicalResource } from '../common/resource-uri.js';
import { IMMUTABLE_TOKEN_FIELDS, type CreatedTokenView, type TokenView, type UpdateTokenDto } from './tokens.dto.js';
import { TokensRepository } from './tokens.repository.js';

const DAY_MS = 86_400_000;

function audienceRefused(): AppError {
  return AppError.badRequest(AUDIENCE_REFUSED, [
    { field: 'audience', message: 'audience must be the resource URI of a registered active MCP server' },
  ]);
}
/** The 403 code of a rotation asked for by an admin who does not own the token. */
export const NOT_TOKEN_OWNER = 'not_token_owner';
/** The 400 code of a PATCH that tries to change what a token's text carries (its scopes, its lifetime). */
export const TOKEN_IMMUTABLE = 'token_immutable';

/** A list as given to the API in canonical form; null for none (absent, null or []). */
function canonicalAllowlist(value: unknown): string[] | null {
  const parsed = parseAllowlist(value);
  if (!parsed.ok) throw AppError.badRequest(`Invalid request: ${parsed.message}`, [{ field: 'allowedIps', message: parsed.message }]);
  return parsed.entries.length > 0 ? parsed.entries : null;
}

const sameList = (a: readonly string[] | null, b: readonly string[] | null): boolean =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === b?.[i]);

export function toTokenView(t: ApiToken, now = Date.now()): TokenView {
  return {
    id: t.id,
    name: t.name,
    scopes: t.scopes,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    revokedAt: t.revokedAt ? t.revokedAt.toISOString() : null,
    revokedReason: t.revokedAt ? t.revokedReason : null,
    lastUsedAt: t.lastUsedAt ? t.lastUsedAt.toISOString() : null,
    lastUsedIp: t.lastUsedIp,
    allowedIps: t.allowedIps,
    status: tokenStatus(t, now),
    audience: t.audience,
    viaClient: t.viaClientId ? { clientId: t.viaClientId, name: t.viaClientName ?? t.viaClientId } : null,
  };
}

/** A token to issue inside the caller's transaction (TokensService.issueWithin): the authorization server's access tokens. */
export interface IssueWithinInput {
  userId: string;
  /** The token's name (for an OAuth token, the client's name), 1–100 characters. */
  name: string;
  scopes: Scope[];
  /** Lifetime in whole seconds, 1 to 365 days' worth: OAuth access tokens are short (an hour). */
  lifetimeSeconds: number;
  /** The resource the token is bound to (an active registered server's resource URI), or null. */
  audience: string | null;
  /** The OAuth client it is issued to, listed as "via <name>". */
  viaClient?: { clientId: string; name: string };
}

/** What issueWithin gives: the token's text (never stored), its id and expiry. */
export interface IssuedToken {
  token: string;
  id: string;
  expiresAt: Date;
}

const MAX_LIFETIME_SECONDS = 365 * 86_400;
const AUDIENCE_REFUSED = 'Audience invalide : elle doit être l’URI de ressource d’un serveur MCP enregistré et actif (GET /api/mcp/clients)';

/**
 * How close together two uses of a token may be for the second not to be written: lastUsedAt is
 * exact to the minute. Every use is in the audit log to the millisecond.
 */
export const LAST_USE_RESOLUTION_MS = 60_000;
const MAX_LAST_USE_REMEMBERED = 100_000;

@Injectable()
export class TokensService implements OnModuleInit {
  constructor(
    private readonly tokens: TokensRepository,
    private readonly users: UsersRepository,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly codec: TokenCodec,
    private readonly audit: AuditWriter,
    private readonly revocations: RevocationBus,
    private readonly accounts: UsersService,
    private readonly policies: PoliciesService,
  ) {}

  /** The last use this instance wrote, per token (see lastUseStatement). */
  private readonly lastUseWritten = new Map<string, { at: number; ip: string | null }>();

  onModuleInit(): void {
    // A valid validation's last use is written in the same transaction as its audit event.
    this.audit.onBatch((events, bind) => this.lastUseStatement(events, bind));
    // Disabling an account revokes all its tokens in the same transaction: enabling it again
    // brings none back. The account's revocation event (published by the same transaction) drops
    // them from every cache and names them on the revocation stream.
    this.accounts.onDisable(async (m, userId) => ({ revokedTokens: (await this.tokens.revokeAllOf(userId, 'owner_disabled', m)).length }));
    // A token policy applied to the existing tokens revokes those that break it, in the change's transaction.
    this.policies.onApplyToExisting((m, policy, actorUserId, ctx) => this.revokeNonCompliant(m, policy, actorUserId, ctx));
  }

  async create(
    p: Principal,
    input: { name: string; scopes: Scope[]; durationDays: number; audience?: string | null; allowedIps?: string[] | null },
    ctx: RequestContext,
  ): Promise<CreatedTokenView> {
    const allowedIps = canonicalAllowlist(input.allowedIps);
    const refused = refusedScopes(p.role, input.scopes);
    if (refused.length > 0) {
      throw new AppError(403, ErrorCode.ScopeNotAllowed, `Only auditors and admins may grant ${refused.join(', ')}`, {
        fields: [{ field: 'scopes', message: `${refused.join(', ')} may only be granted by auditors and admins` }],
      });
    }
    const audience = input.audience ? canonicalResource(input.audience) : null;
    if (input.audience && !audience) throw audienceRefused();
    const { entity, token } = await this.dataSource.transaction(async (m) => {
      const role = await this.lockEnabledOwner(p.userId, m);
      enforcePolicy(await this.policies.forIssue(m), { role, scopes: input.scopes, durationDays: input.durationDays, allowedIps });
      if (audience) await this.checkAudience(audience, input.scopes, m);
      const issued = await this.issue(m, {
        userId: p.userId,
        name: input.name,
        scopes: input.scopes,
        lifetimeMs: input.durationDays * DAY_MS,
        audience,
        viaClient: null,
        allowedIps,
      });
      await this.audit.recordWithin(m, {
        type: 'token.create',
        outcome: 'success',
        actorUserId: p.userId,
        tokenId: issued.entity.id,
        ...ctx,
        details: {
          name: issued.entity.name,
          scopes: issued.entity.scopes,
          durationDays: input.durationDays,
          ...(allowedIps ? { allowedIps } : {}),
          fingerprint: issued.entity.fingerprint,
          ...(audience ? { audience } : {}),
        },
      });
      return issued;
    });
    return this.created(entity, token);
  }

  /**
   * Issues a token inside the caller's transaction `m` (the authorization server's code and refresh
   * grants): a token like any other, owned by `userId`, optionally bound to `audience` and naming
   * the client it was issued to; audited as token.create (with the client) in the same transaction.
   * Locks the owner's row for share (an account disabled meanwhile is refused with 401) and refuses
   * what the owner may not hold or the resource does not accept (403 scope_not_allowed), an unknown
   * or revoked resource (400), a lifetime outside 1 s – 365 days.
   */
  async issueWithin(m: EntityManager, input: IssueWithinInput, ctx: RequestContext): Promise<IssuedToken> {
    if (!Number.isSafeInteger(input.lifetimeSeconds) || input.lifetimeSeconds < 1 || input.lifetimeSeconds > MAX_LIFETIME_SECONDS) {
      throw new RangeError('lifetimeSeconds must be a whole number of seconds, 1 to 365 days');
    }
    if (input.name.length < 1 || input.name.length > 100) throw new RangeError('name must be 1–100 characters');
    const audience = input.audience === null ? null : canonicalResource(input.audience);
    if (input.audience !== null && !audience) throw audienceRefused();
    const role = await this.lockEnabledOwner(input.userId, m);
    const refused = refusedScopes(role, input.scopes);
    if (refused.length > 0) throw new AppError(403, ErrorCode.ScopeNotAllowed, `Only auditors and admins may hold ${refused.join(', ')}`);
    if (audience) await this.checkAudience(audience, input.scopes, m);
    const viaClient = input.viaClient ? { clientId: input.viaClient.clientId, name: input.viaClient.name.slice(0, 200) } : null;
    const { entity, token } = await this.issue(m, {
      userId: input.userId,
      name: input.name,
      scopes: input.scopes,
      lifetimeMs: input.lifetimeSeconds * 1000,
      audience,
      viaClient,
      allowedIps: null,
    });
    await this.audit.recordWithin(m, {
      type: 'token.create',
      outcome: 'success',
      actorUserId: input.userId,
      tokenId: entity.id,
      ...ctx,
      details: {
        name: entity.name,
        scopes: entity.scopes,
        lifetimeSeconds: input.lifetimeSeconds,
        fingerprint: entity.fingerprint,
        ...(audience ? { audience } : {}),
        ...(viaClient ? { viaClient } : {}),
      },
    });
    return { token, id: entity.id, expiresAt: entity.expiresAt };
  }

  /** A bound token's resource is an active registered server that accepts every one of its scopes; 400 otherwise. */
  private async checkAudience(audience: string, scopes: readonly Scope[], m: EntityManager): Promise<void> {
    const accepted = await this.tokens.acceptedScopesOfResource(audience, m);
    if (!accepted) throw audienceRefused();
    const notAccepted = scopes.filter((s) => !accepted.includes(s));
    if (notAccepted.length > 0) {
      const message = `Ce serveur MCP n’accepte pas ${notAccepted.join(', ')}`;
      throw AppError.badRequest(message, [{ field: 'scopes', message: `${notAccepted.join(', ')} not accepted by the audience's MCP server` }]);
    }
  }

  async list(userId: string): Promise<TokenView[]> {
    const rows = await this.tokens.listOf(userId);
    const now = Date.now();
    return rows.map((t) => toTokenView(t, now));
  }

  /** The token if the caller owns it or is an admin; otherwise 404, so that ids of others are not revealed. */
  async getFor(p: Principal, id: string): Promise<ApiToken> {
    const token = await this.tokens.findById(id);
    if (!token || (token.userId !== p.userId && p.role !== 'admin')) throw AppError.notFound('Token');
    return token;
  }

  /** Revokes the token; revoking a revoked token is not an error. Effective everywhere before this returns. */
  async revoke(p: Principal, id: string, ctx: RequestContext): Promise<void> {
    const token = await this.getFor(p, id);
    const event = await this.dataSource.transaction(async (m) => {
      const published = (await this.tokens.revoke(token.id, m)) ? await this.revocations.publish(m, 'token', token.id) : undefined;
      await this.audit.recordWithin(m, {
        type: 'token.revoke',
        outcome: published ? 'success' : 'already_revoked',
        actorUserId: p.userId,
        tokenId: token.id,
        ...ctx,
        details: { ownerId: token.userId, name: token.name },
      });
      return published;
    });
    if (event) await this.revocations.settled(event);
  }

  /**
   * A new token with the same name and scopes; the old one is revoked in the same transaction.
   * Only the owner may rotate: the answer carries the new token's text, and whoever holds it acts
   * as the owner on every MCP server. An admin may revoke another's token, not rotate it.
   */
  async rotate(p: Principal, id: string, durationDays: number | undefined, ctx: RequestContext): Promise<CreatedTokenView> {
    const visible = await this.getFor(p, id);
    if (visible.userId !== p.userId) throw new AppError(403, NOT_TOKEN_OWNER, 'Only the owner of a token may rotate it: revoke it instead');
    const { entity, token, revocation } = await this.dataSource.transaction(async (m) => {
      // The owner's row first, then the token's: the order a disable takes them in.
      const role = await this.lockEnabledOwner(visible.userId, m);
      const current = await this.tokens.lockById(visible.id, m);
      if (!current) throw AppError.notFound('Token');
      if (current.revokedAt) throw new AppError(409, 'token_revoked', 'This token is revoked: create a new one instead');
      const refused = refusedScopes(role, current.scopes);
      if (refused.length > 0) {
        throw new AppError(
          403,
          ErrorCode.ScopeNotAllowed,
          `The owner may no longer hold ${refused.join(', ')}: create a new token instead`,
        );
      }
      const policy = await this.policies.forIssue(m);
      // By default the old token's lifetime, within the policy's maximum.
      const days =
        durationDays ??
        Math.min(policy.maxLifetimeDays, Math.max(1, Math.round((current.expiresAt.getTime() - current.createdAt.getTime()) / DAY_MS)));
      enforcePolicy(policy, { role, scopes: current.scopes, durationDays: days, allowedIps: current.allowedIps });
      // The new token keeps the old one's audience, client and IP allowlist.
      const issued = await this.issue(m, {
        userId: current.userId,
        name: current.name,
        scopes: current.scopes,
        lifetimeMs: days * DAY_MS,
        audience: current.audience,
        viaClient: current.viaClientId ? { clientId: current.viaClientId, name: current.viaClientName ?? current.viaClientId } : null,
        allowedIps: current.allowedIps,
      });
      await this.tokens.update(current.id, { revokedAt: new Date(), revokedReason: 'rotated', replacedBy: issued.entity.id }, m);
      const revocation = await this.revocations.publish(m, 'token', current.id);
      const { entity } = issued;
      await this.audit.recordWithin(m, {
        type: 'token.rotate',
        outcome: 'success',
        actorUserId: p.userId,
        tokenId: entity.id,
        ...ctx,
        details: {
          previousTokenId: current.id,
          ownerId: current.userId,
          name: entity.name,
          scopes: entity.scopes,
          fingerprint: entity.fingerprint,
        },
      });
      return { ...issued, revocation };
    });
    await this.revocations.settled(revocation);
    return this.created(entity, token);
  }

  /**
   * Locks the owner's row (FOR SHARE) for the rest of the transaction and gives their role; an
   * account disabled meanwhile is refused as its session would be. A disable waits for this
   * transaction, then revokes the token it issued too: none is issued after the disable's revocation.
   */
  private async lockEnabledOwner(userId: string, m: EntityManager): Promise<Role> {
    const role = await this.users.lockEnabledForShare(userId, m);
    if (!role) throw AppError.unauthorized();
    return role;
  }

  private async issue(
    m: EntityManager,
    input: {
      userId: string;
      name: string;
      scopes: Scope[];
      lifetimeMs: number;
      audience: string | null;
      viaClient: { clientId: string; name: string } | null;
      allowedIps: string[] | null;
    },
  ) {
    const { userId, name, scopes, audience } = input;
    // Whole seconds, as the JWT's iat and exp; tokens of the same second are ordered by `seq`.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const expiresAt = new Date(now.getTime() + input.lifetimeMs);
    const id = randomUUID();
    const token = this.codec.sign({ userId, tokenId: id, scopes, issuedAt: now, expiresAt, audience });
    const entity = await this.tokens.insert(
      {
        id,
        userId,
        name,
        scopes,
        fingerprint: fingerprintOf(token),
        createdAt: now,
        expiresAt,
        revokedAt: null,
        revokedReason: null,
        lastUsedAt: null,
        lastUsedIp: null,
        allowedIps: input.allowedIps,
        replacedBy: null,
        audience,
        viaClientId: input.viaClient?.clientId ?? null,
        viaClientName: input.viaClient?.name ?? null,
      },
      m,
    );
    return { entity, token };
  }

  private created(t: ApiToken, token: string): CreatedTokenView {
    return {
      id: t.id,
      name: t.name,
      scopes: t.scopes,
      createdAt: t.createdAt.toISOString(),
      expiresAt: t.expiresAt.toISOString(),
      audience: t.audience,
      allowedIps: t.allowedIps,
      token,
    };
  }

  /**
   * PATCH: a new name and/or IP allowlist, by the owner only (their scopes and lifetime are in the
   * token's text and never change). Audited as `token.update` with what changed; every cache of the
   * token (this service's instances, MCP servers following the revocation stream) drops it before
   * this returns, so the next call is checked against the new list.
   */
  async update(p: Principal, id: string, dto: UpdateTokenDto, ctx: RequestContext): Promise<TokenView> {
    const immutable = IMMUTABLE_TOKEN_FIELDS.filter((f) => dto[f] !== undefined);
    if (immutable.length > 0) {
      const message = 'Les portées et la durée de vie d’un token ne peuvent pas être modifiées : créez un nouveau token (ou renouvelez celui-ci)';
      throw new AppError(400, TOKEN_IMMUTABLE, message, { fields: immutable.map((field) => ({ field, message })) });
    }
    if (dto.name === undefined && dto.allowedIps === undefined) {
      throw AppError.badRequest('Invalid request: name or allowedIps is required', [{ field: 'name', message: 'name or allowedIps is required' }]);
    }
    const allowedIps = dto.allowedIps === undefined ? undefined : canonicalAllowlist(dto.allowedIps);
    const visible = await this.getFor(p, id);
    if (visible.userId !== p.userId) throw new AppError(403, NOT_TOKEN_OWNER, 'Seul le propriétaire d’un token peut le modifier');
    const { updated, event } = await this.dataSource.transaction(async (m) => {
      const role = await this.lockEnabledOwner(visible.userId, m);
      const current = await this.tokens.lockById(visible.id, m);
      if (!current) throw AppError.notFound('Token');
      if (current.revokedAt) throw new AppError(409, 'token_revoked', 'Ce token est révoqué : il ne peut plus être modifié');
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      const set: { name?: string; allowedIps?: string[] | null } = {};
      if (dto.name !== undefined && dto.name !== current.name) {
        changes.name = { from: current.name, to: dto.name };
        set.name = dto.name;
      }
      if (allowedIps !== undefined && !sameList(allowedIps, current.allowedIps)) {
        // Only the allowlist rule is about a change: the others are about new tokens.
        const policy = await this.policies.forIssue(m);
        enforcePolicy({ ...DEFAULT_POLICY, allowlistRequiredForWrite: policy.allowlistRequiredForWrite }, { role, scopes: current.scopes, allowedIps });
        changes.allowedIps = { from: current.allowedIps, to: allowedIps };
        set.allowedIps = allowedIps;
      }
      let event: RevocationEvent | undefined;
      if (Object.keys(set).length > 0) {
        await this.tokens.update(current.id, set, m);
        // Not a revocation: the token's cached states (and validate answers) are dropped everywhere.
        event = await this.revocations.publish(m, 'token', current.id);
      }
      await this.audit.recordWithin(m, {
        type: 'token.update',
        outcome: 'success',
        actorUserId: p.userId,
        tokenId: current.id,
        ...ctx,
        details: { ownerId: current.userId, changes },
      });
      return { updated: { ...current, ...set }, event };
    });
    if (event) await this.revocations.settled(event);
    return toTokenView(updated);
  }

  /** The "apply to existing tokens" of a policy change (PoliciesService.update), in its transaction. */
  private async revokeNonCompliant(
    m: EntityManager,
    policy: TokenPolicy,
    actorUserId: string,
    ctx: RequestContext,
  ): Promise<{ revokedTokens: number; afterCommit: () => Promise<void> }> {
    const found = await this.tokens.nonCompliant(
      {
        maxLifetimeDays: policy.maxLifetimeDays,
        restricted: policy.restrictedScopes as Record<string, readonly string[]>,
        allowlistRequired: policy.allowlistRequiredForWrite,
        writeScopes: WRITE_SCOPES,
      },
      m,
    );
    const events: RevocationEvent[] = [];
    for (const t of found) {
      if (!(await this.tokens.revokeWithReason(t.id, 'policy', m))) continue;
      events.push(await this.revocations.publish(m, 'token', t.id));
      await this.audit.recordWithin(m, {
        type: 'token.revoke',
        outcome: 'success',
        actorUserId,
        tokenId: t.id,
        ...ctx,
        details: { ownerId: t.userId, name: t.name, reason: 'policy' },
      });
    }
    const afterCommit = async (): Promise<void> => {
      for (const e of events) await this.revocations.settled(e);
    };
    return { revokedTokens: events.length, afterCommit };
  }

  /**
   * Token last-use times and addresses, committed with the batch of events that shows the uses.
   * A use less than LAST_USE_RESOLUTION_MS (a minute) after the last one this instance wrote for
   * the token, from the same address, is not written again: lastUsedAt is exact to the minute, and
   * a token used on every MCP request costs one row update a minute rather than one per call. The
   * update applies the same rule to what is stored, so that instances sharing the token's calls do
   * not each write it every minute. An instance remembers a use as written even when the stored
   * time made the write unnecessary, so with several instances the stored time can trail the latest
   * use by up to about two minutes. A use from another address is written at once.
   */
  private lastUseStatement(events: readonly BatchEvent[], bind: Bind): BatchStatement | undefined {
    const latest = new Map<string, { at: string; ip: string | null }>();
    for (const e of events) {
      // A token presented to an MCP server is used whether the server validates or introspects it.
      if ((e.type === 'token.validate' || e.type === 'token.introspect') && e.outcome === 'valid' && e.tokenId) {
        latest.set(e.tokenId, { at: e.occurredAt, ip: e.ip });
      }
    }
    for (const [id, use] of latest) {
      const written = this.lastUseWritten.get(id);
      if (written && written.ip === use.ip && Date.parse(use.at) - written.at < LAST_USE_RESOLUTION_MS) latest.delete(id);
    }
    if (latest.size === 0) return undefined;
    // Remembered as written only once the batch has committed: a failed batch's uses are written again.
    const committed = (): void => {
      for (const [id, use] of latest) {
        if (this.lastUseWritten.size >= MAX_LAST_USE_REMEMBERED) this.lastUseWritten.clear();
        this.lastUseWritten.set(id, { at: Date.parse(use.at), ip: use.ip });
      }
    };
    // In id order, so that batches on several connections lock the rows in the same order.
    const ids = [...latest.keys()].sort();
    const uses = { ids, ats: ids.map((id) => latest.get(id)!.at), ips: ids.map((id) => latest.get(id)!.ip) };
    return { sql: this.tokens.lastUseUpdate(uses, LAST_USE_RESOLUTION_MS, bind), committed };
  }
}

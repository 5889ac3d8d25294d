import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AuditWriter } from '../audit/audit.writer.js';
import type { Principal } from '../access/principal.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { isDatabaseUnavailable } from '../database/db-errors.js';
import type { ClientCredentials } from './client-credentials.js';
import type { CreatedMcpClientView, McpClientView } from './mcp-clients.dto.js';
import { McpClientsRepository, type McpClientRow } from './mcp-clients.repository.js';
import { UUID_PATTERN } from '../common/uuid.js';
import { RevocationBus } from '../revocation/revocation.bus.js';
import { VerifiedClientsCache, type AuthenticatedClient } from './verified-clients.cache.js';

export type { AuthenticatedClient } from './verified-clients.cache.js';

/** A stored last use is refreshed at most this often by one instance (it is kept to the minute). */
const TOUCH_EVERY_MS = 60_000;

/**
 * The secret is 32 random bytes: 256 bits that no one can guess or brute-force,
 * so a fast hash is enough to keep it from being read back (a slow password hash
 * such as Argon2id protects low-entropy human passwords, and would make every
 * introspection call and stream connection cost tens of milliseconds of CPU).
 */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function view(r: McpClientRow): McpClientView {
  return {
    id: r.id,
    clientId: r.client_id,
    name: r.name,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
    lastUsedAt: r.last_used_at ? r.last_used_at.toISOString() : null,
    status: r.revoked_at ? 'revoked' : 'active',
  };
}

/** A comparison target for unknown client ids, so that both cases do the same work. */
const DUMMY_HASH = secretHash('hospiai-unknown-client');

/** Registered MCP servers: created by admins, shown once, stored hashed, revocable. */
@Injectable()
export class McpClientsService {
  private readonly logger = new Logger(McpClientsService.name);
  private readonly emitter = new EventEmitter();
  /** When this instance last recorded each client's use (by internal id). */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly clients: McpClientsRepository,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditWriter,
    private readonly verified: VerifiedClientsCache,
    private readonly revocations: RevocationBus,
  ) {
    this.emitter.setMaxListeners(0);
  }

  async create(p: Principal, name: string, ctx: RequestContext): Promise<CreatedMcpClientView> {
    const id = randomUUID();
    const clientId = `mcp_${randomBytes(12).toString('base64url')}`;
    const clientSecret = `mcps_${randomBytes(32).toString('base64url')}`;
    const row = await this.dataSource.transaction(async (m) => {
      const created = await this.clients.insert(
        { id, client_id: clientId, name, secret_hash: secretHash(clientSecret), created_by: p.userId },
        m,
      );
      await this.audit.recordWithin(m, {
        type: 'mcp_client.create',
        outcome: 'success',
        actorUserId: p.userId,
        ...ctx,
        details: { id, clientId, name },
      });
      return created;
    });
    return { ...view(row), clientSecret };
  }

  async list(): Promise<McpClientView[]> {
    const rows = await this.clients.list();
    return rows.map(view);
  }

  /**
   * Revokes a client: its credentials stop working at once, on every instance (the revocation is
   * notified in the revoking transaction and acknowledged by every listening instance before this
   * answers), and its open streams close. Twice is not an error.
   */
  async revoke(p: Principal, id: string, ctx: RequestContext): Promise<void> {
    const row = await this.clients.findById(id);
    if (!row) throw AppError.notFound('MCP client');
    const published = await this.dataSource.transaction(async (m) => {
      const changed = await this.clients.revoke(id, m);
      await this.audit.recordWithin(m, {
        type: 'mcp_client.revoke',
        outcome: changed ? 'success' : 'already_revoked',
        actorUserId: p.userId,
        ...ctx,
        details: { id: row.id, clientId: row.client_id, name: row.name },
      });
      return changed ? await this.revocations.publishClient(m, row.id) : undefined;
    });
    this.verified.drop(row.id);
    if (published) {
      await this.revocations.settled(published);
      this.emitter.emit('revoked', row.id);
    }
  }

  /** Called with the id of each client revoked by this instance. */
  onRevoked(listener: (id: string) => void): () => void {
    this.emitter.on('revoked', listener);
    return () => this.emitter.off('revoked', listener);
  }

  /**
   * The client these credentials belong to, or `undefined` (unknown id, wrong secret, revoked).
   * Throws a 503 AppError when the database cannot be reached.
   */
  async authenticate(credentials: ClientCredentials): Promise<AuthenticatedClient | undefined> {
    const client = await this.verified.get(credentials, () => this.verify(credentials));
    if (client) this.touch(client.id);
    return client;
  }

  /** Checks credentials against the database (the cache's miss). */
  private async verify(credentials: ClientCredentials): Promise<AuthenticatedClient | undefined> {
    let row: McpClientRow | undefined;
    try {
      row = await this.clients.findByClientId(credentials.clientId);
    } catch (err) {
      if (isDatabaseUnavailable(err))
        throw new AppError(503, ErrorCode.ServiceUnavailable, 'Service indisponible', {}, { 'Retry-After': '5' });
      throw err;
    }
    const given = Buffer.from(secretHash(credentials.clientSecret), 'hex');
    const stored = Buffer.from(row?.secret_hash ?? DUMMY_HASH, 'hex');
    const matches = given.length === stored.length && timingSafeEqual(given, stored);
    if (!row || !matches || row.revoked_at) return undefined;
    return { id: row.id, clientId: row.client_id, name: row.name };
  }

  /** Last use to the minute: at most one write a minute per client and instance, none on most calls. */
  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.touched.get(id) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(id, now);
    if (this.touched.size > 10_000) this.touched.delete(this.touched.keys().next().value as string);
    this.clients.touchLastUsed(id).catch((err: unknown) => this.logger.warn({ err }, 'could not record the last use of an MCP client'));
  }

  /** Whether a client is still registered and not revoked (streams check it now and then). */
  async isActive(id: string): Promise<boolean> {
    if (!UUID_PATTERN.test(id)) return false;
    return this.clients.isActive(id);
  }
}

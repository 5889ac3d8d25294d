import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AuditWriter } from '../audit/audit.writer.js';
import type { Principal } from '../access/principal.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { isDatabaseUnavailable, isUniqueViolation } from '../database/db-errors.js';
import { SCOPE_NAMES, isScope } from '../../libs/scopes/src/index.js';
import type { ClientCredentials } from './client-credentials.js';
import type { CreatedMcpClientView, McpClientView } from './mcp-clients.dto.js';
import { McpClientsRepository, type McpClientRow } from './mcp-clients.repository.js';
import { canonicalResource } from './resource-uri.js';

export { canonicalResource } from './resource-uri.js';
import { UUID_PATTERN } from '../common/uuid.js';
import { RevocationBus } from '../revocation/revocation.bus.js';
import { VerifiedClientsCache, type AuthenticatedClient } from './verified-clients.cache.js';

export type { AuthenticatedClient } from './verified-clients.cache.js';

/** A stored last use is refreshed at most this often by one instance (it is kept to the minute). */
const TOUCH_EVERY_MS = 60_000;

/** A registered, active MCP server seen as an OAuth protected resource (RFC 8707, RFC 9728). */
export interface McpResource {
  id: string;
  clientId: string;
  name: string;
  /** Canonical (see ./resource-uri.ts). */
  resourceUri: string;
  /** The scopes a token for this server may carry. */
  acceptedScopes: string[];
}

/** What an admin may set on a registered server (create, PATCH). */
export interface McpClientChanges {
  name?: string;
  /** Null removes it. */
  resourceUri?: string | null;
  acceptedScopes?: string[];
}

const RESOURCE_TAKEN_MESSAGE = 'Cette URI de ressource est déjà celle d’un autre serveur MCP actif';

/** The resource URI in its canonical form, or a 400 naming the field. */
function canonicalOrRefused(uri: string): string {
  const canonical = canonicalResource(uri);
  if (!canonical) {
    throw AppError.badRequest('URI de ressource invalide : une URL https absolue (http seulement sur la boucle locale), sans fragment', [
      { field: 'resourceUri', message: 'resourceUri must be an absolute https URL (http only on loopback), without fragment or credentials' },
    ]);
  }
  return canonical;
}

/** The accepted scopes in catalogue order, or a 400 naming the field. */
function acceptedOrRefused(scopes: string[]): string[] {
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0 || scopes.length === 0) {
    throw AppError.badRequest('Scopes acceptés invalides : des noms du catalogue (GET /api/tokens/scopes), au moins un', [
      { field: 'acceptedScopes', message: 'acceptedScopes must be a non-empty list of scopes from GET /api/tokens/scopes' },
    ]);
  }
  return SCOPE_NAMES.filter((s) => scopes.includes(s));
}

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
    resourceUri: r.resource_uri,
    acceptedScopes: r.accepted_scopes,
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

  async create(
    p: Principal,
    input: { name: string; resourceUri?: string | null; acceptedScopes?: string[] },
    ctx: RequestContext,
  ): Promise<CreatedMcpClientView> {
    const id = randomUUID();
    const clientId = `mcp_${randomBytes(12).toString('base64url')}`;
    const clientSecret = `mcps_${randomBytes(32).toString('base64url')}`;
    const name = input.name;
    const resourceUri = input.resourceUri ? canonicalOrRefused(input.resourceUri) : null;
    const acceptedScopes = input.acceptedScopes !== undefined ? acceptedOrRefused(input.acceptedScopes) : [...SCOPE_NAMES];
    const row = await this.resourceConflictAs409(() =>
      this.dataSource.transaction(async (m) => {
        const created = await this.clients.insert(
          {
            id,
            client_id: clientId,
            name,
            secret_hash: secretHash(clientSecret),
            created_by: p.userId,
            resource_uri: resourceUri,
            accepted_scopes: acceptedScopes,
          },
          m,
        );
        await this.audit.recordWithin(m, {
          type: 'mcp_client.create',
          outcome: 'success',
          actorUserId: p.userId,
          ...ctx,
          details: { id, clientId, name, resourceUri, acceptedScopes },
        });
        return created;
      }),
    );
    return { ...view(row), clientSecret };
  }

  /**
   * Changes a registered server's name, resource URI or accepted scopes (an admin's PATCH); the
   * event names what changed, before and after. Tokens already bound to the old resource URI stay
   * bound to it (and so are refused by the server under its new URI).
   */
  async update(p: Principal, id: string, changes: McpClientChanges, ctx: RequestContext): Promise<McpClientView> {
    const set: Partial<Pick<McpClientRow, 'name' | 'resource_uri' | 'accepted_scopes'>> = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.resourceUri !== undefined) set.resource_uri = changes.resourceUri === null ? null : canonicalOrRefused(changes.resourceUri);
    if (changes.acceptedScopes !== undefined) set.accepted_scopes = acceptedOrRefused(changes.acceptedScopes);
    const { row, published } = await this.resourceConflictAs409(() =>
      this.dataSource.transaction(async (m) => {
        const before = await this.clients.lockById(id, m);
        if (!before) throw AppError.notFound('MCP client');
        if (before.revoked_at) throw new AppError(409, 'mcp_client_revoked', 'Ce serveur MCP est révoqué : enregistrez-en un nouveau');
        const after = (await this.clients.update(id, set, m))!;
        const changed: Record<string, { from: unknown; to: unknown }> = {};
        if (set.name !== undefined && before.name !== after.name) changed.name = { from: before.name, to: after.name };
        if (set.resource_uri !== undefined && before.resource_uri !== after.resource_uri) {
          changed.resourceUri = { from: before.resource_uri, to: after.resource_uri };
        }
        if (set.accepted_scopes !== undefined && before.accepted_scopes.join(' ') !== after.accepted_scopes.join(' ')) {
          changed.acceptedScopes = { from: before.accepted_scopes, to: after.accepted_scopes };
        }
        await this.audit.recordWithin(m, {
          type: 'mcp_client.update',
          outcome: 'success',
          actorUserId: p.userId,
          ...ctx,
          details: { id: after.id, clientId: after.client_id, name: after.name, changes: changed },
        });
        // Introspection keeps verified credentials with their resource URI: every instance drops them.
        return { row: after, published: changed.resourceUri ? await this.revocations.publishClient(m, after.id) : undefined };
      }),
    );
    this.verified.drop(row.id);
    if (published) await this.revocations.settled(published);
    return view(row);
  }

  /**
   * The active registered server whose canonical resource URI is `resourceUri` (canonicalised
   * here first), or null. For the authorization server (RFC 8707 `resource`).
   */
  async findByResource(resourceUri: string): Promise<McpResource | null> {
    const canonical = canonicalResource(resourceUri);
    if (!canonical) return null;
    const row = await this.clients.findActiveByResource(canonical);
    if (!row || row.revoked_at || !row.resource_uri) return null;
    return { id: row.id, clientId: row.client_id, name: row.name, resourceUri: row.resource_uri, acceptedScopes: row.accepted_scopes };
  }

  private async resourceConflictAs409<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(409, 'resource_uri_taken', RESOURCE_TAKEN_MESSAGE, { fields: [{ field: 'resourceUri', message: RESOURCE_TAKEN_MESSAGE }] });
      }
      throw err;
    }
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
    return { id: row.id, clientId: row.client_id, name: row.name, resourceUri: row.resource_uri };
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

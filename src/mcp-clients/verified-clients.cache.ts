import { createHash } from 'node:crypto';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { RevocationBus } from '../revocation/revocation.bus.js';
import type { ClientCredentials } from './client-credentials.js';

/** A registered MCP server that has just proved who it is. */
export interface AuthenticatedClient {
  id: string;
  clientId: string;
  name: string;
  /** Its canonical resource URI: introspection refuses tokens bound to another one. */
  resourceUri: string | null;
}

const MAX_ENTRIES = 1_000;
/** A safety net only: entries are dropped the moment a client's revocation is notified. */
const TTL_MS = 5 * 60_000;

interface Entry {
  client: AuthenticatedClient;
  at: number;
}

/**
 * MCP client credentials already verified against the database, so that introspection does not
 * read `mcp_client` on every call. Keyed by a SHA-256 of the client id and the secret together (the
 * secret is never kept): only the exact pair that was verified finds an entry; any other pair (a
 * wrong secret) is checked against the database as before.
 *
 * A client's entries are dropped the moment its revocation is notified (LISTEN/NOTIFY, on the
 * revocation channel, acknowledged by every instance before the revoke is answered); while the
 * channel is down the cache is bypassed, and what was read while a revocation or a reconnection
 * happened is not kept (RevocationBus.epoch).
 */
@Injectable()
export class VerifiedClientsCache implements OnApplicationShutdown {
  private readonly entries = new Map<string, Entry>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly bus: RevocationBus) {
    this.unsubscribe.push(
      bus.onClientRevocation((e) => this.drop(e.subjectId)),
      bus.onReset(() => this.entries.clear()),
    );
  }

  onApplicationShutdown(): void {
    for (const u of this.unsubscribe) u();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops the entries of one client (by its internal id). */
  drop(id: string): void {
    for (const [key, entry] of this.entries) if (entry.client.id === id) this.entries.delete(key);
  }

  /** The client these credentials were verified for, or else what `verify` says (kept when it names a client). */
  async get(
    credentials: ClientCredentials,
    verify: () => Promise<AuthenticatedClient | undefined>,
  ): Promise<AuthenticatedClient | undefined> {
    if (!this.bus.healthy) return verify();
    const key = createHash('sha256').update(credentials.clientId).update('\0').update(credentials.clientSecret).digest('base64');
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < TTL_MS) return hit.client;
    const epoch = this.bus.epoch;
    const client = await verify();
    if (client && this.bus.healthy && this.bus.epoch === epoch) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.delete(key);
      this.entries.set(key, { client, at: now });
    }
    return client;
  }
}

import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { RevocationBus } from '../revocation/revocation.bus.js';
import type { TokenState } from '../tokens/tokens.repository.js';

const MAX_ENTRIES = 50_000;
/** A safety net only: entries are dropped the moment a revocation is notified. */
const TTL_MS = 60_000;

interface Entry {
  state: TokenState;
  at: number;
}

/**
 * Token and owner state for validation, kept in memory and dropped the moment
 * a revocation is notified (LISTEN/NOTIFY). While the notification channel is
 * down it is bypassed: every validation reads the database.
 */
@Injectable()
export class TokenStateCache implements OnApplicationShutdown {
  private readonly entries = new Map<string, Entry>();
  private readonly unsubscribe: (() => void)[] = [];
  hits = 0;
  misses = 0;

  constructor(private readonly bus: RevocationBus) {
    this.unsubscribe.push(
      bus.onRevocation((e) => {
        if (e.kind === 'token') this.entries.delete(e.subjectId);
        else for (const [id, entry] of this.entries) if (entry.state.userId === e.subjectId) this.entries.delete(id);
      }),
      bus.onReset(() => this.entries.clear()),
    );
  }

  /**
   * After the HTTP server has closed (Nest runs onModuleDestroy before it, while requests in flight
   * and those that come on open connections are still answered): until then, a revocation must still
   * drop what is cached, or this instance would acknowledge it and go on answering 200 from its cache.
   */
  onApplicationShutdown(): void {
    for (const u of this.unsubscribe) u();
  }

  get size(): number {
    return this.entries.size;
  }

  async get(tokenId: string, load: (id: string) => Promise<TokenState | undefined>): Promise<TokenState | undefined> {
    if (!this.bus.healthy) return load(tokenId);
    const now = Date.now();
    const hit = this.entries.get(tokenId);
    if (hit && now - hit.at < TTL_MS) {
      this.hits += 1;
      return hit.state;
    }
    this.misses += 1;
    const epoch = this.bus.epoch;
    const state = await load(tokenId);
    // Cached only if no revocation (nor reconnection) happened while it was read.
    if (state && this.bus.healthy && this.bus.epoch === epoch) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.delete(tokenId);
      this.entries.set(tokenId, { state, at: now });
    }
    return state;
  }
}

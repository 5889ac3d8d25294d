import { createHash } from 'node:crypto';

import type { ValidateAnswer, ValidateFailure } from './types.js';

/** The cache key of a token: the hex SHA-256 of the token. The raw token is never kept. */
export function tokenCacheKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export type CacheEntry =
  | { kind: 'valid'; answer: ValidateAnswer; expiresAt: number; tokenId: string; userId: string }
  | { kind: 'failure'; failure: ValidateFailure; expiresAt: number };

/** What `HospiAIAuth.inspectCache()` shows: keys are token hashes, never tokens. */
export type CacheSnapshot = {
  size: number;
  maxEntries: number;
  hits: number;
  misses: number;
  entries: Array<{ key: string; kind: CacheEntry['kind']; expiresAt: number; tokenId?: string; userId?: string }>;
};

function addToIndex(index: Map<string, Set<string>>, id: string, key: string): void {
  let keys = index.get(id);
  if (!keys) {
    keys = new Set();
    index.set(id, keys);
  }
  keys.add(key);
}

function removeFromIndex(index: Map<string, Set<string>>, id: string, key: string): void {
  const keys = index.get(id);
  if (!keys) return;
  keys.delete(key);
  if (keys.size === 0) index.delete(id);
}

/**
 * A bounded LRU of validation answers, keyed by token hash, with an index from
 * token id and from user id to keys so that a revocation can evict at once.
 *
 * `generation` grows on every eviction: an answer fetched before an eviction
 * must not be stored after it (it could be the answer for a token just revoked).
 */
export class ValidationCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly byToken = new Map<string, Set<string>>();
  private readonly byUser = new Map<string, Set<string>>();
  private hits = 0;
  private misses = 0;
  generation = 0;

  constructor(
    readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The live entry for a key, made most recently used; expired entries are dropped. */
  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    if (entry.expiresAt <= this.now()) {
      this.delete(key);
      this.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.hits++;
    return entry;
  }

  set(key: string, entry: CacheEntry): void {
    if (entry.expiresAt <= this.now()) return;
    this.delete(key);
    this.entries.set(key, entry);
    if (entry.kind === 'valid') {
      addToIndex(this.byToken, entry.tokenId, key);
      addToIndex(this.byUser, entry.userId, key);
    }
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    if (entry.kind === 'valid') {
      removeFromIndex(this.byToken, entry.tokenId, key);
      removeFromIndex(this.byUser, entry.userId, key);
    }
    return true;
  }

  /** Drops every entry of a token id; returns how many. */
  evictToken(tokenId: string): number {
    this.generation++;
    return this.evictAll(this.byToken.get(tokenId));
  }

  /** Drops every entry of a user id; returns how many. */
  evictUser(userId: string): number {
    this.generation++;
    return this.evictAll(this.byUser.get(userId));
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.byToken.clear();
    this.byUser.clear();
  }

  snapshot(): CacheSnapshot {
    return {
      size: this.entries.size,
      maxEntries: this.maxEntries,
      hits: this.hits,
      misses: this.misses,
      entries: [...this.entries].map(([key, e]) =>
        e.kind === 'valid'
          ? { key, kind: e.kind, expiresAt: e.expiresAt, tokenId: e.tokenId, userId: e.userId }
          : { key, kind: e.kind, expiresAt: e.expiresAt },
      ),
    };
  }

  private evictAll(keys: Set<string> | undefined): number {
    if (!keys) return 0;
    let n = 0;
    for (const key of [...keys]) if (this.delete(key)) n++;
    return n;
  }
}

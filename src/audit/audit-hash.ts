import { createHash, hash } from 'node:crypto';
import type { AuditEvent } from './audit.types.js';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level: the same content always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** What an event says, apart from its place in the chain (id, time) and its hash. */
export type AuditContent = Omit<AuditEvent, 'id' | 'occurredAt' | 'hash'>;

/**
 * SHA-256 of the canonical JSON of everything an event says but its id and time: computed by the
 * application, so that the database, which chains the hashes, need not produce canonical JSON.
 */
export function contentDigest(e: AuditContent): string {
  // canonicalJson([type, …, latencyMs, details]): JSON.stringify already writes strings, numbers and
  // null canonically (undefined and non-finite numbers as null), so only the details need sorting.
  const head = JSON.stringify([e.type, e.outcome, e.actorUserId, e.tokenId, e.ip, e.userAgent, e.requestId, e.latencyMs]);
  // One-shot hash: half the cost of a Hash object for inputs this small (once per event).
  return hash('sha256', `${head.slice(0, -1)},${canonicalJson(e.details)}]`, 'hex');
}

/**
 * hash = SHA-256(previous hash | id | time | content digest), as `audit_append` computes it in
 * the database (format 2). Every field but the hash itself is covered, so an edited, removed or
 * reordered row breaks the chain from that row on. `occurredAt` is ISO-8601 UTC with milliseconds.
 */
export function eventHash(prevHash: string, e: Omit<AuditEvent, 'hash'>): string {
  return hash('sha256', `${prevHash}|${e.id}|${e.occurredAt}|${contentDigest(e)}`, 'hex');
}

/**
 * The format-1 hash, SHA-256(previous hash | canonical JSON of every field), with which events
 * written before `audit_append` were chained: verification still checks them by it.
 */
export function eventHashFormat1(prevHash: string, e: Omit<AuditEvent, 'hash'>): string {
  const content = canonicalJson([
    e.id,
    e.occurredAt,
    e.type,
    e.outcome,
    e.actorUserId,
    e.tokenId,
    e.ip,
    e.userAgent,
    e.requestId,
    e.latencyMs,
    e.details,
  ]);
  return createHash('sha256').update(prevHash).update('|').update(content).digest('hex');
}

import { createHash } from 'node:crypto';
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

/**
 * hash = SHA-256(previous hash | canonical content). Every field but the
 * hash itself is covered, the id included, so an edited, removed or
 * reordered row breaks the chain from that row on.
 */
export function eventHash(prevHash: string, e: Omit<AuditEvent, 'hash'>): string {
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

import { createHash } from 'node:crypto';
import { canonicalJson, contentDigest, type AuditContent } from './audit-hash.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const base: AuditContent = {
  type: 'token.validate',
  outcome: 'valid',
  actorUserId: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6',
  tokenId: null,
  ip: '10.0.0.1',
  userAgent: 'fastmcp/2.11 "quoted", \\ back\nslash\u2028 é 𝄞',
  requestId: 'r-1',
  latencyMs: 1.234,
  details: { z: 1, a: { y: [3, { b: 2, a: 1 }], x: null }, fingerprint: '0123456789abcdef' },
};

describe('contentDigest', () => {
  it('is the SHA-256 of the canonical JSON of [type, outcome, actor, token, ip, user agent, request id, latency, details]', () => {
    const variants: AuditContent[] = [
      base,
      { ...base, latencyMs: null, userAgent: null, ip: null, actorUserId: null, requestId: null },
      { ...base, latencyMs: Number.NaN },
      { ...base, latencyMs: 0.1 + 0.2 },
      { ...base, latencyMs: undefined as unknown as null, details: {} },
      { ...base, details: { list: ['b', 'a'], nested: { c: { b: { a: true } } }, u: undefined } },
    ];
    for (const e of variants) {
      const expected = sha256(
        canonicalJson([e.type, e.outcome, e.actorUserId, e.tokenId, e.ip, e.userAgent, e.requestId, e.latencyMs, e.details]),
      );
      expect(contentDigest(e)).toBe(expected);
    }
  });

  it('does not depend on the order of keys in the details, and does on their values', () => {
    const reordered = { ...base, details: { fingerprint: '0123456789abcdef', a: { x: null, y: [3, { a: 1, b: 2 }] }, z: 1 } };
    expect(contentDigest(reordered)).toBe(contentDigest(base));
    expect(contentDigest({ ...base, details: { ...base.details, z: 2 } })).not.toBe(contentDigest(base));
    expect(contentDigest({ ...base, outcome: 'invalid' })).not.toBe(contentDigest(base));
  });
});

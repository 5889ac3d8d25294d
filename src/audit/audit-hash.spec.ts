import { createHash } from 'node:crypto';
import { canonicalJson, contentDigest, eventHash, GENESIS_HASH, type AuditContent } from './audit-hash.js';

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

describe('the hash format, pinned', () => {
  // A fixed event whose canonical JSON is written out by hand below, from the format's definition
  // (JSON.stringify's strings and numbers, undefined and non-finite numbers as null, object keys
  // sorted by UTF-16 code unit at every level, no spaces), and whose SHA-256 was computed outside
  // this module (sha256sum and node:crypto on that text, UTF-8). A change of escaping, of number
  // formatting, of key order or of the fields' order breaks these tests.
  const pinned: AuditContent = {
    type: 'token.validate',
    outcome: 'invalid',
    actorUserId: null,
    tokenId: '0b7e6c1a-2f4d-4e8b-9a10-3c5d7e9f1b2d',
    ip: '2001:db8::1',
    userAgent: 'curl/8 "q" \\ \n\t\u0001\u001f é 𝄞 \u2028\u2029 </script> \ud800',
    requestId: 'req-42',
    latencyMs: 1e-7,
    details: {
      z: 1e21,
      a: -0,
      B: [true, false, null, undefined, 'x'],
      é: 0.30000000000000004,
      m: { y: Number.NaN, x: Number.POSITIVE_INFINITY, w: undefined, v: 1.5e300, u: 100 },
      _: 'tab\there',
    },
  };
  // Backslash escapes as they appear in the JSON text; U+2028 and U+2029 are written raw (JSON.stringify does not escape them).
  const PINNED_TEXT =
    String.raw`["token.validate","invalid",null,"0b7e6c1a-2f4d-4e8b-9a10-3c5d7e9f1b2d","2001:db8::1",` +
    String.raw`"curl/8 \"q\" \\ \n\t\u0001\u001f é 𝄞 ` +
    '\u2028\u2029' +
    String.raw` </script> \ud800","req-42",1e-7,` +
    String.raw`{"B":[true,false,null,null,"x"],"_":"tab\there","a":0,"m":{"u":100,"v":1.5e+300,"x":null,"y":null},"z":1e+21,"é":0.30000000000000004}]`;
  const PINNED_DIGEST = 'b08269ff58d29ce13204ddddb831c398798fdd8657d962a9b77454f1c0ae079d';

  it('the pinned text is the one hashed (a check of the literals themselves)', () => {
    expect(Buffer.byteLength(PINNED_TEXT, 'utf8')).toBe(302);
    expect(sha256(PINNED_TEXT)).toBe(PINNED_DIGEST);
  });

  it('canonicalJson writes the pinned text, byte for byte', () => {
    const e = pinned;
    expect(canonicalJson([e.type, e.outcome, e.actorUserId, e.tokenId, e.ip, e.userAgent, e.requestId, e.latencyMs, e.details])).toBe(
      PINNED_TEXT,
    );
  });

  it('contentDigest is the pinned SHA-256', () => {
    expect(contentDigest(pinned)).toBe(PINNED_DIGEST);
  });

  it('eventHash is SHA-256(previous hash | id | time | content digest), pinned', () => {
    // printf '%s' "<64 zeros>|12345|2026-03-04T05:06:07.089Z|<PINNED_DIGEST>" | sha256sum
    const e = { ...pinned, id: '12345', occurredAt: '2026-03-04T05:06:07.089Z' };
    expect(eventHash(GENESIS_HASH, e)).toBe('7caa26cfa081387678405f1755cf61f5c5243e7168f15768122524e564f9765e');
  });
});

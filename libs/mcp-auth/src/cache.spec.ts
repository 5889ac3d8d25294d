import { createHash } from 'node:crypto';

import { HospiAIAuth } from './auth.js';
import { tokenCacheKey } from './cache.js';
import type { CacheOptions, ValidateResult } from './types.js';
import { MISCONFIGURED, REVOKED, StubService, UNAVAILABLE, contractHandler, type StubToken } from '../test/stub-service.js';

const T0 = 1_800_000_000_000; // ms; whole seconds
const EXP_FAR = T0 / 1000 + 3600;

const TOKENS: Record<string, StubToken> = {
  'tok-a': { tokenId: 'jti-a', userId: 'user-1', scopes: ['read:data'], exp: EXP_FAR },
  'tok-b': { tokenId: 'jti-b', userId: 'user-1', scopes: ['read:data', 'write:data'], exp: EXP_FAR },
  'tok-c': { tokenId: 'jti-c', userId: 'user-2', scopes: ['read:bookings'], exp: EXP_FAR },
  'tok-soon': { tokenId: 'jti-soon', userId: 'user-3', scopes: ['read:data'], exp: T0 / 1000 + 5 },
  'tok-past': { tokenId: 'jti-past', userId: 'user-3', scopes: ['read:data'], exp: T0 / 1000 - 1 },
};

describe('HospiAIAuth cache', () => {
  let stub: StubService;
  let now: number;

  beforeEach(async () => {
    stub = await StubService.start(contractHandler(TOKENS, { 'tok-revoked': REVOKED }));
    now = T0;
  });
  afterEach(async () => {
    await stub.close();
  });

  function client(cache: CacheOptions = {}, retries = 0): HospiAIAuth {
    return new HospiAIAuth({ validationUrl: stub.url, cache, retries, now: () => now, sleep: async () => {} }, {});
  }

  it('answers a second validation of the same token from the cache', async () => {
    const auth = client();
    const first = await auth.validate('tok-a');
    const second = await auth.validate('tok-a');
    expect(first.ok).toBe(true);
    expect(second).toEqual(first);
    expect(stub.calls).toHaveLength(1);
    expect(auth.inspectCache()).toMatchObject({ size: 1, hits: 1 });
  });

  it('makes one call for concurrent validations of the same token', async () => {
    const handler = stub.handler;
    stub.handler = (call, i) => ({ ...handler(call, i), delayMs: 100 });
    const auth = client();
    const results = await Promise.all([auth.validate('tok-a'), auth.validate('tok-a'), auth.validate('tok-a')]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(stub.calls).toHaveLength(1);
  });

  it('keeps an entry no longer than the token lives', async () => {
    const auth = client({ ttlMs: 60_000 });
    await auth.validate('tok-soon');
    now = T0 + 4_999;
    await auth.validate('tok-soon');
    expect(stub.calls).toHaveLength(1);
    now = T0 + 5_000; // exp
    await auth.validate('tok-soon');
    expect(stub.calls).toHaveLength(2);
  });

  it('keeps an entry no longer than ttlMs', async () => {
    const auth = client({ ttlMs: 1_000 });
    await auth.validate('tok-a');
    now = T0 + 999;
    await auth.validate('tok-a');
    expect(stub.calls).toHaveLength(1);
    now = T0 + 1_000;
    await auth.validate('tok-a');
    expect(stub.calls).toHaveLength(2);
  });

  it('does not keep an answer whose token has already expired by the local clock', async () => {
    const auth = client();
    expect((await auth.validate('tok-past')).ok).toBe(true);
    expect(auth.inspectCache()?.size).toBe(0);
  });

  it('keeps a 401 only briefly', async () => {
    const auth = client({ failureTtlMs: 1_500 });
    const first = await auth.validate('tok-revoked');
    expect(first).toEqual({ ok: false, reason: 'revoked', status: 401, message: 'Token révoqué ou inexistant' });
    now = T0 + 1_499;
    expect(await auth.validate('tok-revoked')).toEqual(first);
    expect(stub.calls).toHaveLength(1);
    now = T0 + 1_500;
    expect(await auth.validate('tok-revoked')).toEqual(first);
    expect(stub.calls).toHaveLength(2);
  });

  it('keeps no 401 with failureTtlMs: 0', async () => {
    const auth = client({ failureTtlMs: 0 });
    await auth.validate('tok-revoked');
    await auth.validate('tok-revoked');
    expect(stub.calls).toHaveLength(2);
  });

  it.each([
    ['500', () => MISCONFIGURED],
    ['503', () => UNAVAILABLE('1')],
  ])('never keeps an unavailable answer (%s)', async (_name, reply) => {
    stub.handler = reply;
    const auth = client();
    expect(await auth.validate('tok-a')).toMatchObject({ reason: 'unavailable' });
    expect(await auth.validate('tok-a')).toMatchObject({ reason: 'unavailable' });
    expect(stub.calls).toHaveLength(2);
    expect(auth.inspectCache()?.size).toBe(0);
  });

  it('checks requiredScopes locally on a cache hit, with the shape the service gives', async () => {
    const auth = client();
    // The service's own 403 (nothing cached: it says nothing of the user).
    const fromService = await auth.validate('tok-a', { requiredScopes: ['write:bookings'] });
    expect(stub.calls).toHaveLength(1);
    expect(auth.inspectCache()?.size).toBe(0);

    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect(stub.calls).toHaveLength(2);

    const local = await auth.validate('tok-a', { requiredScopes: ['write:bookings'] });
    expect(stub.calls).toHaveLength(2);
    expect(local).toEqual(fromService);
    expect(local).toEqual({
      ok: false,
      reason: 'insufficient_scope',
      status: 403,
      message: 'Scope insuffisant',
      requiredScopes: ['write:bookings'],
      scopes: ['read:data'],
    });

    expect((await auth.validate('tok-a', { requiredScopes: ['read:data'] })).ok).toBe(true);
    expect(stub.calls).toHaveLength(2);
  });

  it('caches the answer fetched with requiredScopes and serves other requirements from it', async () => {
    const auth = client();
    expect((await auth.validate('tok-b', { requiredScopes: ['write:data'] })).ok).toBe(true);
    expect((await auth.validate('tok-b', { requiredScopes: ['read:data'] })).ok).toBe(true);
    expect(await auth.validate('tok-b', { requiredScopes: ['read:audit'] })).toMatchObject({ reason: 'insufficient_scope' });
    expect(stub.calls).toHaveLength(1);
  });

  it('evictToken drops a token so that the next validation asks the service', async () => {
    const auth = client();
    await auth.validate('tok-a');
    await auth.validate('tok-c');
    expect(auth.evictToken('jti-a')).toBe(1);
    expect(auth.evictToken('jti-unknown')).toBe(0);
    await auth.validate('tok-a');
    await auth.validate('tok-c');
    expect(stub.calls.map((c) => c.authorization)).toEqual(['Bearer tok-a', 'Bearer tok-c', 'Bearer tok-a']);
  });

  it('evictUser drops every token of a user', async () => {
    const auth = client();
    for (const t of ['tok-a', 'tok-b', 'tok-c']) await auth.validate(t);
    expect(auth.evictUser('user-1')).toBe(2);
    expect(auth.inspectCache()?.entries.map((e) => e.tokenId)).toEqual(['jti-c']);
    await auth.validate('tok-a');
    expect(stub.calls).toHaveLength(4);
  });

  it('clear empties the cache', async () => {
    const auth = client();
    await auth.validate('tok-a');
    auth.clear();
    expect(auth.inspectCache()?.size).toBe(0);
    await auth.validate('tok-a');
    expect(stub.calls).toHaveLength(2);
  });

  it('does not store an answer that was in flight when an eviction happened', async () => {
    const handler = stub.handler;
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    stub.handler = (call, i) => ({ ...handler(call, i), until: gate });
    const auth = client();
    const pending = auth.validate('tok-a');
    await stub.waitForCalls(1);
    auth.evictToken('jti-a');
    release();
    expect((await pending).ok).toBe(true);
    expect(auth.inspectCache()?.size).toBe(0);
  });

  it('does not hand a call in flight from before an eviction to a validation after it', async () => {
    const handler = stub.handler;
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The first call answers as before the revocation, held until released; later calls see it revoked.
    stub.handler = (call, i) => (i === 0 ? { ...handler(call, i), until: gate } : REVOKED);
    const auth = client();
    const before = auth.validate('tok-a');
    await stub.waitForCalls(1);
    auth.evictToken('jti-a');
    const after = auth.validate('tok-a');
    // Its own call reaches the service (bounded: a joined validation would make none).
    await Promise.race([stub.waitForCalls(2), new Promise((r) => setTimeout(r, 2000))]);
    release();
    expect((await before).ok).toBe(true);
    expect(await after).toMatchObject({ ok: false, reason: 'revoked' });
    expect(stub.calls).toHaveLength(2);
  });

  it('holds at most maxEntries, dropping the least recently used', async () => {
    const auth = client({ maxEntries: 2 });
    await auth.validate('tok-a');
    await auth.validate('tok-b');
    await auth.validate('tok-a'); // a is now the most recent
    await auth.validate('tok-c'); // b goes
    const keys = auth.inspectCache()?.entries.map((e) => e.key);
    expect(keys).toEqual([tokenCacheKey('tok-a'), tokenCacheKey('tok-c')]);
    expect(stub.calls).toHaveLength(3);
    await auth.validate('tok-a');
    expect(stub.calls).toHaveLength(3);
    await auth.validate('tok-b');
    expect(stub.calls).toHaveLength(4);
    expect(auth.inspectCache()?.size).toBe(2);
  });

  it('keys entries by the SHA-256 of the token, never the token', async () => {
    const auth = client();
    await auth.validate('tok-a');
    await auth.validate('tok-revoked');
    const snapshot = auth.inspectCache();
    expect(snapshot?.entries.map((e) => e.key).sort()).toEqual([tokenCacheKey('tok-a'), tokenCacheKey('tok-revoked')].sort());
    for (const e of snapshot?.entries ?? []) expect(e.key).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenCacheKey('tok-a')).toBe(createHash('sha256').update('tok-a').digest('hex'));
    const text = JSON.stringify(snapshot);
    expect(text).not.toContain('tok-a');
    expect(text).not.toContain('tok-revoked');
  });

  it('hands out cached answers that cannot be changed', async () => {
    const auth = client();
    await auth.validate('tok-a');
    const hit = (await auth.validate('tok-a')) as Extract<ValidateResult, { ok: true }>;
    expect(Object.isFrozen(hit.value)).toBe(true);
    expect(Object.isFrozen(hit.value.scopes)).toBe(true);
    expect(() => (hit.value.scopes as string[]).push('read:audit')).toThrow(TypeError);
  });

  it('can be turned off', async () => {
    const auth = client(undefined);
    const off = new HospiAIAuth({ validationUrl: stub.url, cache: false }, {});
    expect(auth.inspectCache()).toBeDefined();
    expect(off.inspectCache()).toBeUndefined();
    await off.validate('tok-a');
    await off.validate('tok-a');
    expect(stub.calls).toHaveLength(2);
    expect(off.evictToken('jti-a')).toBe(0);
  });
});

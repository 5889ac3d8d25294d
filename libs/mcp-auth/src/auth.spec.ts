import { HospiAIAuth } from './auth.js';
import type { HospiAIAuthOptions } from './types.js';
import { EXPIRED, INVALID, MISCONFIGURED, REVOKED, StubService, UNAVAILABLE, contractHandler, validAnswer } from '../test/stub-service.js';

const EXP = 2_000_000_000;
const GOOD = { tokenId: 'tok-1', userId: 'user-1', scopes: ['read:data', 'read:bookings'], exp: EXP };

describe('HospiAIAuth.validate against the contract', () => {
  let stub: StubService;
  let sleeps: number[];

  beforeEach(async () => {
    stub = await StubService.start(contractHandler({ 'good-token': GOOD }));
    sleeps = [];
  });
  afterEach(async () => {
    await stub.close();
  });

  function client(options: HospiAIAuthOptions = {}): HospiAIAuth {
    return new HospiAIAuth(
      {
        cache: false,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        random: () => 0.5,
        ...options,
        validationUrl: options.validationUrl ?? stub.url,
      },
      {},
    );
  }

  describe('answers', () => {
    it('parses a 200 answer and sends the request the contract describes', async () => {
      const result = await client().validate('good-token');
      expect(result).toEqual({ ok: true, value: validAnswer(GOOD) });
      expect(stub.calls).toHaveLength(1);
      expect(stub.calls[0]).toMatchObject({
        method: 'POST',
        path: '/api/mcp/validate',
        authorization: 'Bearer good-token',
        contentType: 'application/json',
        body: {},
      });
    });

    it('sends requiredScopes (deduplicated) in the body', async () => {
      const result = await client().validate('good-token', { requiredScopes: ['read:data', 'read:data'] });
      expect(result.ok).toBe(true);
      expect(stub.calls[0].body).toEqual({ requiredScopes: ['read:data'] });
    });

    it.each([
      ['invalid_token', INVALID, 'invalid', 'Token invalide'],
      ['token_expired', EXPIRED, 'expired', 'Token expiré'],
      ['token_revoked', REVOKED, 'revoked', 'Token révoqué ou inexistant'],
    ])('maps a 401 %s to reason %s, without retrying', async (_code, reply, reason, message) => {
      stub.handler = () => reply;
      const result = await client().validate('some-token');
      expect(result).toEqual({ ok: false, reason, status: 401, message });
      expect(stub.calls).toHaveLength(1);
      expect(sleeps).toEqual([]);
    });

    it('treats a 401 with no code it knows as invalid', async () => {
      stub.handler = () => ({ status: 401, body: { error: 'Non autorisé' } });
      expect(await client().validate('some-token')).toEqual({ ok: false, reason: 'invalid', status: 401, message: 'Non autorisé' });
    });

    it('maps a 403 to insufficient_scope with the required and held scopes, without retrying', async () => {
      const result = await client().validate('good-token', { requiredScopes: ['write:bookings'] });
      expect(result).toEqual({
        ok: false,
        reason: 'insufficient_scope',
        status: 403,
        message: 'Scope insuffisant',
        requiredScopes: ['write:bookings'],
        scopes: GOOD.scopes,
      });
      expect(stub.calls).toHaveLength(1);
    });

    it('does not retry a 500: the service is misconfigured', async () => {
      stub.handler = () => MISCONFIGURED;
      const result = await client().validate('good-token');
      expect(result).toMatchObject({ ok: false, reason: 'unavailable', status: 500, message: 'Configuration serveur invalide' });
      expect(stub.calls).toHaveLength(1);
      expect(sleeps).toEqual([]);
    });

    it('does not retry a 400', async () => {
      stub.handler = () => ({ status: 400, body: { error: 'requiredScopes: scope inconnu' } });
      // @ts-expect-error not a HospiAIScope: a plain JavaScript caller can still send one
      const result = await client().validate('good-token', { requiredScopes: ['nope'] });
      expect(result).toMatchObject({ ok: false, reason: 'unavailable', status: 400 });
      expect(stub.calls).toHaveLength(1);
    });

    it('refuses a 200 whose body is not the contract', async () => {
      stub.handler = () => ({ status: 200, body: { valid: true, user: {} } });
      const result = await client().validate('good-token');
      expect(result).toMatchObject({ ok: false, reason: 'unavailable', status: 200 });
      expect(stub.calls).toHaveLength(1);
    });

    it.each([[''], ['two words'], ['line\nbreak'], ['x'.repeat(8193)]])('rejects a malformed token locally (%#)', async (token) => {
      expect(await client().validate(token)).toEqual({ ok: false, reason: 'invalid', message: 'Token invalide' });
      expect(stub.calls).toHaveLength(0);
    });
  });

  describe('retries', () => {
    it('retries a 503 after its Retry-After, then succeeds', async () => {
      stub.handler = (call, i) => (i === 0 ? UNAVAILABLE('1') : contractHandler({ 'good-token': GOOD })(call, i));
      const result = await client().validate('good-token');
      expect(result.ok).toBe(true);
      expect(stub.calls).toHaveLength(2);
      expect(sleeps).toEqual([1000]);
    });

    it('caps a long Retry-After', async () => {
      stub.handler = (call, i) => (i === 0 ? UNAVAILABLE('120') : contractHandler({ 'good-token': GOOD })(call, i));
      expect((await client({ maxRetryAfterMs: 2500 }).validate('good-token')).ok).toBe(true);
      expect(sleeps).toEqual([2500]);
    });

    it('reads a Retry-After given as an HTTP date', async () => {
      const now = 1_700_000_000_000;
      const at = new Date(now + 3000).toUTCString();
      stub.handler = (call, i) => (i === 0 ? UNAVAILABLE(at) : contractHandler({ 'good-token': GOOD })(call, i));
      expect((await client({ now: () => now }).validate('good-token')).ok).toBe(true);
      expect(sleeps).toEqual([3000]);
    });

    it('backs off exponentially with full jitter when there is no Retry-After', async () => {
      stub.handler = (call, i) => (i < 2 ? UNAVAILABLE() : contractHandler({ 'good-token': GOOD })(call, i));
      const result = await client({ backoff: { baseMs: 100, maxMs: 150 } }).validate('good-token');
      expect(result.ok).toBe(true);
      // random() = 0.5: half of min(150, 100), then half of min(150, 200).
      expect(sleeps).toEqual([50, 75]);
    });

    it('retries 502 and 504 too', async () => {
      stub.handler = (call, i) =>
        i === 0 ? { status: 502 } : i === 1 ? { status: 504 } : contractHandler({ 'good-token': GOOD })(call, i);
      expect((await client().validate('good-token')).ok).toBe(true);
      expect(stub.calls).toHaveLength(3);
    });

    it('gives up as unavailable once the retries are spent', async () => {
      stub.handler = () => UNAVAILABLE('2');
      const result = await client({ retries: 3 }).validate('good-token');
      expect(result).toMatchObject({ ok: false, reason: 'unavailable', status: 503, message: 'Service indisponible', retryAfterMs: 2000 });
      expect(stub.calls).toHaveLength(4);
      expect(sleeps).toEqual([2000, 2000, 2000]);
    });

    it('makes one attempt only with retries: 0', async () => {
      stub.handler = () => UNAVAILABLE('1');
      expect(await client({ retries: 0 }).validate('good-token')).toMatchObject({ reason: 'unavailable', status: 503 });
      expect(stub.calls).toHaveLength(1);
      expect(sleeps).toEqual([]);
    });

    it('times an attempt out and tries again', async () => {
      const answer = contractHandler({ 'good-token': GOOD });
      stub.handler = (call, i) => (i === 0 ? { ...answer(call, i), delayMs: 10_000 } : answer(call, i));
      const result = await client({ timeoutMs: 300 }).validate('good-token');
      expect(result.ok).toBe(true);
      expect(stub.calls).toHaveLength(2);
      expect(sleeps).toHaveLength(1);
    });

    it('reports a timeout when every attempt is too slow', async () => {
      stub.handler = () => ({ status: 200, body: validAnswer(GOOD), delayMs: 10_000 });
      const result = await client({ timeoutMs: 200, retries: 1 }).validate('good-token');
      expect(result).toMatchObject({ ok: false, reason: 'unavailable', detail: 'no answer within 200 ms' });
      expect(result.ok === false && result.status).toBeUndefined();
      expect(stub.calls).toHaveLength(2);
    });

    it('retries network errors, then reports the service unavailable', async () => {
      const port = stub.port;
      await stub.close();
      const result = await client({ validationUrl: `http://127.0.0.1:${port}/api/mcp/validate`, retries: 2 }).validate('good-token');
      expect(result).toMatchObject({ ok: false, reason: 'unavailable', message: 'Service indisponible' });
      expect(result.ok === false && result.detail).toMatch(/^request failed: /);
      expect(sleeps).toHaveLength(2);
      stub = await StubService.start(() => INVALID); // for afterEach
    });
  });
});

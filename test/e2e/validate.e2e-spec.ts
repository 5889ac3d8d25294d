// POST /api/mcp/validate (docs/api.md, "Validation"): every answer of the contract, word for
// word, and key rotation with JWT_PREVIOUS_SECRETS.
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { jest } from '@jest/globals';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import { keyIdOf } from '../../src/auth/key-ring.js';
import { LAST_USE_RESOLUTION_MS } from '../../src/tokens/tokens.service.js';
import { apiClaims, base64url, decodeJwt, hmac, signedWith, signJwt } from '../support/jwt.js';
import {
  createUser,
  startTestApp,
  startTestAppOnDatabase,
  TEST_JWT_SECRET,
  type HttpAnswer,
  type TestApp,
  type User,
} from '../support/test-app.js';

const INVALID = { error: 'Token invalide', code: 'invalid_token' };
const EXPIRED = { error: 'Token expiré', code: 'token_expired' };
const REVOKED = { error: 'Token révoqué ou inexistant', code: 'token_revoked' };
const BAD_REQUEST = { error: 'Requête invalide', code: 'invalid_request' };
const INVALID_TOKEN_HEADER = 'Bearer error="invalid_token"';
const OTHER_SECRET = 'another-secret-that-is-long-enough-0123456789abcdef';

interface Created {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string;
  token: string;
}

function expect401(res: HttpAnswer, body: object): void {
  expect(res.status).toBe(401);
  expect(res.body).toEqual(body);
  expect(res.headers.get('www-authenticate')).toBe(INVALID_TOKEN_HEADER);
}

/**
 * Stops the clock of the apps (which run in this process) at `at`: Date only, every timer and tick
 * stays real. jest.setSystemTime() moves it; jest.useRealTimers() gives the real clock back.
 */
function holdClock(at: number): void {
  jest.useFakeTimers({
    now: at,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
}

/** The token with its payload replaced, its header and signature kept. */
function withPayload(token: string, payload: Record<string, unknown>): string {
  const [h, , s] = token.split('.');
  return `${h}.${base64url(payload)}.${s}`;
}

/** Sends one request with a raw Authorization header of `size` bytes; the status line the server answers. */
function hugeHeader(baseUrl: string, size: number): Promise<number> {
  const url = new URL('/api/mcp/validate', baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { authorization: `Bearer ${'a'.repeat(size)}`, 'content-length': '0' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('POST /api/mcp/validate', () => {
  let t: TestApp;
  let marie: User;
  let admin: User;

  beforeAll(async () => {
    t = await startTestApp();
    marie = await createUser(t, { phoneNumber: '+33 1 23 45 67 89' });
    admin = await createUser(t, { role: 'admin' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const validate = (authorization?: string, options: { body?: unknown; rawBody?: string; app?: TestApp } = {}) =>
    (options.app ?? t).request('POST', '/api/mcp/validate', {
      headers: authorization === undefined ? {} : { authorization },
      ...(options.body !== undefined ? { body: options.body } : {}),
      ...(options.rawBody !== undefined ? { rawBody: options.rawBody } : {}),
    });
  const bearer = (token: string, options: { body?: unknown; rawBody?: string; app?: TestApp } = {}) => validate(`Bearer ${token}`, options);

  async function newToken(user: User = marie, body: Record<string, unknown> = {}, app: TestApp = t): Promise<Created> {
    const res = await app.request('POST', '/api/tokens', {
      token: user.token,
      body: { name: 'Serveur FastMCP production', scopes: ['read:data'], durationDays: 90, ...body },
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  describe('200', () => {
    it('answers exactly {valid, user, token, scopes, exp}', async () => {
      const created = await newToken(marie, { scopes: ['read:data', 'write:bookings'] });
      const me = (await t.request('GET', '/api/users/me', { token: marie.token })).body.user;
      expect(me.profileCompletedAt).toEqual(expect.any(String));

      const res = await bearer(created.token);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        valid: true,
        user: {
          id: marie.id,
          email: marie.email,
          firstname: 'Marie',
          surname: 'Curie',
          name: 'Marie Curie',
          phoneNumber: '+33 1 23 45 67 89',
          profileCompletedAt: me.profileCompletedAt,
        },
        token: {
          id: created.id,
          name: 'Serveur FastMCP production',
          scopes: ['read:data', 'write:bookings'],
          expiresAt: created.expiresAt,
        },
        scopes: ['read:data', 'write:bookings'],
        exp: decodeJwt(created.token).payload.exp,
      });
      expect(res.body.exp).toBe(Date.parse(created.expiresAt) / 1000);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(res.headers.get('www-authenticate')).toBeNull();

      // The next answers (their JSON written once per token state) are the same, byte for byte.
      const text = JSON.stringify(res.body);
      for (let i = 0; i < 2; i++) {
        const again = await bearer(created.token);
        expect(again.status).toBe(200);
        expect(again.headers.get('content-type')).toBe('application/json; charset=utf-8');
        expect(again.headers.get('cache-control')).toBe('no-store');
        expect(again.text).toBe(text);
      }
    });

    it('gives null phoneNumber and profileCompletedAt for an incomplete profile', async () => {
      const pierre = await createUser(t);
      const created = await newToken(pierre);
      const res = await bearer(created.token);
      expect(res.status).toBe(200);
      expect(res.body.user).toEqual({
        id: pierre.id,
        email: pierre.email,
        firstname: 'Marie',
        surname: 'Curie',
        name: 'Marie Curie',
        phoneNumber: null,
        profileCompletedAt: null,
      });
    });

    it.each(['bearer', 'BEARER', 'BeArEr'])('accepts the scheme written %s', async (scheme) => {
      const created = await newToken();
      const res = await validate(`${scheme} ${created.token}`);
      expect(res.status).toBe(200);
      expect(res.body.token.id).toBe(created.id);
    });

    it('accepts an empty body sent with Content-Type: application/json (curl -H without -d)', async () => {
      const created = await newToken();
      const res = await bearer(created.token, { rawBody: '' });
      expect(res.status).toBe(200);
      expect(res.body.valid).toBe(true);
    });

    it('accepts {} and {"requiredScopes": []}', async () => {
      const created = await newToken();
      expect((await bearer(created.token, { body: {} })).status).toBe(200);
      expect((await bearer(created.token, { body: { requiredScopes: [] } })).status).toBe(200);
    });

    it('updates lastUsedAt and lastUsedIp, visible right after the 200', async () => {
      const created = await newToken();
      const before = await t.request('GET', `/api/tokens/${created.id}`, { token: marie.token });
      expect(before.body).toMatchObject({ lastUsedAt: null, lastUsedIp: null });

      const res = await bearer(created.token);
      expect(res.status).toBe(200);
      const after = await t.request('GET', `/api/tokens/${created.id}`, { token: marie.token });
      expect(after.body.lastUsedIp).toBe('127.0.0.1');
      expect(after.body.lastUsedAt).toEqual(expect.any(String));
      expect(Date.parse(after.body.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(created.createdAt));
      const listed = (await t.request('GET', '/api/tokens', { token: marie.token })).body.items.find(
        (i: { id: string }) => i.id === created.id,
      );
      expect(listed.lastUsedAt).toBe(after.body.lastUsedAt);

      const second = await bearer(created.token);
      expect(second.status).toBe(200);
      const later = await t.request('GET', `/api/tokens/${created.id}`, { token: marie.token });
      expect(Date.parse(later.body.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(after.body.lastUsedAt));
    });

    it('a use in a batch that failed is still written when its event is written on its own', async () => {
      const created = await newToken();
      const writer = t.app.get(AuditWriter);
      // Same tick, same batch: the second event's actor is not a uuid, so the batch's statement fails
      // and each event is then written on its own.
      const [good, bad] = await Promise.allSettled([
        writer.record({ type: 'token.validate', outcome: 'valid', tokenId: created.id, ip: '10.9.9.9' }),
        writer.record({ type: 'token.validate', outcome: 'invalid', actorUserId: 'not-a-uuid' }),
      ]);
      expect(good.status).toBe('fulfilled');
      expect(bad.status).toBe('rejected');
      const view = await t.request('GET', `/api/tokens/${created.id}`, { token: marie.token });
      expect(view.body.lastUsedIp).toBe('10.9.9.9');
      expect(view.body.lastUsedAt).toEqual(expect.any(String));
    });

    // The calls' times are set (the apps' clock, see holdClock), not waited for: "less than a minute
    // after" and "a minute after" hold whatever the speed of this machine.

    /**
     * Where to start the held clock: now, or just after the audit chain's last event when that is
     * later (an earlier test held the clock ahead), since time never goes backwards along the chain.
     */
    async function clockStart(): Promise<number> {
      const { rows } = await t.db.query(`SELECT "last_occurred_at" AS at FROM "audit_chain_head" WHERE "id" = 1`);
      return Math.max(Date.now(), ((rows[0]?.at as Date | null)?.getTime() ?? 0) + 1);
    }

    it('lastUsedAt is exact to the minute: uses within a minute of the last one written keep it, a later use moves it', async () => {
      const created = await newToken();
      const lastUsedAt = async (): Promise<string> =>
        (await t.request('GET', `/api/tokens/${created.id}`, { token: marie.token })).body.lastUsedAt as string;
      const t0 = await clockStart();
      try {
        holdClock(t0);
        expect((await bearer(created.token)).status).toBe(200);
        expect(await lastUsedAt()).toBe(new Date(t0).toISOString());
        // Just under a minute after the use written: not written again.
        jest.setSystemTime(t0 + LAST_USE_RESOLUTION_MS - 1);
        expect((await bearer(created.token)).status).toBe(200);
        expect(await lastUsedAt()).toBe(new Date(t0).toISOString());
        // A minute after it: written.
        jest.setSystemTime(t0 + LAST_USE_RESOLUTION_MS);
        expect((await bearer(created.token)).status).toBe(200);
        expect(await lastUsedAt()).toBe(new Date(t0 + LAST_USE_RESOLUTION_MS).toISOString());
      } finally {
        jest.useRealTimers();
      }
      // The three uses were each audited, at the times set.
      const { rows } = await t.db.query(
        `SELECT "occurred_at" AS at FROM "audit_event" WHERE "token_id" = $1 AND "type" = 'token.validate' ORDER BY "id"`,
        [created.id],
      );
      expect(rows.map((r: { at: Date }) => r.at.getTime())).toEqual([t0, t0 + LAST_USE_RESOLUTION_MS - 1, t0 + LAST_USE_RESOLUTION_MS]);
    });

    it("two instances sharing a token's calls write its last use once a minute between them", async () => {
      const other = await startTestAppOnDatabase(t.databaseUrl, { JWT_SECRET: TEST_JWT_SECRET });
      try {
        const created = await newToken();
        const stored = async () =>
          (await t.db.query(`SELECT "last_used_at" AS at, "last_used_ip" AS ip FROM "api_tokens" WHERE "id" = $1`, [created.id]))
            .rows[0] as {
            at: Date;
            ip: string;
          };
        const t0 = await clockStart();
        try {
          holdClock(t0);
          expect((await bearer(created.token)).status).toBe(200);
          expect(await stored()).toEqual({ at: new Date(t0), ip: '127.0.0.1' });
          // The other instance has never written this token's use: the stored one, less than a minute old, stands.
          jest.setSystemTime(t0 + LAST_USE_RESOLUTION_MS - 1);
          expect((await bearer(created.token, { app: other })).status).toBe(200);
          expect(await stored()).toEqual({ at: new Date(t0), ip: '127.0.0.1' });
          // A minute after that use (and so more than a minute after the stored one), the other instance writes its own.
          const later = t0 + 2 * LAST_USE_RESOLUTION_MS - 1;
          jest.setSystemTime(later);
          expect((await bearer(created.token, { app: other })).status).toBe(200);
          expect(await stored()).toEqual({ at: new Date(later), ip: '127.0.0.1' });
        } finally {
          jest.useRealTimers();
        }
        const { rows } = await t.db.query(
          `SELECT "occurred_at" AS at FROM "audit_event" WHERE "token_id" = $1 AND "type" = 'token.validate' ORDER BY "id"`,
          [created.id],
        );
        expect(rows.map((r: { at: Date }) => r.at.getTime())).toEqual([
          t0,
          t0 + LAST_USE_RESOLUTION_MS - 1,
          t0 + 2 * LAST_USE_RESOLUTION_MS - 1,
        ]);
      } finally {
        await other.close();
      }
    });
  });

  describe('requiredScopes', () => {
    it('answers 200 when every required scope is held', async () => {
      const created = await newToken(marie, { scopes: ['read:data', 'write:bookings'] });
      const res = await bearer(created.token, { body: { requiredScopes: ['write:bookings'] } });
      expect(res.status).toBe(200);
      expect((await bearer(created.token, { body: { requiredScopes: ['read:data', 'write:bookings'] } })).status).toBe(200);
    });

    it('answers 403 insufficient_scope with the exact body when one is missing', async () => {
      const created = await newToken(marie, { scopes: ['read:data'] });
      const res = await bearer(created.token, { body: { requiredScopes: ['read:data', 'write:bookings'] } });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        error: 'Scope insuffisant',
        code: 'insufficient_scope',
        requiredScopes: ['read:data', 'write:bookings'],
        scopes: ['read:data'],
      });
      expect(res.headers.get('www-authenticate')).toContain('insufficient_scope');
    });

    it('answers 403 for a scope name that no token can hold', async () => {
      const created = await newToken();
      const res = await bearer(created.token, { body: { requiredScopes: ['admin:everything'] } });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        error: 'Scope insuffisant',
        code: 'insufficient_scope',
        requiredScopes: ['admin:everything'],
        scopes: ['read:data'],
      });
    });

    it.each([
      ['requiredScopes not an array', { requiredScopes: 'write:bookings' }],
      ['requiredScopes holding a number', { requiredScopes: [42] }],
      ['an extra key', { requiredScopes: ['read:data'], extra: true }],
      ['another key only', { scopes: ['read:data'] }],
      ['an array', ['read:data']],
      ['a string', 'read:data'],
    ])('answers 400 invalid_request for a body with %s', async (_what, body) => {
      const created = await newToken();
      const res = await bearer(created.token, { body });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(BAD_REQUEST);
    });
  });

  describe('a body that is not JSON', () => {
    it('is refused with 400, never validated', async () => {
      const created = await newToken();
      const res = await bearer(created.token, { rawBody: '{"requiredScopes": ' });
      expect(res.status).toBe(400);
      expect(res.body.valid).toBeUndefined();
    });

    // Fastify's JSON parser refuses it before the handler: the answer is the generic
    // {error: 'The request body is not valid JSON', code: 'invalid_json', requestId}, not §4's.
    it('answers the §4 invalid_request body', async () => {
      const created = await newToken();
      const res = await bearer(created.token, { rawBody: '{"requiredScopes": ' });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(BAD_REQUEST);
    });
  });

  describe('401 Token invalide', () => {
    let genuine: Created;
    let kid: string;
    beforeAll(async () => {
      genuine = await newToken();
      kid = decodeJwt(genuine.token).header.kid;
    });
    const header = () => ({ alg: 'HS256', typ: 'JWT', kid });
    const claims = (over: Record<string, unknown> = {}) => apiClaims({ sub: marie.id, jti: genuine.id, ...over });

    it('the genuine token used by these cases is valid', async () => {
      expect((await bearer(genuine.token)).status).toBe(200);
    });

    it.each([
      ['no Authorization header', undefined],
      ['an empty Authorization header', ''],
      ['the Basic scheme', 'Basic dXNlcjpwYXNzd29yZA=='],
      ['Bearer without a token', 'Bearer'],
      ['Bearer and spaces', 'Bearer    '],
      ['a word', 'Bearer abc'],
      ['two parts', 'Bearer abc.def'],
      ['four parts', 'Bearer a.b.c.d'],
      ['a header that is not JSON', `Bearer ${base64url('not json')}.${base64url({})}.c2ln`],
      ['two tokens', 'Bearer a.b.c d.e.f'],
    ])('%s', async (_what, authorization) => {
      expect401(await validate(authorization), INVALID);
    });

    it('a token with its payload changed (more scopes), the signature kept', async () => {
      const { payload } = decodeJwt(genuine.token);
      expect401(await bearer(withPayload(genuine.token, { ...payload, scopes: ['read:data', 'write:data'] })), INVALID);
    });

    it('a token with its payload changed (another user), the signature kept', async () => {
      const { payload } = decodeJwt(genuine.token);
      expect401(await bearer(withPayload(genuine.token, { ...payload, sub: admin.id })), INVALID);
    });

    it('a signature of another token', async () => {
      const other = await newToken();
      const [h, p] = genuine.token.split('.');
      expect401(await bearer(`${h}.${p}.${other.token.split('.')[2]}`), INVALID);
    });

    it('a token signed with another secret (right kid)', async () => {
      expect401(await bearer(signJwt(header(), decodeJwt(genuine.token).payload, OTHER_SECRET)), INVALID);
    });

    it.each(['none', 'None', 'NONE'])('alg %s with an empty signature', async (alg) => {
      const { payload } = decodeJwt(genuine.token);
      const unsigned = `${base64url({ alg, typ: 'JWT', kid })}.${base64url(payload)}.`;
      expect401(await bearer(unsigned), INVALID);
      expect401(await bearer(`${base64url({ alg })}.${base64url(payload)}.`), INVALID);
    });

    it('alg none with the genuine signature kept', async () => {
      const [, p, s] = genuine.token.split('.');
      expect401(await bearer(`${base64url({ alg: 'none', typ: 'JWT', kid })}.${p}.${s}`), INVALID);
    });

    it('HS384 signed with the right secret', async () => {
      const token = signJwt({ alg: 'HS384', typ: 'JWT', kid }, decodeJwt(genuine.token).payload, TEST_JWT_SECRET, 'sha384');
      expect401(await bearer(token), INVALID);
    });

    it('HS512 signed with the right secret', async () => {
      const token = signJwt({ alg: 'HS512', typ: 'JWT', kid }, decodeJwt(genuine.token).payload, TEST_JWT_SECRET, 'sha512');
      expect401(await bearer(token), INVALID);
    });

    it('a header claiming HS256 over an HS384 signature', async () => {
      const input = `${base64url(header())}.${genuine.token.split('.')[1]}`;
      expect401(await bearer(`${input}.${hmac(input, TEST_JWT_SECRET, 'sha384')}`), INVALID);
    });

    it('a session JWT', async () => {
      expect(decodeJwt(marie.token).header.kid).toMatch(/^session-/);
      expect401(await bearer(marie.token), INVALID);
    });

    it('a session JWT relabelled with the API key id', async () => {
      const [, p, s] = marie.token.split('.');
      expect401(await bearer(`${base64url(header())}.${p}.${s}`), INVALID);
    });

    it('the wrong issuer (right secret and kid)', async () => {
      expect401(await bearer(signJwt(header(), claims({ iss: 'evil' }), TEST_JWT_SECRET)), INVALID);
    });

    it('the wrong audience (right secret and kid)', async () => {
      expect401(await bearer(signJwt(header(), claims({ aud: 'hospiai:session' }), TEST_JWT_SECRET)), INVALID);
    });

    it.each([['session'], ['refresh'], [undefined]])('token_use %p (right secret and kid)', async (tokenUse) => {
      expect401(await bearer(signJwt(header(), claims({ token_use: tokenUse }), TEST_JWT_SECRET)), INVALID);
    });

    it('typ other than JWT (right secret and kid)', async () => {
      expect401(await bearer(signJwt({ ...header(), typ: 'at+jwt' }, claims(), TEST_JWT_SECRET)), INVALID);
    });

    it('an unknown kid, and no kid', async () => {
      expect401(await bearer(signJwt({ ...header(), kid: 'unknown-key' }, claims(), TEST_JWT_SECRET)), INVALID);
      expect401(await bearer(signJwt({ alg: 'HS256', typ: 'JWT' }, claims(), TEST_JWT_SECRET)), INVALID);
    });

    it('claims that are not an API token (scopes unknown, sub not a UUID)', async () => {
      expect401(await bearer(signJwt(header(), claims({ scopes: ['root'] }), TEST_JWT_SECRET)), INVALID);
      expect401(await bearer(signJwt(header(), claims({ scopes: [] }), TEST_JWT_SECRET)), INVALID);
      expect401(await bearer(signJwt(header(), claims({ sub: 'marie' }), TEST_JWT_SECRET)), INVALID);
    });

    it('a bearer longer than 8 KB, even when correctly signed', async () => {
      const padded = signJwt(header(), claims({ padding: 'x'.repeat(9000) }), TEST_JWT_SECRET);
      expect(padded.length).toBeGreaterThan(8192);
      expect401(await bearer(padded), INVALID);
      expect401(await bearer('a'.repeat(9000)), INVALID);
    });
  });

  describe('431', () => {
    it('a 60 KB Authorization header is refused by the HTTP server, and the service still answers', async () => {
      expect(await hugeHeader(t.baseUrl, 60 * 1024)).toBe(431);
      const health = await t.request('GET', '/api/health');
      expect(health.status).toBe(200);
      const created = await newToken();
      expect((await bearer(created.token)).status).toBe(200);
    });
  });

  describe('401 Token expiré', () => {
    it('a genuine token past its expiry in the database', async () => {
      const created = await newToken();
      await t.db.query(
        `UPDATE api_tokens SET created_at = now() - interval '10 days', expires_at = now() - interval '1 second' WHERE id = $1`,
        [created.id],
      );
      expect401(await bearer(created.token), EXPIRED);
    });

    it('a token signed with the right key and kid whose exp is past', async () => {
      const created = await newToken();
      const { header, payload } = decodeJwt(created.token);
      const now = Math.floor(Date.now() / 1000);
      expect401(await bearer(signJwt(header, { ...payload, iat: now - 7200, exp: now - 3600 }, TEST_JWT_SECRET)), EXPIRED);
      expect401(
        await bearer(signJwt(header, { ...payload, jti: randomUUID(), iat: now - 7200, exp: now - 3600 }, TEST_JWT_SECRET)),
        EXPIRED,
      );
    });

    // jsonwebtoken checks exp before iss and aud, and TokenCodec takes any TokenExpiredError for a
    // genuine API token: an expired token of another issuer or audience is reported as expired.
    it('an expired token with the wrong issuer is invalid, not expired (right secret and kid)', async () => {
      const created = await newToken();
      const { header, payload } = decodeJwt(created.token);
      const now = Math.floor(Date.now() / 1000);
      expect401(await bearer(signJwt(header, { ...payload, iss: 'evil', exp: now - 3600 }, TEST_JWT_SECRET)), INVALID);
    });

    it('an expired token with the wrong audience is invalid, not expired (right secret and kid)', async () => {
      const created = await newToken();
      const { header, payload } = decodeJwt(created.token);
      const now = Math.floor(Date.now() / 1000);
      expect401(await bearer(signJwt(header, { ...payload, aud: 'hospiai:session', exp: now - 3600 }, TEST_JWT_SECRET)), INVALID);
    });

    it('an expired token with a bad signature is invalid, not expired', async () => {
      const created = await newToken();
      const { header, payload } = decodeJwt(created.token);
      const now = Math.floor(Date.now() / 1000);
      expect401(await bearer(signJwt(header, { ...payload, exp: now - 3600 }, OTHER_SECRET)), INVALID);
    });
  });

  describe('401 Token révoqué ou inexistant', () => {
    it('an unknown jti with a valid signature (right key and kid)', async () => {
      const created = await newToken();
      const { header, payload } = decodeJwt(created.token);
      expect401(await bearer(signJwt(header, { ...payload, jti: randomUUID() }, TEST_JWT_SECRET)), REVOKED);
    });

    it('a revoked token, from the very next call', async () => {
      const created = await newToken();
      expect((await bearer(created.token)).status).toBe(200);
      expect((await t.request('DELETE', `/api/tokens/${created.id}`, { token: marie.token })).status).toBe(204);
      expect401(await bearer(created.token), REVOKED);
    });

    it('a token whose owner is disabled, from the very next call, and still once re-enabled (a disable revokes it)', async () => {
      const jeanne = await createUser(t);
      const created = await newToken(jeanne);
      expect((await bearer(created.token)).status).toBe(200);

      const disable = await t.request('PATCH', `/api/users/${jeanne.id}`, { token: admin.token, body: { disabled: true } });
      expect(disable.status).toBe(200);
      expect(disable.body.user.disabled).toBe(true);
      expect401(await bearer(created.token), REVOKED);

      const enable = await t.request('PATCH', `/api/users/${jeanne.id}`, { token: admin.token, body: { disabled: false } });
      expect(enable.status).toBe(200);
      expect401(await bearer(created.token), REVOKED);
    });

    it('a token whose owner is deleted', async () => {
      const paul = await createUser(t);
      const created = await newToken(paul);
      await t.db.query(`DELETE FROM users WHERE id = $1`, [paul.id]);
      expect401(await bearer(created.token), REVOKED);
    });

    it('revoked wins over insufficient scope', async () => {
      const created = await newToken();
      expect((await t.request('DELETE', `/api/tokens/${created.id}`, { token: marie.token })).status).toBe(204);
      expect401(await bearer(created.token, { body: { requiredScopes: ['write:data'] } }), REVOKED);
    });
  });

  // Several apps in one process share passport's strategy registry: the app started last checks
  // the sessions of all of them. So sessions here are only used with an app keyed like the last one
  // started, and this block comes last in the file.
  describe('JWT_PREVIOUS_SECRETS', () => {
    const SECRET_A = 'rotation-secret-A-0123456789abcdefghijklmnopqrstuv';
    const SECRET_B = 'rotation-secret-B-0123456789abcdefghijklmnopqrstuv';
    let a: TestApp;
    let rotated: TestApp;
    let withoutPrevious: TestApp;
    let user: User;
    let old: Created;

    beforeAll(async () => {
      a = await startTestApp({ JWT_SECRET: SECRET_A });
      user = await createUser(a);
      old = await newToken(user, {}, a);
      rotated = await startTestAppOnDatabase(a.databaseUrl, { JWT_SECRET: SECRET_B, JWT_PREVIOUS_SECRETS: SECRET_A });
      withoutPrevious = await startTestAppOnDatabase(a.databaseUrl, { JWT_SECRET: SECRET_B });
    });
    afterAll(async () => {
      // The instances on a's database first: closing a drops it.
      await rotated?.close();
      await withoutPrevious?.close();
      await a?.close();
    });

    it('the token issued before the rotation is signed with the old key', () => {
      expect(decodeJwt(old.token).header.kid).toBe(keyIdOf(Buffer.from(SECRET_A)));
      expect(signedWith(old.token, SECRET_A)).toBe(true);
    });

    it('an instance with JWT_SECRET=B and JWT_PREVIOUS_SECRETS=A still validates it', async () => {
      const res = await bearer(old.token, { app: rotated });
      expect(res.status).toBe(200);
      expect(res.body.token.id).toBe(old.id);
      expect(res.body.user.id).toBe(user.id);
    });

    it('an instance with JWT_SECRET=B and no previous key refuses it: Token invalide', async () => {
      expect401(await bearer(old.token, { app: withoutPrevious }), INVALID);
    });

    it('new tokens are signed with the new key and named by its kid', async () => {
      const login = await rotated.request('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
      expect(login.status).toBe(200);
      const fresh = await newToken({ ...user, token: login.body.accessToken }, {}, rotated);
      const kidB = decodeJwt(fresh.token).header.kid;
      expect(kidB).toBe(keyIdOf(Buffer.from(SECRET_B)));
      expect(kidB).not.toBe(decodeJwt(old.token).header.kid);
      expect(signedWith(fresh.token, SECRET_B)).toBe(true);
      expect((await bearer(fresh.token, { app: rotated })).status).toBe(200);
      expect((await bearer(fresh.token, { app: withoutPrevious })).status).toBe(200);
      // An instance that knows only A cannot check a token signed with B.
      expect401(await bearer(fresh.token, { app: a }), INVALID);
    });

    it('a previous key only verifies: a token signed with it under the new kid is refused', async () => {
      const forged = signJwt({ alg: 'HS256', typ: 'JWT', kid: keyIdOf(Buffer.from(SECRET_B)) }, decodeJwt(old.token).payload, SECRET_A);
      expect401(await bearer(forged, { app: rotated }), INVALID);
    });
  });
});

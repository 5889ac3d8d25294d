import { jest } from '@jest/globals';

import { HospiAIAuth } from './auth.js';
import { fastmcpAuthenticate, requireScopes, withScopes, type HospiAISession } from './fastmcp.js';
import { hospiaiUser, mcpSdkBearerAuth, mcpSdkVerifier, requireToolScopes, scopedTool, type McpRequestLike, type Middleware, type SdkErrorClasses } from './mcp-sdk.js';
import { EXPIRED, REVOKED, StubService, UNAVAILABLE, contractHandler, validAnswer, type StubToken } from '../test/stub-service.js';

const GOOD: StubToken = {
  tokenId: 'jti-1',
  userId: 'user-1',
  scopes: ['read:data', 'read:bookings'],
  exp: 2_000_000_000,
  name: 'Serveur RDV',
};

class FakeInvalidTokenError extends Error {}
class FakeInsufficientScopeError extends Error {}
class FakeServerError extends Error {}
const FAKE_ERRORS: SdkErrorClasses = {
  InvalidTokenError: FakeInvalidTokenError,
  InsufficientScopeError: FakeInsufficientScopeError,
  ServerError: FakeServerError,
};

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function thrownResponse(promise: Promise<unknown>): Promise<Response> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(Response);
  return error as Response;
}

describe('adapters', () => {
  let stub: StubService;
  let auth: HospiAIAuth;

  beforeEach(async () => {
    stub = await StubService.start(
      contractHandler({ 'good-token': GOOD }, { 'expired-token': EXPIRED, 'revoked-token': REVOKED, 'busy-token': UNAVAILABLE('7') }),
    );
    auth = new HospiAIAuth({ validationUrl: stub.url, retries: 0 }, {});
  });
  afterEach(async () => {
    await stub.close();
  });

  describe('fastmcpAuthenticate', () => {
    const expectedSession: HospiAISession = {
      userId: 'user-1',
      email: 'user-1@chu-exemple.fr',
      name: 'Camille Martin',
      scopes: ['read:data', 'read:bookings'],
      tokenId: 'jti-1',
      tokenName: 'Serveur RDV',
      expiresAt: 2_000_000_000,
      user: validAnswer(GOOD).user,
    };

    it('returns the session from a Node.js request, whatever the case of the scheme', async () => {
      const authenticate = fastmcpAuthenticate(auth);
      expect(await authenticate({ headers: { authorization: 'Bearer good-token' } })).toEqual(expectedSession);
      expect(await authenticate({ headers: { authorization: 'bEaReR   good-token ' } })).toEqual(expectedSession);
    });

    it('accepts a Fetch API Request too', async () => {
      const request = new Request('http://mcp.example/mcp', { method: 'POST', headers: { Authorization: 'BEARER good-token' } });
      expect(await fastmcpAuthenticate(auth)(request)).toEqual(expectedSession);
    });

    it('answers a missing token with 401 and a bare challenge, without asking the service', async () => {
      const response = await thrownResponse(fastmcpAuthenticate(auth)({ headers: {} }));
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="hospiai"');
      expect(await response.json()).toEqual({ error: 'Token invalide', code: 'invalid_token' });
      expect(stub.calls).toHaveLength(0);
    });

    it('refuses a call with no request at all (FastMCP on stdio)', async () => {
      const response = await thrownResponse(fastmcpAuthenticate(auth)(undefined));
      expect(response.status).toBe(401);
      expect(stub.calls).toHaveLength(0);
    });

    it('answers another scheme with 401 invalid_token', async () => {
      const response = await thrownResponse(fastmcpAuthenticate(auth)({ headers: { authorization: 'Basic dXNlcjpwdw==' } }));
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="hospiai", error="invalid_token"/);
      expect(stub.calls).toHaveLength(0);
    });

    it.each([
      ['expired-token', 'Token expiré', 'token_expired'],
      ['revoked-token', 'Token révoqué ou inexistant', 'token_revoked'],
      ['unknown-token', 'Token invalide', 'invalid_token'],
    ])('answers %s with 401 and the service message', async (token, error, code) => {
      const response = await thrownResponse(
        fastmcpAuthenticate(auth, { resourceMetadataUrl: 'https://mcp.example/.well-known/oauth-protected-resource' })({
          headers: { authorization: `Bearer ${token}` },
        }),
      );
      expect(response.status).toBe(401);
      const challenge = response.headers.get('www-authenticate') ?? '';
      // With protected-resource metadata, the challenge takes the form MCP clients follow (RFC 9728 §5.1).
      expect(challenge).toBe('Bearer error="invalid_token", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource"');
      expect(await response.json()).toEqual({ error, code });
    });

    it('answers a missing scope with 403', async () => {
      const response = await thrownResponse(
        fastmcpAuthenticate(auth, { requiredScopes: ['write:bookings'] })({ headers: { authorization: 'Bearer good-token' } }),
      );
      expect(response.status).toBe(403);
      expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      expect(response.headers.get('www-authenticate')).toContain('scope="write:bookings"');
      expect(await response.json()).toEqual({
        error: 'Scope insuffisant',
        code: 'insufficient_scope',
        requiredScopes: ['write:bookings'],
        scopes: ['read:data', 'read:bookings'],
      });
    });

    it('answers an unreachable service with 503 and its Retry-After', async () => {
      const response = await thrownResponse(fastmcpAuthenticate(auth)({ headers: { authorization: 'Bearer busy-token' } }));
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('7');
      expect(await response.json()).toEqual({ error: 'Service indisponible', code: 'service_unavailable' });
    });

    it('takes only scopes of the catalogue (checked by the type checker)', () => {
      // @ts-expect-error 'write:everything' is not a HospiAIScope
      expect(requireScopes('write:everything')({ scopes: ['write:everything'] })).toBe(true);
      // @ts-expect-error nor is 'admin'
      expect(typeof withScopes(['admin'], () => 'x')).toBe('function');
      // @ts-expect-error nor in requiredScopes
      expect(typeof fastmcpAuthenticate(auth, { requiredScopes: ['read:everything'] })).toBe('function');
      // @ts-expect-error nor in the SDK glue
      expect(typeof requireToolScopes({ tool: ['root'] })).toBe('function');
    });

    it('requireScopes reads session.scopes for canAccess', () => {
      const session = { scopes: ['read:data', 'read:bookings'] };
      expect(requireScopes('read:data')(session)).toBe(true);
      expect(requireScopes('read:data', 'read:bookings')(session)).toBe(true);
      expect(requireScopes('read:data', 'write:data')(session)).toBe(false);
      expect(requireScopes()(session)).toBe(true);
      expect(requireScopes('read:data')(undefined)).toBe(false);
      expect(requireScopes('read:data')({})).toBe(false);
    });
  });

  describe('mcpSdkVerifier', () => {
    it('returns the AuthInfo of a valid token', async () => {
      const info = await mcpSdkVerifier(auth, { errors: FAKE_ERRORS }).verifyAccessToken('good-token');
      expect(info).toEqual({
        token: 'good-token',
        clientId: 'jti-1',
        scopes: ['read:data', 'read:bookings'],
        expiresAt: 2_000_000_000,
        extra: { user: validAnswer(GOOD).user, tokenName: 'Serveur RDV' },
      });
    });

    it.each([
      ['expired-token', 'The access token expired'],
      ['revoked-token', 'The access token was revoked'],
      ['unknown-token', 'The access token is invalid'],
      ['not a token', 'The access token is invalid'],
    ])('throws InvalidTokenError for %s', async (token, message) => {
      const error = await rejection(mcpSdkVerifier(auth, { errors: FAKE_ERRORS }).verifyAccessToken(token));
      expect(error).toBeInstanceOf(FakeInvalidTokenError);
      expect((error as Error).message).toBe(message);
    });

    it('throws InsufficientScopeError when asked for scopes the token lacks', async () => {
      const verifier = mcpSdkVerifier(auth, { errors: FAKE_ERRORS, requiredScopes: ['write:data'] });
      const error = await rejection(verifier.verifyAccessToken('good-token'));
      expect(error).toBeInstanceOf(FakeInsufficientScopeError);
      expect((error as Error).message).toBe('The access token lacks a required scope');
    });

    it('throws ServerError when the service cannot answer', async () => {
      const error = await rejection(mcpSdkVerifier(auth, { errors: FAKE_ERRORS }).verifyAccessToken('busy-token'));
      expect(error).toBeInstanceOf(FakeServerError);
      expect((error as Error).message).toBe('The token service is unavailable');
    });

    it('refuses to be made without the error classes, rather than use classes of its own', () => {
      // The classes must be those of the caller's SDK: instanceof against another copy's class is false.
      expect(() => mcpSdkVerifier(auth, undefined as unknown as { errors: SdkErrorClasses })).toThrow(TypeError);
      expect(() => mcpSdkVerifier(auth, {} as { errors: SdkErrorClasses })).toThrow(/errors: await import\('@modelcontextprotocol\/sdk/);
    });
  });

  describe('session binding and per-call scopes (FastMCP)', () => {
    it('refuses another token on a session that a token opened, with 401', async () => {
      stub.close();
      stub = await StubService.start(contractHandler({ 'good-token': GOOD, 'other-token': { ...GOOD, tokenId: 'jti-2', scopes: ['read:bookings'] } }));
      const logged: string[] = [];
      auth = new HospiAIAuth({ validationUrl: stub.url, retries: 0, onFailure: (r, d) => logged.push(`${r}: ${d}`) }, {});
      const authenticate = fastmcpAuthenticate(auth);
      const on = (token: string, session: string) => ({ headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session } });
      expect((await authenticate(on('good-token', 'S1'))).tokenId).toBe('jti-1');
      expect((await authenticate(on('good-token', 'S1'))).tokenId).toBe('jti-1');
      const response = await thrownResponse(authenticate(on('other-token', 'S1')));
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect(logged).toEqual(['invalid: a request named a session opened by another token']);
      // Its own session is fine, and the first token keeps its session.
      expect((await authenticate(on('other-token', 'S2'))).tokenId).toBe('jti-2');
      expect((await authenticate(on('good-token', 'S1'))).tokenId).toBe('jti-1');
    });

    it('withScopes answers a call lacking a scope with a tool error naming it, and runs it otherwise', async () => {
      const execute = withScopes(['write:bookings'], async (args: { id: string }, ctx: { session?: HospiAISession }) => `ok ${args.id} ${ctx.session?.userId}`);
      const session = await fastmcpAuthenticate(auth)({ headers: { authorization: 'Bearer good-token' } });
      expect(await execute({ id: 'x' }, { session })).toEqual({
        content: [{ type: 'text', text: 'insufficient_scope: missing scope write:bookings' }],
        isError: true,
      });
      expect(await execute({ id: 'x' }, { session: { ...session, scopes: ['write:bookings'] } })).toBe('ok x user-1');
      expect(await execute({ id: 'x' }, {})).toMatchObject({ isError: true });
    });
  });

  describe('MCP SDK middlewares', () => {
    type Sent = { status: number; headers: Record<string, string>; body: string };
    function run(middleware: Middleware, req: McpRequestLike): Promise<Sent | 'next'> {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string> = {};
        const res = {
          statusCode: 200,
          setHeader: (name: string, value: string) => (headers[name.toLowerCase()] = value),
          end: (body?: string) => resolve({ status: res.statusCode, headers, body: body ?? '' }),
        };
        middleware(req, res, (error?: unknown) => (error ? reject(error) : resolve('next')));
      });
    }

    it('mcpSdkBearerAuth sets req.auth for a good token and answers 401, 403 and 503 itself', async () => {
      const req: McpRequestLike = { headers: { authorization: 'Bearer good-token' } };
      expect(await run(mcpSdkBearerAuth(auth), req)).toBe('next');
      expect(req.auth).toMatchObject({ clientId: 'jti-1', scopes: ['read:data', 'read:bookings'] });
      expect(hospiaiUser(req.auth as never)?.id).toBe('user-1');

      const missing = (await run(mcpSdkBearerAuth(auth), { headers: {} })) as Sent;
      expect([missing.status, missing.headers['www-authenticate']]).toEqual([401, 'Bearer realm="hospiai"']);
      const revoked = (await run(mcpSdkBearerAuth(auth), { headers: { authorization: 'Bearer revoked-token' } })) as Sent;
      expect(revoked.status).toBe(401);
      expect(JSON.parse(revoked.body)).toEqual({ error: 'Token révoqué ou inexistant', code: 'token_revoked' });
      const scope = (await run(mcpSdkBearerAuth(auth, { requiredScopes: ['write:data'] }), { headers: { authorization: 'Bearer good-token' } })) as Sent;
      expect(scope.status).toBe(403);
      expect(scope.headers['www-authenticate']).toContain('scope="write:data"');
      const busy = (await run(mcpSdkBearerAuth(auth), { headers: { authorization: 'Bearer busy-token' } })) as Sent;
      expect([busy.status, busy.headers['retry-after']]).toEqual([503, '7']);
    });

    it('requireToolScopes answers a tools/call lacking the tool\'s scope with 403 insufficient_scope and the scope', async () => {
      const guard = requireToolScopes({ create_booking: ['write:bookings'] });
      const auth = { scopes: ['read:data'] };
      const call = (name: string) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } });
      const refused = (await run(guard, { headers: {}, auth, body: call('create_booking') })) as Sent;
      expect(refused.status).toBe(403);
      expect(refused.headers['www-authenticate']).toBe(
        'Bearer realm="hospiai", error="insufficient_scope", error_description="The access token lacks a required scope", scope="write:bookings"',
      );
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'insufficient_scope', requiredScopes: ['write:bookings'], scopes: ['read:data'] });
      expect(await run(guard, { headers: {}, auth, body: call('get_patient') })).toBe('next');
      expect(await run(guard, { headers: {}, auth, body: [call('get_patient'), call('create_booking')] })).not.toBe('next');
      expect(await run(guard, { headers: {}, auth, body: { jsonrpc: '2.0', id: 2, method: 'tools/list' } })).toBe('next');
    });

    it('scopedTool answers a handler call lacking a scope with a tool error naming it', async () => {
      const handler = scopedTool(['write:bookings'], (args: { id: string }, extra: { authInfo?: { scopes: string[] } }) => `ok ${args.id} ${extra.authInfo?.scopes.length}`);
      expect(handler({ id: 'a' }, { authInfo: { scopes: ['read:data'] } })).toEqual({
        content: [{ type: 'text', text: 'insufficient_scope: missing scope write:bookings' }],
        isError: true,
      });
      expect(handler({ id: 'a' }, { authInfo: { scopes: ['write:bookings'] } })).toBe('ok a 1');
    });
  });

  describe('onFailure', () => {
    it('logs one line per refusal by default, with the reason and never the token', async () => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      try {
        await auth.validate('revoked-token');
        await auth.validate('busy-token');
        expect(warn.mock.calls.map((c) => c.join(' '))).toEqual([
          '[@hospiai/mcp-auth] request refused: revoked (Token révoqué ou inexistant)',
          expect.stringMatching(/^\[@hospiai\/mcp-auth\] request refused: unavailable \(HTTP 503/),
        ]);
        expect(warn.mock.calls.flat().join(' ')).not.toMatch(/revoked-token|busy-token/);
      } finally {
        warn.mockRestore();
      }
    });
  });
});

import { createRequire } from 'node:module';
import { jest } from '@jest/globals';

import { HospiAIAuth } from './auth.js';
import { fastmcpAuthenticate, requireScopes, type HospiAISession } from './fastmcp.js';
import { mcpSdkVerifier, type SdkErrorClasses } from './mcp-sdk.js';
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
      expect(challenge).toMatch(/^Bearer realm="hospiai", error="invalid_token", error_description="[ -~]+"/);
      expect(challenge).toContain('resource_metadata="https://mcp.example/.well-known/oauth-protected-resource"');
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

    it('loads the SDK\'s own error classes when none are given', async () => {
      // The SDK is a dev dependency of this repository: it must be found here.
      expect(() => createRequire(import.meta.url).resolve('@modelcontextprotocol/sdk/server/auth/errors.js')).not.toThrow();
      const error = await rejection(mcpSdkVerifier(auth).verifyAccessToken('revoked-token'));
      expect((error as Error).name).toBe('InvalidTokenError');
    });

    it('says what is missing when the SDK is not installed and no classes are given', async () => {
      await jest.isolateModulesAsync(async () => {
        jest.unstable_mockModule('@modelcontextprotocol/sdk/server/auth/errors.js', () => {
          throw new Error("Cannot find module '@modelcontextprotocol/sdk/server/auth/errors.js'");
        });
        const isolated = await import('./mcp-sdk.js');
        const error = await rejection(isolated.mcpSdkVerifier(auth).verifyAccessToken('revoked-token'));
        expect((error as Error).message).toMatch(/needs @modelcontextprotocol\/sdk/);
      });
    });
  });
});

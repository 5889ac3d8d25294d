import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';

import { HospiAIAuth } from './auth.js';
import { HospiAIConfigError } from './config.js';
import { failureResponse, missingTokenResponse } from './fastmcp.js';
import { canonicalResourceUri, protectedResource, protectedResourceMetadataUrl } from './protected-resource.js';
import { StubService, contractHandler } from '../test/stub-service.js';

const RESOURCE = 'https://mcp-rdv.chu-exemple.fr/mcp';
const ISSUER = 'https://hospiai.chu-exemple.fr';
const PRM_URL = 'https://mcp-rdv.chu-exemple.fr/.well-known/oauth-protected-resource/mcp';

describe('protectedResource', () => {
  const prm = protectedResource({ resource: 'HTTPS://MCP-RDV.chu-exemple.fr:443/mcp/', issuer: ISSUER, scopesSupported: ['read:data', 'write:bookings'] });

  it('describes the server as RFC 9728 says, with its resource URI in canonical form', () => {
    expect(prm.resource).toBe(RESOURCE);
    expect(prm.metadata).toEqual({
      resource: RESOURCE,
      authorization_servers: [ISSUER],
      scopes_supported: ['read:data', 'write:bookings'],
      bearer_methods_supported: ['header'],
    });
    expect(prm.metadataUrl).toBe(PRM_URL);
    expect(prm.metadataPaths).toEqual(['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']);
    expect(prm.fastmcpOAuth).toEqual({
      enabled: true,
      protectedResource: {
        resource: RESOURCE,
        authorizationServers: [ISSUER],
        scopesSupported: ['read:data', 'write:bookings'],
        bearerMethodsSupported: ['header'],
      },
    });
  });

  it('puts the metadata where the MCP SDK looks for it (getOAuthProtectedResourceMetadataUrl)', () => {
    for (const resource of [RESOURCE, 'https://mcp.example/', 'http://127.0.0.1:8080/a/b', 'https://mcp.example:8443/mcp']) {
      expect(protectedResourceMetadataUrl(resource)).toBe(getOAuthProtectedResourceMetadataUrl(new URL(resource)));
    }
    expect(protectedResource({ resource: 'https://mcp.example', issuer: ISSUER, scopesSupported: ['read:data'] }).metadataPaths).toEqual([
      '/.well-known/oauth-protected-resource',
    ]);
  });

  it('refuses a resource or issuer that is not https (http on loopback only), or no scope', () => {
    const bad = [
      { resource: 'http://mcp.example/mcp', issuer: ISSUER, scopesSupported: ['read:data'] },
      { resource: 'https://mcp.example/mcp#x', issuer: ISSUER, scopesSupported: ['read:data'] },
      { resource: RESOURCE, issuer: 'http://hospiai.example', scopesSupported: ['read:data'] },
      { resource: RESOURCE, issuer: ISSUER, scopesSupported: [] },
    ];
    for (const options of bad) expect(() => protectedResource(options)).toThrow(HospiAIConfigError);
    expect(canonicalResourceUri('http://localhost:3001/mcp/')).toBe('http://localhost:3001/mcp');
  });

  describe('its challenges (MCP authorization specification, RFC 6750, RFC 9728 §5.1)', () => {
    it('401 without a token: resource_metadata and scope, no error', async () => {
      const res = missingTokenResponse(prm.challenge);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${PRM_URL}", scope="read:data write:bookings"`);
    });

    it('401 for a refused token: error="invalid_token", resource_metadata, scope', async () => {
      for (const reason of ['invalid', 'expired', 'revoked'] as const) {
        const res = failureResponse({ ok: false, reason, message: 'x' }, prm.challenge);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", resource_metadata="${PRM_URL}", scope="read:data write:bookings"`);
      }
    });

    it('403 insufficient_scope names the missing scope, so that a client can step up', async () => {
      const res = failureResponse(
        { ok: false, reason: 'insufficient_scope', message: 'Scope insuffisant', requiredScopes: ['write:bookings'], scopes: ['read:data'] },
        prm.challenge,
      );
      expect(res.status).toBe(403);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer error="insufficient_scope", resource_metadata="${PRM_URL}", scope="write:bookings"`);
    });

    it('without resource metadata, the challenges stay as they were', () => {
      const res = failureResponse({ ok: false, reason: 'invalid', message: 'x' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="hospiai", error="invalid_token", error_description="The access token is invalid"');
    });
  });

  describe('middleware, on a real HTTP server', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((req, res) =>
        prm.middleware(req, res, () => {
          res.statusCode = 418;
          res.end('next');
        }),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('serves the document at both well-known paths, open to browsers (CORS)', async () => {
      for (const path of prm.metadataPaths) {
        const res = await fetch(`${base}${path}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/json');
        expect(res.headers.get('access-control-allow-origin')).toBe('*');
        expect(await res.json()).toEqual(prm.metadata);
      }
      const preflight = await fetch(`${base}${prm.metadataPaths[0]}`, { method: 'OPTIONS' });
      expect(preflight.status).toBe(204);
      expect((await fetch(`${base}${prm.metadataPaths[0]}`, { method: 'POST' })).status).toBe(405);
    });

    it('passes every other request on', async () => {
      const res = await fetch(`${base}/mcp`);
      expect([res.status, await res.text()]).toEqual([418, 'next']);
    });
  });

  describe('HospiAIAuth with a resource', () => {
    let stub: StubService;
    beforeAll(async () => {
      stub = await StubService.start(contractHandler({ good: { tokenId: 'jti-1', userId: 'u-1', scopes: ['read:data'], exp: 2_000_000_000, name: 'x' } }));
    });
    afterAll(async () => {
      await stub.close();
    });

    it('sends it, canonical, as resource with every validation', async () => {
      const auth = new HospiAIAuth({ validationUrl: stub.url, resource: 'https://MCP-RDV.chu-exemple.fr/mcp/', cache: false, onFailure: () => {} });
      expect(auth.config.resource).toBe(RESOURCE);
      await auth.validate('good', { requiredScopes: ['read:data'] });
      expect(stub.calls.at(-1)?.body).toEqual({ requiredScopes: ['read:data'], resource: RESOURCE });
    });

    it('reads HOSPIAI_RESOURCE, and sends no resource without one', async () => {
      const fromEnv = HospiAIAuth.fromEnv({ HOSPIAI_VALIDATION_URL: stub.url, HOSPIAI_RESOURCE: RESOURCE }, { cache: false, onFailure: () => {} });
      expect(fromEnv.config.resource).toBe(RESOURCE);
      const none = new HospiAIAuth({ validationUrl: stub.url, cache: false, onFailure: () => {} }, {});
      await none.validate('good');
      expect(stub.calls.at(-1)?.body).toEqual({});
      expect(() => new HospiAIAuth({ validationUrl: stub.url, resource: 'http://mcp.example/mcp' }, {})).toThrow(/resource must be an absolute https URL/);
    });
  });
});

// The OAuth 2.1 authorization server for MCP clients, driven by the official MCP SDK client's own
// OAuth functions (discovery, registration, authorization URL, code exchange, refresh) and by a
// person played as a browser would (the pages' own forms, with cookies).
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import {
  discoverAuthorizationServerMetadata,
  exchangeAuthorization,
  refreshAuthorization,
  registerClient,
  startAuthorization,
} from '@modelcontextprotocol/sdk/client/auth.js';
import type { AuthorizationServerMetadata, OAuthClientInformationFull } from '@modelcontextprotocol/sdk/shared/auth.js';
import { storedEvents } from '../support/audit.js';
import { loopbackCertificate, playPerson } from '../support/oauth-person.js';
import { basic } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

jest.setTimeout(60_000);

const REDIRECT = 'http://127.0.0.1:49152/callback';
const RESOURCE_A = 'https://mcp-a.chu-exemple.fr/mcp';
const RESOURCE_B = 'https://mcp-b.chu-exemple.fr/mcp';

describe('OAuth authorization server', () => {
  let t: TestApp;
  let admin: User;
  let user: User;
  let metadata: AuthorizationServerMetadata;
  let client: OAuthClientInformationFull;
  let serverA: { clientId: string; clientSecret: string };
  let cimd: Server;
  let cimdUrl: string;

  beforeAll(async () => {
    const cert = loopbackCertificate();
    t = await startTestApp({ OAUTH_CIMD_CA_FILE: cert.certFile });
    admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
    const a = await t.request('POST', '/api/mcp/clients', {
      token: admin.token,
      body: { name: 'Rendez-vous', resourceUri: RESOURCE_A, acceptedScopes: ['read:data', 'read:bookings', 'read:audit'] },
    });
    expect(a.status).toBe(201);
    serverA = a.body;
    const b = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'Pharmacie', resourceUri: RESOURCE_B } });
    expect(b.status).toBe(201);
    // A Client ID Metadata Document served over https on loopback, with a certificate the service is told to trust.
    cimd = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Cache-Control', 'max-age=300');
      res.end(JSON.stringify({ client_id: cimdUrl, client_name: 'Agent CIMD', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] }));
    });
    await new Promise<void>((r) => cimd.listen(0, '127.0.0.1', r));
    cimdUrl = `https://127.0.0.1:${(cimd.address() as AddressInfo).port}/client.json`;
  });
  afterAll(async () => {
    cimd?.close();
    await t?.close();
  });

  async function authorize(o: {
    clientInformation?: OAuthClientInformationFull | { client_id: string };
    scope?: string;
    resource?: string;
    person?: User;
    decision?: 'allow' | 'deny';
  }) {
    const { authorizationUrl, codeVerifier } = await startAuthorization(t.baseUrl, {
      metadata,
      clientInformation: (o.clientInformation ?? client) as OAuthClientInformationFull,
      redirectUrl: REDIRECT,
      scope: o.scope ?? 'read:data',
      state: 'etat-123',
      resource: new URL(o.resource ?? RESOURCE_A),
    });
    const person = o.person ?? user;
    const run = await playPerson(authorizationUrl, { email: person.email, password: person.password, decision: o.decision });
    return { ...run, codeVerifier, code: run.redirect.searchParams.get('code') };
  }

  async function exchange(code: string, codeVerifier: string, clientInformation: OAuthClientInformationFull | { client_id: string } = client) {
    return exchangeAuthorization(t.baseUrl, {
      metadata,
      clientInformation: clientInformation as OAuthClientInformationFull,
      authorizationCode: code,
      codeVerifier,
      redirectUri: REDIRECT,
      resource: new URL(RESOURCE_A),
    });
  }

  /** Introspection (RFC 7662) by MCP server A: 200 when active, 401 otherwise (as validate would answer). */
  async function validate(token: string, _resource?: string) {
    const res = await fetch(`${t.baseUrl}/api/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: basic(serverA.clientId, serverA.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    const body = (await res.json()) as { active: boolean; scope?: string };
    return { status: body.active ? 200 : 401, body: { token: { scopes: body.scope?.split(' ') ?? [] } } };
  }

  it('publishes its metadata (RFC 8414)', async () => {
    metadata = (await discoverAuthorizationServerMetadata(t.baseUrl))!;
    expect(metadata).toMatchObject({
      issuer: t.baseUrl,
      authorization_endpoint: `${t.baseUrl}/oauth/authorize`,
      token_endpoint: `${t.baseUrl}/oauth/token`,
      registration_endpoint: `${t.baseUrl}/oauth/register`,
      revocation_endpoint: `${t.baseUrl}/oauth/revoke`,
      introspection_endpoint: `${t.baseUrl}/api/oauth/introspect`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      scopes_supported: ['read:data', 'write:data', 'read:bookings', 'write:bookings', 'read:audit'],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    });
    expect(metadata.token_endpoint_auth_methods_supported).toContain('none');
  });

  it('registers a client dynamically (RFC 7591), loopback redirect URIs only or https', async () => {
    client = await registerClient(t.baseUrl, {
      metadata,
      clientMetadata: { client_name: 'Agent de test', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
    });
    expect(client.client_id).toEqual(expect.any(String));
    const refused = await t.request('POST', '/oauth/register', { body: { client_name: 'Mauvais', redirect_uris: ['http://exemple.fr/cb'], token_endpoint_auth_method: 'none' } });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_redirect_uri');
    const events = (await storedEvents(t)).filter((e) => e.type === 'oauth.client_register');
    expect(events.map((e) => e.outcome).sort()).toEqual(['failure', 'success']);
  });

  it('runs the code flow: login, consent, code with iss, a HospiAI token bound to the resource', async () => {
    const run = await authorize({});
    expect(run.redirect.origin + run.redirect.pathname).toBe(REDIRECT);
    expect(run.redirect.searchParams.get('iss')).toBe(t.baseUrl);
    expect(run.redirect.searchParams.get('state')).toBe('etat-123');
    expect(run.pages.map((p) => p.html.includes('<h1>Connexion</h1>'))).toEqual([true, false]);
    const consent = run.pages[1].html;
    expect(consent).toContain('Agent de test');
    expect(consent).toContain('127.0.0.1:49152');
    expect(consent).toContain('Rendez-vous');
    expect(consent).toContain(RESOURCE_A);
    expect(consent).toContain('Lire les données patients et hospitalières');
    expect(run.pages[1].csp).toContain("form-action 'self' http://127.0.0.1:49152");
    expect(run.pages[1].csp).not.toContain('script-src');
    const tokens = await exchange(run.code!, run.codeVerifier);
    expect(tokens).toMatchObject({ token_type: expect.stringMatching(/bearer/i), expires_in: 3600, scope: 'read:data', refresh_token: expect.any(String) });
    const valid = await validate(tokens.access_token, RESOURCE_A);
    expect(valid.status).toBe(200);
    expect(valid.body.token.scopes).toEqual(['read:data']);
    const { rows } = await t.db.query(`SELECT user_id, name, audience, via_client_id, oauth_grant_id FROM api_tokens WHERE user_id = $1`, [user.id]);
    expect(rows).toEqual([{ user_id: user.id, name: 'Agent de test', audience: RESOURCE_A, via_client_id: client.client_id, oauth_grant_id: expect.any(String) }]);
    const types = (await storedEvents(t)).map((e) => e.type);
    for (const type of ['oauth.authorize', 'oauth.consent', 'oauth.code_exchange']) expect(types).toContain(type);
  });

  it('remembers the consent: a second authorization shows no consent page', async () => {
    const run = await authorize({});
    expect(run.code).toEqual(expect.any(String));
    expect(run.pages.some((p) => p.html.includes('/consent'))).toBe(false);
  });

  it('rotates refresh tokens; a refresh token used twice revokes the whole family and its access tokens', async () => {
    const run = await authorize({});
    const first = await exchange(run.code!, run.codeVerifier);
    const second = await refreshAuthorization(t.baseUrl, { metadata, clientInformation: client, refreshToken: first.refresh_token!, resource: new URL(RESOURCE_A) });
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await validate(second.access_token)).status).toBe(200);
    await expect(
      refreshAuthorization(t.baseUrl, { metadata, clientInformation: client, refreshToken: first.refresh_token!, resource: new URL(RESOURCE_A) }),
    ).rejects.toThrow();
    await expect(
      refreshAuthorization(t.baseUrl, { metadata, clientInformation: client, refreshToken: second.refresh_token!, resource: new URL(RESOURCE_A) }),
    ).rejects.toThrow();
    expect((await validate(second.access_token)).status).toBe(401);
    expect((await validate(first.access_token)).status).toBe(401);
    const replay = (await storedEvents(t)).filter((e) => e.type === 'oauth.refresh_replay');
    expect(replay.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(replay)).not.toContain(first.refresh_token!);
  });

  it('refuses a missing PKCE challenge, a wrong verifier, an unregistered redirect URI and a missing resource', async () => {
    const noPkce = new URL(`${t.baseUrl}/oauth/authorize`);
    noPkce.search = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope: 'read:data', resource: RESOURCE_A }).toString();
    const r1 = await fetch(noPkce, { redirect: 'manual' });
    expect(r1.status).toBe(303);
    expect(new URL(r1.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');

    const plain = new URL(noPkce);
    plain.searchParams.set('code_challenge', 'a'.repeat(43));
    plain.searchParams.set('code_challenge_method', 'plain');
    const r2 = await fetch(plain, { redirect: 'manual' });
    expect(new URL(r2.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');

    const noResource = new URL(plain);
    noResource.searchParams.set('code_challenge_method', 'S256');
    noResource.searchParams.delete('resource');
    const r3 = await fetch(noResource, { redirect: 'manual' });
    expect(new URL(r3.headers.get('location')!).searchParams.get('error')).toBe('invalid_target');

    const unknownResource = new URL(noResource);
    unknownResource.searchParams.set('resource', 'https://inconnu.exemple.fr/mcp');
    const r4 = await fetch(unknownResource, { redirect: 'manual' });
    expect(new URL(r4.headers.get('location')!).searchParams.get('error')).toBe('invalid_target');

    const badRedirect = new URL(noResource);
    badRedirect.searchParams.set('resource', RESOURCE_A);
    badRedirect.searchParams.set('redirect_uri', 'http://127.0.0.1:49152/ailleurs');
    const r5 = await fetch(badRedirect, { redirect: 'manual' });
    expect(r5.status).toBe(400);
    expect(r5.headers.get('location')).toBeNull();

    const run = await authorize({});
    await expect(exchange(run.code!, 'x'.repeat(43))).rejects.toThrow();
  });

  it('grants only what the role may hold and the server accepts; Refuser answers access_denied', async () => {
    const run = await authorize({ scope: 'read:bookings read:audit write:bookings' });
    const consent = run.pages.find((p) => p.html.includes('/consent'))!.html;
    expect(consent).toContain('ne peuvent pas être accordées');
    const tokens = await exchange(run.code!, run.codeVerifier);
    expect(tokens.scope).toBe('read:bookings');

    const other = await createUser(t);
    const denied = await authorize({ person: other, decision: 'deny' });
    expect(denied.redirect.searchParams.get('error')).toBe('access_denied');
    expect(denied.redirect.searchParams.get('iss')).toBe(t.baseUrl);
  });

  it('registers a client by its Client ID Metadata Document, fetched over https on loopback', async () => {
    const other = await createUser(t);
    const run = await authorize({ clientInformation: { client_id: cimdUrl }, person: other });
    expect(run.pages.find((p) => p.html.includes('/consent'))!.html).toContain('Agent CIMD');
    const tokens = await exchange(run.code!, run.codeVerifier, { client_id: cimdUrl });
    expect((await validate(tokens.access_token)).status).toBe(200);
  });

  it('refuses a Client ID Metadata Document on a private address, audited (SSRF guard)', async () => {
    const url = new URL(`${t.baseUrl}/oauth/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: 'https://10.1.2.3/client.json',
      redirect_uri: REDIRECT,
      scope: 'read:data',
      resource: RESOURCE_A,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const refused = (await storedEvents(t)).filter((e) => e.type === 'oauth.client_document' && e.outcome === 'failure');
    expect(refused.map((e) => e.details)).toContainEqual(expect.objectContaining({ clientId: 'https://10.1.2.3/client.json', reason: expect.stringContaining('private') }));
  });

  it('lists the grants and revokes one with its tokens (Applications autorisées)', async () => {
    const other = await createUser(t);
    const run = await authorize({ person: other });
    const tokens = await exchange(run.code!, run.codeVerifier);
    const list = await t.request('GET', '/api/oauth/grants', { token: other.token });
    expect(list.status).toBe(200);
    expect(list.body.grants).toEqual([
      expect.objectContaining({ clientId: client.client_id, clientName: 'Agent de test', resource: RESOURCE_A, serverName: 'Rendez-vous', scopes: ['read:data'] }),
    ]);
    expect((await t.request('DELETE', `/api/oauth/grants/${list.body.grants[0].id}`, { token: user.token })).status).toBe(404);
    expect((await t.request('DELETE', `/api/oauth/grants/${list.body.grants[0].id}`, { token: other.token })).status).toBe(204);
    expect((await validate(tokens.access_token)).status).toBe(401);
    await expect(
      refreshAuthorization(t.baseUrl, { metadata, clientInformation: client, refreshToken: tokens.refresh_token!, resource: new URL(RESOURCE_A) }),
    ).rejects.toThrow();
    expect((await t.request('GET', '/api/oauth/grants', { token: other.token })).body.grants).toEqual([]);
  });

  it('revokes an access token by RFC 7009', async () => {
    const other = await createUser(t);
    const run = await authorize({ person: other });
    const tokens = await exchange(run.code!, run.codeVerifier);
    const res = await fetch(`${t.baseUrl}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token, client_id: client.client_id }).toString(),
    });
    expect(res.status).toBe(200);
    expect((await validate(tokens.access_token)).status).toBe(401);
  });
});

describe('OAuth dynamic registration behind an initial access token (OAUTH_DCR=token)', () => {
  let t: TestApp;
  const IAT = 'jeton-initial-de-test-0123456789';

  beforeAll(async () => {
    t = await startTestApp({ OAUTH_DCR: 'token', OAUTH_DCR_INITIAL_ACCESS_TOKEN: IAT });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a registration without the token, accepts one with it, and never logs the token', async () => {
    const body = { client_name: 'Agent', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' };
    const without = await t.request('POST', '/oauth/register', { body });
    expect(without.status).toBe(401);
    expect(without.body.error).toBe('invalid_token');
    const wrong = await t.request('POST', '/oauth/register', { body, token: 'pas-le-bon-jeton-0123456789' });
    expect(wrong.status).toBe(401);
    const ok = await t.request('POST', '/oauth/register', { body, token: IAT });
    expect(ok.status).toBe(201);
    expect(t.logs.join('\n')).not.toContain(IAT);
    expect(JSON.stringify(await storedEvents(t))).not.toContain(IAT);
  });
});

// Audience binding (docs/api.md, "Audience binding"): registered MCP servers as resources (their
// canonical resource URI and accepted scopes, PATCH), tokens bound to one of them, and the binding
// as POST /api/mcp/validate (`resource`), introspection (the caller's resource) and the service's own
// API see it. TokensService.issueWithin, which the authorization server calls, is exercised here too.
import { DataSource } from 'typeorm';
import { storedEvents } from '../support/audit.js';
import { decodeJwt } from '../support/jwt.js';
import { basic, createToken, registerClient, type RegisteredClient } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';
import { TokensService } from '../../src/tokens/tokens.service.js';
import { McpClientsService } from '../../src/mcp-clients/mcp-clients.service.js';

const ALL_SCOPES = ['read:data', 'write:data', 'read:bookings', 'write:bookings', 'read:audit'];
const INVALID = { error: 'Token invalide', code: 'invalid_token' };

describe('audience binding', () => {
  let t: TestApp;
  let admin: User;
  let user: User;
  let auditor: User;
  let serverA: RegisteredClient;
  let serverB: RegisteredClient;
  let plain: RegisteredClient;
  const RESOURCE_A = 'https://mcp-a.chu-exemple.fr/mcp';
  const RESOURCE_B = 'https://mcp-b.chu-exemple.fr/mcp';

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'admin' });
    user = await createUser(t);
    auditor = await createUser(t, { role: 'auditor' });
    serverA = await registerClient(t, admin.token, 'Serveur A', { resourceUri: 'HTTPS://MCP-A.chu-exemple.fr:443/mcp/' });
    serverB = await registerClient(t, admin.token, 'Serveur B', { resourceUri: RESOURCE_B, acceptedScopes: ['read:bookings', 'read:data'] });
    plain = await registerClient(t, admin.token, 'Serveur sans ressource');
  });
  afterAll(async () => {
    await t.close();
  });

  const validate = (token: string, body?: unknown) => t.request('POST', '/api/mcp/validate', { token, ...(body === undefined ? {} : { body }) });

  async function introspect(token: string, c: RegisteredClient): Promise<{ status: number; body: any }> {
    const res = await fetch(`${t.baseUrl}/api/oauth/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.clientId, c.clientSecret) },
      body: new URLSearchParams({ token }).toString(),
    });
    return { status: res.status, body: await res.json() };
  }

  async function eventsOf(type: string, tokenId: string) {
    return (await storedEvents(t)).filter((e) => e.type === type && e.tokenId === tokenId);
  }

  describe('MCP servers as resources', () => {
    it('stores the resource URI in canonical form, and the accepted scopes (all by default, in catalogue order)', async () => {
      expect(serverA).toMatchObject({ resourceUri: RESOURCE_A, acceptedScopes: ALL_SCOPES });
      expect(serverB).toMatchObject({ resourceUri: RESOURCE_B, acceptedScopes: ['read:data', 'read:bookings'] });
      expect(plain).toMatchObject({ resourceUri: null, acceptedScopes: ALL_SCOPES });
      const list = await t.request('GET', '/api/mcp/clients', { token: admin.token });
      expect(list.body.items.find((c: { id: string }) => c.id === serverA.id)).toMatchObject({ resourceUri: RESOURCE_A, acceptedScopes: ALL_SCOPES });
      const [created] = (await storedEvents(t)).filter((e) => e.type === 'mcp_client.create' && e.details.id === serverB.id);
      expect(created.details).toMatchObject({ resourceUri: RESOURCE_B, acceptedScopes: ['read:data', 'read:bookings'] });
    });

    it('refuses a resource URI that is not an absolute https URL (http on loopback only), with a French message naming the field', async () => {
      for (const resourceUri of ['http://mcp.chu-exemple.fr/mcp', 'mcp.chu-exemple.fr', 'https://mcp.chu-exemple.fr/mcp#x', 'https://u:p@mcp.chu-exemple.fr/']) {
        const res = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'x', resourceUri } });
        expect([res.status, res.body.code]).toEqual([400, 'validation_failed']);
        expect(res.body.error).toMatch(/^URI de ressource invalide/);
        expect(res.body.fields).toEqual([{ field: 'resourceUri', message: expect.any(String) }]);
      }
      const loopback = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'local', resourceUri: 'http://127.0.0.1:3901/mcp' } });
      expect([loopback.status, loopback.body.resourceUri]).toEqual([201, 'http://127.0.0.1:3901/mcp']);
      for (const acceptedScopes of [[], ['read:nothing'], ['read:data', 'read:data'], 'read:data']) {
        const res = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'x', acceptedScopes } });
        expect([res.status, res.body.fields?.[0]?.field]).toEqual([400, 'acceptedScopes']);
      }
    });

    it('keeps a resource URI to one active server (409), and frees it when that server is revoked', async () => {
      const uri = 'https://mcp-unique.chu-exemple.fr/';
      const first = await registerClient(t, admin.token, 'premier', { resourceUri: uri });
      const twice = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'second', resourceUri: 'https://MCP-UNIQUE.chu-exemple.fr' } });
      expect([twice.status, twice.body.code]).toEqual([409, 'resource_uri_taken']);
      expect(twice.body.error).toBe('Cette URI de ressource est déjà celle d’un autre serveur MCP actif');
      expect((await t.request('DELETE', `/api/mcp/clients/${first.id}`, { token: admin.token })).status).toBe(204);
      const again = await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'second', resourceUri: uri } });
      expect([again.status, again.body.resourceUri]).toEqual([201, uri]);
    });

    it('PATCH /api/mcp/clients/{id} changes what is given, is audited with before and after, and is for admins only', async () => {
      const c = await registerClient(t, admin.token, 'à changer');
      const res = await t.request('PATCH', `/api/mcp/clients/${c.id}`, {
        token: admin.token,
        body: { resourceUri: 'https://mcp-change.chu-exemple.fr/Outils/', acceptedScopes: ['write:bookings', 'read:bookings'] },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: c.id, name: 'à changer', resourceUri: 'https://mcp-change.chu-exemple.fr/Outils', acceptedScopes: ['read:bookings', 'write:bookings'] });
      expect(res.body.clientSecret).toBeUndefined();
      const renamed = await t.request('PATCH', `/api/mcp/clients/${c.id}`, { token: admin.token, body: { name: 'changé' } });
      expect(renamed.body).toMatchObject({ name: 'changé', resourceUri: 'https://mcp-change.chu-exemple.fr/Outils' });
      const cleared = await t.request('PATCH', `/api/mcp/clients/${c.id}`, { token: admin.token, body: { resourceUri: null } });
      expect(cleared.body).toMatchObject({ resourceUri: null, acceptedScopes: ['read:bookings', 'write:bookings'] });

      const events = (await storedEvents(t)).filter((e) => e.type === 'mcp_client.update' && e.details.id === c.id);
      expect(events.map((e) => [e.outcome, e.actorUserId])).toEqual([
        ['success', admin.id],
        ['success', admin.id],
        ['success', admin.id],
      ]);
      expect(events[0].details.changes).toEqual({
        resourceUri: { from: null, to: 'https://mcp-change.chu-exemple.fr/Outils' },
        acceptedScopes: { from: ALL_SCOPES, to: ['read:bookings', 'write:bookings'] },
      });
      expect(events[1].details.changes).toEqual({ name: { from: 'à changer', to: 'changé' } });

      expect((await t.request('PATCH', `/api/mcp/clients/${c.id}`, { token: user.token, body: { name: 'x' } })).status).toBe(403);
      expect((await t.request('PATCH', `/api/mcp/clients/${c.id}`, { body: { name: 'x' } })).status).toBe(401);
      expect((await t.request('PATCH', `/api/mcp/clients/${c.id}`, { token: admin.token, body: { clientSecret: 'x' } })).status).toBe(400);
      expect((await t.request('PATCH', `/api/mcp/clients/${c.id}`, { token: admin.token, body: { resourceUri: RESOURCE_A } })).status).toBe(409);
      expect((await t.request('PATCH', '/api/mcp/clients/3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a', { token: admin.token, body: { name: 'x' } })).status).toBe(404);
      await t.request('DELETE', `/api/mcp/clients/${c.id}`, { token: admin.token });
      const revoked = await t.request('PATCH', `/api/mcp/clients/${c.id}`, { token: admin.token, body: { name: 'x' } });
      expect([revoked.status, revoked.body.code]).toEqual([409, 'mcp_client_revoked']);
    });

    it('findByResource finds an active server by any form of its URI, and nothing else', async () => {
      const clients = t.app.get(McpClientsService);
      expect(await clients.findByResource('https://MCP-A.chu-exemple.fr/mcp/')).toEqual({
        id: serverA.id,
        clientId: serverA.clientId,
        name: 'Serveur A',
        resourceUri: RESOURCE_A,
        acceptedScopes: ALL_SCOPES,
      });
      expect(await clients.findByResource('https://unknown.chu-exemple.fr/mcp')).toBeNull();
      expect(await clients.findByResource('not a uri')).toBeNull();
      const gone = await registerClient(t, admin.token, 'révoqué', { resourceUri: 'https://mcp-gone.chu-exemple.fr/mcp' });
      await t.request('DELETE', `/api/mcp/clients/${gone.id}`, { token: admin.token });
      expect(await clients.findByResource('https://mcp-gone.chu-exemple.fr/mcp')).toBeNull();
    });
  });

  describe('tokens bound to a resource', () => {
    it('carries aud ["hospiai:api", resource] and stores the canonical audience; unbound tokens keep aud "hospiai:api"', async () => {
      const bound = await createToken(t, user.token, ['read:data'], 'lié', 'https://mcp-a.chu-exemple.fr/mcp/');
      expect(bound).toMatchObject({ audience: RESOURCE_A });
      expect(decodeJwt(bound.token).payload.aud).toEqual(['hospiai:api', RESOURCE_A]);
      const { rows } = await t.db.query(`SELECT audience, via_client_id, via_client_name FROM api_tokens WHERE id = $1`, [bound.id]);
      expect(rows[0]).toEqual({ audience: RESOURCE_A, via_client_id: null, via_client_name: null });
      const listed = await t.request('GET', `/api/tokens/${bound.id}`, { token: user.token });
      expect(listed.body).toMatchObject({ audience: RESOURCE_A, viaClient: null });
      const [created] = await eventsOf('token.create', bound.id);
      expect(created.details).toMatchObject({ audience: RESOURCE_A });

      const unbound = await createToken(t, user.token);
      expect(decodeJwt(unbound.token).payload.aud).toBe('hospiai:api');
    });

    it('refuses an audience that is not the resource URI of an active registered server, or scopes it does not accept (400, French)', async () => {
      for (const audience of ['https://unknown.chu-exemple.fr/mcp', 'pas une uri', 'http://mcp-a.chu-exemple.fr/mcp']) {
        const res = await t.request('POST', '/api/tokens', { token: user.token, body: { name: 'x', scopes: ['read:data'], durationDays: 1, audience } });
        expect([res.status, res.body.code]).toEqual([400, 'validation_failed']);
        expect(res.body.error).toBe('Audience invalide : elle doit être l’URI de ressource d’un serveur MCP enregistré et actif (GET /api/mcp/clients)');
        expect(res.body.fields).toEqual([{ field: 'audience', message: expect.any(String) }]);
      }
      const res = await t.request('POST', '/api/tokens', {
        token: user.token,
        body: { name: 'x', scopes: ['write:bookings'], durationDays: 1, audience: RESOURCE_B },
      });
      expect([res.status, res.body.error]).toEqual([400, 'Ce serveur MCP n’accepte pas write:bookings']);
    });

    it('rotation keeps the audience', async () => {
      const bound = await createToken(t, user.token, ['read:data'], 'à tourner', RESOURCE_A);
      const res = await t.request('POST', `/api/tokens/${bound.id}/rotate`, { token: user.token });
      expect(res.status).toBe(201);
      expect(res.body.audience).toBe(RESOURCE_A);
      expect(decodeJwt(res.body.token).payload.aud).toEqual(['hospiai:api', RESOURCE_A]);
    });
  });

  describe('POST /api/mcp/validate with resource', () => {
    it('accepts a bound token from its own resource, in any form of its URI', async () => {
      const bound = await createToken(t, user.token, ['read:data'], 'lié', RESOURCE_A);
      for (const resource of [RESOURCE_A, 'HTTPS://mcp-a.chu-exemple.fr:443/mcp/']) {
        const res = await validate(bound.token, { resource, requiredScopes: ['read:data'] });
        expect([res.status, res.body.valid]).toEqual([200, true]);
      }
    });

    it('refuses it from another resource, or without one: 401 invalid_token, audited as wrong_audience', async () => {
      const bound = await createToken(t, user.token, ['read:data'], 'lié', RESOURCE_A);
      for (const body of [{ resource: RESOURCE_B }, { resource: 'https://mcp-a.chu-exemple.fr/mcp/other' }, {}, undefined, { requiredScopes: ['read:data'] }]) {
        const res = await validate(bound.token, body);
        expect([res.status, res.body]).toEqual([401, INVALID]);
        expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      }
      const events = await eventsOf('token.validate', bound.id);
      expect(events).toHaveLength(5);
      for (const e of events) expect([e.outcome, e.details.reason, e.actorUserId]).toEqual(['invalid', 'wrong_audience', user.id]);
      expect(events.map((e) => e.details.resource)).toEqual(
        expect.arrayContaining([RESOURCE_B, 'https://mcp-a.chu-exemple.fr/mcp/other', null]),
      );
    });

    it('ignores resource for an unbound token', async () => {
      const unbound = await createToken(t, user.token);
      for (const body of [{ resource: RESOURCE_A }, { resource: RESOURCE_B }, { resource: 'anything at all' }, {}]) {
        expect((await validate(unbound.token, body)).status).toBe(200);
      }
    });

    it('answers 400 for a resource that is not a string of 1 to 2048 characters', async () => {
      const unbound = await createToken(t, user.token);
      for (const resource of [42, null, ['https://a'], '', `https://a.fr/${'x'.repeat(2048)}`]) {
        const res = await validate(unbound.token, { resource });
        expect([res.status, res.body]).toEqual([400, { error: 'Requête invalide', code: 'invalid_request' }]);
      }
    });

    it('a bound token is refused by the service’s own API (it is for its MCP server only)', async () => {
      const own = await createToken(t, auditor.token, ['read:audit'], 'audit', RESOURCE_A);
      const res = await t.request('GET', '/api/audit/events?limit=1', { token: own.token });
      expect([res.status, res.body.code]).toEqual([401, 'invalid_token']);
      const unbound = await createToken(t, auditor.token, ['read:audit'], 'audit');
      expect((await t.request('GET', '/api/audit/events?limit=1', { token: unbound.token })).status).toBe(200);
    });
  });

  describe('introspection and the caller’s resource', () => {
    it('is active for the bound server (with aud), inactive for another or for a server without resource (audited wrong_audience)', async () => {
      const bound = await createToken(t, user.token, ['read:data'], 'lié', RESOURCE_A);
      const mine = await introspect(bound.token, serverA);
      expect(mine.body).toMatchObject({ active: true, jti: bound.id, aud: ['hospiai:api', RESOURCE_A] });
      expect(await introspect(bound.token, serverB)).toEqual({ status: 200, body: { active: false } });
      expect(await introspect(bound.token, plain)).toEqual({ status: 200, body: { active: false } });
      const events = await eventsOf('token.introspect', bound.id);
      expect(events.map((e) => [e.outcome, e.details.reason ?? null, e.details.clientId])).toEqual([
        ['valid', null, serverA.clientId],
        ['invalid', 'wrong_audience', serverB.clientId],
        ['invalid', 'wrong_audience', plain.clientId],
      ]);
    });

    it('an unbound token is active for every server', async () => {
      const unbound = await createToken(t, user.token);
      for (const c of [serverA, serverB, plain]) {
        expect((await introspect(unbound.token, c)).body).toMatchObject({ active: true, aud: ['hospiai:api'] });
      }
    });
  });

  describe('TokensService.issueWithin (for the authorization server)', () => {
    const ctx = { ip: '127.0.0.1', userAgent: 'test', requestId: 'req-issue-within', clientRequestId: null };

    it('issues a short bound token inside the caller’s transaction, listed "via" its client and audited with it', async () => {
      const tokens = t.app.get(TokensService);
      const issued = await t.app.get(DataSource).transaction((m) =>
        tokens.issueWithin(
          m,
          {
            userId: user.id,
            name: 'Agent de planification',
            scopes: ['read:data'],
            lifetimeSeconds: 3600,
            audience: 'https://MCP-A.chu-exemple.fr/mcp',
            viaClient: { clientId: 'https://agent.example.org/client.json', name: 'Agent de planification' },
          },
          ctx,
        ),
      );
      const payload = decodeJwt(issued.token).payload;
      expect(payload.aud).toEqual(['hospiai:api', RESOURCE_A]);
      expect(payload.exp - payload.iat).toBe(3600);
      expect(issued.expiresAt.getTime()).toBe(payload.exp * 1000);
      expect(payload.jti).toBe(issued.id);

      const listed = (await t.request('GET', '/api/tokens', { token: user.token })).body.items.find((x: { id: string }) => x.id === issued.id);
      expect(listed).toMatchObject({
        name: 'Agent de planification',
        audience: RESOURCE_A,
        viaClient: { clientId: 'https://agent.example.org/client.json', name: 'Agent de planification' },
      });
      const [created] = await eventsOf('token.create', issued.id);
      expect(created).toMatchObject({
        outcome: 'success',
        actorUserId: user.id,
        requestId: 'req-issue-within',
        details: { lifetimeSeconds: 3600, audience: RESOURCE_A, viaClient: { clientId: 'https://agent.example.org/client.json', name: 'Agent de planification' } },
      });

      expect((await validate(issued.token, { resource: RESOURCE_A })).status).toBe(200);
      expect((await validate(issued.token, { resource: RESOURCE_B })).status).toBe(401);
    });

    it('issues nothing and records nothing when the transaction rolls back, or what the owner or the resource may not hold', async () => {
      const tokens = t.app.get(TokensService);
      const before = Number((await t.db.query(`SELECT count(*) AS n FROM api_tokens`)).rows[0].n);
      const input = { userId: user.id, name: 'x', scopes: ['read:data'] as const, lifetimeSeconds: 60, audience: RESOURCE_A };
      await expect(
        t.app.get(DataSource).transaction(async (m) => {
          await tokens.issueWithin(m, { ...input, scopes: [...input.scopes] }, ctx);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      await expect(
        t.app.get(DataSource).transaction((m) => tokens.issueWithin(m, { ...input, scopes: ['read:audit'] }, ctx)),
      ).rejects.toMatchObject({ status: 403, code: 'scope_not_allowed' });
      await expect(
        t.app.get(DataSource).transaction((m) => tokens.issueWithin(m, { ...input, scopes: ['write:bookings'], audience: RESOURCE_B }, ctx)),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        t.app.get(DataSource).transaction((m) => tokens.issueWithin(m, { ...input, scopes: ['read:data'], audience: 'https://unknown.example/' }, ctx)),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        t.app.get(DataSource).transaction((m) => tokens.issueWithin(m, { ...input, scopes: ['read:data'], lifetimeSeconds: 0 }, ctx)),
      ).rejects.toThrow(RangeError);
      expect(Number((await t.db.query(`SELECT count(*) AS n FROM api_tokens`)).rows[0].n)).toBe(before);
    });
  });
});

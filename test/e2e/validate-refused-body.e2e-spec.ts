// docs/api.md, "Validation": every call of the validate route, whatever its outcome, has its audit event. A body
// that Fastify refuses before the route runs (too large, a content type with no parser) is no
// exception: it is answered as any body that is not {"requiredScopes": [...]}, and audited.
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

describe('validate: bodies refused before the route', () => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await startTestApp();
    const session = (await createUser(t)).token;
    const created = await t.request('POST', '/api/tokens', {
      token: session,
      body: { name: 'srv', scopes: ['read:data'], durationDays: 30 },
    });
    expect(created.status).toBe(201);
    token = created.body.token;
  });
  afterAll(async () => {
    await t.close();
  });

  async function eventsOf(requestId: string): Promise<{ outcome: string; details: Record<string, unknown> }[]> {
    const { rows } = await t.db.query(
      `SELECT "outcome", "details" FROM "audit_event" WHERE "type" = 'token.validate' AND "request_id" = $1`,
      [requestId],
    );
    return rows;
  }

  it.each([
    ['a content type the service does not parse', { 'content-type': 'application/xml' }, '<requiredScopes>read:data</requiredScopes>'],
    [
      'a JSON body over 64 KiB',
      { 'content-type': 'application/json' },
      JSON.stringify({ requiredScopes: ['read:data'], pad: 'x'.repeat(70 * 1024) }),
    ],
  ])('%s: 400 invalid_request, with its audit event', async (_what, headers, rawBody) => {
    const res = await t.request('POST', '/api/mcp/validate', { token, headers, rawBody });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'Requête invalide', code: 'invalid_request' });
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    const events = await eventsOf(requestId as string);
    expect(events).toHaveLength(1);
    expect(events[0].outcome).toBe('invalid');
    expect(events[0].details).toMatchObject({ reason: 'bad_request' });
  });

  it.each([
    ['a body that is not JSON', { 'content-type': 'application/json' }, '{"requiredScopes": [read:data'],
    ['a content type the service does not parse', { 'content-type': 'application/xml' }, '<requiredScopes/>'],
  ])(
    'the route is told by its route, not its raw URL: with a query string, %s is still 400 invalid_request, audited',
    async (_what, headers, rawBody) => {
      const res = await t.request('POST', '/api/mcp/validate?client=fastmcp', { token, headers, rawBody });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'Requête invalide', code: 'invalid_request' });
      const events = await eventsOf(res.headers.get('x-request-id') as string);
      expect(events.map((e) => e.outcome)).toEqual(['invalid']);
    },
  );

  it('other routes still answer such bodies 413 and 415 with the API error body', async () => {
    const xml = await t.request('POST', '/api/auth/login', { headers: { 'content-type': 'application/xml' }, rawBody: '<email/>' });
    expect(xml.status).toBe(415);
    expect(xml.body.code).toBe('unsupported_media_type');
    const big = await t.request('POST', '/api/auth/login', {
      rawBody: JSON.stringify({ email: 'a@b.fr', password: 'x'.repeat(70 * 1024) }),
    });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('payload_too_large');
  });

  it('the validate answers counted by the metrics equal the audit events', async () => {
    const counted = async (): Promise<number> => {
      const text = (await t.request('GET', '/metrics')).text;
      return [...text.matchAll(/^hospiai_validate_answers_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const before = await counted();
    const res = await t.request('POST', '/api/mcp/validate', { token, headers: { 'content-type': 'application/xml' }, rawBody: '<x/>' });
    expect(res.status).toBe(400);
    expect(await counted()).toBe(before + 1);
  });
});

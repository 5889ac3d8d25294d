// Deeply nested JSON bodies: refused by the JSON parser past 32 levels with the API's 400, never
// a 500 from a stack overflow (class-transformer walks a body recursively) nor a stack trace in the
// log. The validate route answers such a body as it answers any body that is not JSON, audited.
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

/** `{"<field>": [[[ … "x" … ]]]}` with the value nested `depth` arrays deep. */
function nested(field: string, depth: number): string {
  return `{"${field}": ${'['.repeat(depth)}"x"${']'.repeat(depth)}}`;
}

const TOO_DEEP = { error: 'The request body nests arrays and objects deeper than 32 levels, which is not accepted', code: 'validation_failed' };

describe('deeply nested JSON bodies', () => {
  let t: TestApp;
  let session: string;
  let token: string;

  beforeAll(async () => {
    t = await startTestApp();
    session = (await createUser(t)).token;
    token = (await t.request('POST', '/api/tokens', { token: session, body: { name: 'srv', scopes: ['read:data'], durationDays: 30 } })).body
      .token;
  });
  afterAll(async () => {
    await t.close();
  });

  it.each([
    ['POST', '/api/auth/login', 'email', false],
    ['POST', '/api/auth/register', 'firstname', false],
    ['POST', '/api/tokens', 'scopes', true],
    ['PATCH', '/api/users/me', 'firstname', true],
  ])('%s %s: 20 000 levels deep is 400 in the API error shape, with no stack trace logged', async (method, path, field, withSession) => {
    const logged = t.logs.length;
    const res = await t.request(method, path, { token: withSession ? session : undefined, rawBody: nested(field, 20_000) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ ...TOO_DEEP, requestId: res.headers.get('x-request-id') });
    const lines = t.logs.slice(logged).join('\n');
    expect(lines).not.toMatch(/stack|RangeError|Maximum call stack/);
  });

  it('the limit is 32 levels: a body 32 deep reaches validation, 33 deep is refused', async () => {
    const at32 = await t.request('POST', '/api/auth/login', { rawBody: `{"email": ${'['.repeat(31)}1${']'.repeat(31)}, "password": "x"}` });
    expect(at32.status).toBe(400);
    expect(at32.body.code).toBe('validation_failed');
    expect(at32.body.fields).toBeDefined();
    const at33 = await t.request('POST', '/api/auth/login', { rawBody: `{"email": ${'['.repeat(32)}1${']'.repeat(32)}, "password": "x"}` });
    expect(at33.status).toBe(400);
    expect(at33.body).toMatchObject(TOO_DEEP);
    // Brackets inside strings are text, not nesting.
    const inString = await t.request('POST', '/api/auth/login', { body: { email: '['.repeat(100), password: '{'.repeat(100) } });
    expect(inString.status).toBe(401);
    expect(inString.body.code).toBe('invalid_credentials');
  });

  it('validate: a too deep body is answered as a body that is not JSON, and audited the same way', async () => {
    const events = async (requestId: string) =>
      (
        await t.db.query(`SELECT outcome, details FROM audit_event WHERE type = 'token.validate' AND request_id = $1`, [requestId])
      ).rows;
    const deep = await t.request('POST', '/api/mcp/validate', { token, rawBody: nested('requiredScopes', 20_000) });
    const garbage = await t.request('POST', '/api/mcp/validate', { token, rawBody: '{"requiredScopes": [read:data' });
    expect(garbage.status).toBe(400);
    expect(deep.status).toBe(400);
    expect(deep.body).toEqual(garbage.body);
    const [deepEvents, garbageEvents] = [
      await events(deep.headers.get('x-request-id') as string),
      await events(garbage.headers.get('x-request-id') as string),
    ];
    expect(deepEvents).toHaveLength(1);
    expect(deepEvents).toEqual(garbageEvents);
  });
});

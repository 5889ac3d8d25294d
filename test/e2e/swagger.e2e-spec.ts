import { recordableClientId } from '../../src/mcp-clients/client-credentials.js';
import { createToken } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Operation {
  operationId?: string;
  'x-access'?: unknown;
  security?: Array<Record<string, string[]>>;
  requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> };
  responses: Record<string, unknown>;
}

describe('Swagger', () => {
  let t: TestApp;
  let doc: any;
  let operations: Array<{ method: string; path: string; op: Operation }>;

  /** Follows a `$ref` inside the document. */
  const resolve = (schema: any): any => {
    if (!schema?.$ref) return schema;
    return (schema.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce((node: any, key: string) => node?.[key], doc);
  };

  beforeAll(async () => {
    t = await startTestApp();
    const res = await t.request('GET', '/api/docs-json');
    expect(res.status).toBe(200);
    doc = res.body;
    operations = Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ method, path, op })),
    );
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves the Swagger UI at /api/docs', async () => {
    const res = await t.request('GET', '/api/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toContain('<title>HospiAI API</title>');
    expect(res.text).toMatch(/swagger-ui/i);
  });

  it('serves an OpenAPI 3 document at /api/docs-json', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info.title).toBe('HospiAI token service');
  });

  it('declares the session and apiToken bearer schemes, and the mcpClient Basic scheme', () => {
    const schemes = doc.components.securitySchemes;
    expect(Object.keys(schemes).sort()).toEqual(['apiToken', 'mcpClient', 'session']);
    for (const name of ['session', 'apiToken']) {
      expect(schemes[name]).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    }
    expect(schemes.mcpClient).toMatchObject({ type: 'http', scheme: 'basic' });
  });

  it('describes every route of the foundation', () => {
    const listed = operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
    expect(listed).toEqual(
      expect.arrayContaining([
        'POST /api/auth/register',
        'POST /api/auth/login',
        'GET /api/users/me',
        'PATCH /api/users/me',
        'GET /api/users',
        'PATCH /api/users/{id}',
        'GET /api/health',
        'GET /api/health/ready',
        'GET /metrics',
      ]),
    );
  });

  it('gives every operation an x-access rule', () => {
    expect(operations.length).toBeGreaterThanOrEqual(9);
    const missing = operations.filter((o) => typeof o.op['x-access'] !== 'string' || o.op['x-access'] === '');
    expect(missing.map((o) => `${o.method} ${o.path}`)).toEqual([]);
    const denied = operations.filter((o) => String(o.op['x-access']).startsWith('DENIED'));
    expect(denied.map((o) => `${o.method} ${o.path}`)).toEqual([]);
  });

  it('lists a 401 answer, and a security scheme, for every non-public operation', () => {
    const closed = operations.filter((o) => o.op['x-access'] !== 'public');
    expect(closed.length).toBeGreaterThanOrEqual(4);
    for (const { method, path, op } of closed) {
      const where = `${method.toUpperCase()} ${path}`;
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      expect([where, Object.keys(op.responses)]).toEqual([where, expect.arrayContaining(['401'])]);
      expect([where, schemes.length > 0]).toEqual([where, true]);
      expect([where, schemes.every((s) => s === 'session' || s === 'apiToken' || s === 'mcpClient')]).toEqual([where, true]);
    }
  });

  it('lists the 403 answers each non-public operation can give, and no other', () => {
    // Besides the access rule's: the codes a route's own work answers with 403.
    const own: Record<string, string[]> = {
      'POST /api/tokens': ['scope_not_allowed', 'policy_scope_restricted'],
      'POST /api/tokens/{id}/rotate': ['scope_not_allowed', 'not_token_owner', 'policy_scope_restricted'],
      'PATCH /api/tokens/{id}': ['not_token_owner'],
      'POST /api/mcp/validate': ['insufficient_scope'],
    };
    for (const { method, path, op } of operations.filter((o) => o.op['x-access'] !== 'public')) {
      const where = `${method.toUpperCase()} ${path}`;
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      const json = (op.responses['403'] as any)?.content?.['application/json'];
      const bodies = [json?.example, ...Object.values(json?.examples ?? {}).map((e: any) => e.value)].filter(Boolean);
      const expected = [...(own[where] ?? [])];
      // A route under an access rule (not the MCP servers' own routes), unless the rule is open to every session.
      const ruled = /^(session|token)\(/.test(String(op['x-access']));
      if (ruled && op['x-access'] !== 'session(user|auditor|admin)') expected.push('forbidden');
      // An API token used from outside its IP allowlist, on the routes that take API tokens.
      if (schemes.includes('apiToken')) expected.push('ip_not_allowed');
      // Only a state-changing request by the cookie session is checked for its CSRF token.
      if (schemes.includes('session') && !['get', 'head'].includes(method)) expected.push('csrf_failed');
      expect([where, bodies.map((b: any) => b.code).sort()]).toEqual([where, expected.sort()]);
      if (bodies.length > 0) {
        const description = (op.responses['403'] as any).description as string;
        for (const code of expected) expect([where, description]).toEqual([where, expect.stringContaining(`\`${code}\`: `)]);
      }
    }
  });

  it('marks the operations open to anyone as public, without a security scheme', () => {
    const open = operations.filter((o) => o.op['x-access'] === 'public').map((o) => `${o.method.toUpperCase()} ${o.path}`);
    expect(open).toEqual(
      expect.arrayContaining([
        'GET /api/health',
        'GET /api/health/ready',
        'GET /metrics',
        'POST /api/auth/login',
        'POST /api/auth/register',
      ]),
    );
    expect(open.filter((o) => o.includes('/api/users'))).toEqual([]);
    for (const o of operations.filter((x) => x.op['x-access'] === 'public')) expect(o.op.security ?? []).toEqual([]);
  });

  it('states the admin-only routes as such', () => {
    const access = (method: string, path: string) => operations.find((o) => o.method === method && o.path === path)?.op['x-access'];
    expect(access('get', '/api/users')).toBe('session(admin)');
    expect(access('patch', '/api/users/{id}')).toBe('session(admin)');
    expect(access('get', '/api/users/me')).toBe('session(user|auditor|admin)');
  });

  it.each([
    ['/api/auth/register', ['email', 'password', 'firstname', 'surname'], ['phoneNumber']],
    ['/api/auth/login', ['email', 'password'], []],
  ])('documents the body of POST %s with a schema and examples', (path, required, optional) => {
    const op: Operation = doc.paths[path].post;
    const schema = resolve(op.requestBody?.content?.['application/json']?.schema);
    expect(schema).toBeDefined();
    expect(schema.type).toBe('object');
    expect([...(schema.required ?? [])].sort()).toEqual([...required].sort());
    expect(Object.keys(schema.properties).sort()).toEqual([...required, ...optional].sort());
    for (const [name, prop] of Object.entries<any>(schema.properties)) {
      expect([name, prop.example]).toEqual([name, expect.anything()]);
    }
  });

  it('documents the password rule of registration', () => {
    const schema = resolve(doc.paths['/api/auth/register'].post.requestBody.content['application/json'].schema);
    expect(schema.properties.password.minLength).toBe(12);
  });

  it('documents requiredScopes of POST /api/mcp/validate as the route reads it: any names, at most 20', async () => {
    const prop = doc.components.schemas.ValidateRequestDto.properties.requiredScopes;
    expect(prop).toMatchObject({ type: 'array', items: { type: 'string' }, maxItems: 20 });
    expect(prop.items.enum).toBeUndefined();
    const user = await createUser(t);
    const apiToken = await createToken(t, user.token);
    const validate = (requiredScopes: string[]) =>
      t.request<any>('POST', '/api/mcp/validate', { token: apiToken.token, body: { requiredScopes } });
    expect((await validate(['not:a-scope'])).body.code).toBe('insufficient_scope');
    expect((await validate(Array.from({ length: 20 }, () => 'read:data'))).status).toBe(200);
    expect((await validate(Array.from({ length: 21 }, () => 'read:data'))).status).toBe(400);
  });

  it('documents durationDays as an integer from 1 to 365, as the validation reads it', () => {
    for (const name of ['CreateTokenDto', 'RotateTokenDto']) {
      const prop = doc.components.schemas[name].properties.durationDays;
      expect([name, prop.type, prop.minimum, prop.maximum]).toEqual([name, 'integer', 1, 365]);
    }
    expect(doc.components.schemas.CreateTokenDto.required).toContain('durationDays');
    expect(doc.components.schemas.RotateTokenDto.required ?? []).not.toContain('durationDays');
  });

  it('documents the type and outcome filters of the audit routes as the values they accept (docs/api.md, "Audit")', async () => {
    const enumOf = (path: string, name: string): string[] | undefined =>
      doc.paths[path].get.parameters.find((p: { name: string }) => p.name === name)?.schema?.enum;
    const types = enumOf('/api/audit/events', 'type');
    const outcomes = enumOf('/api/audit/events', 'outcome');
    const listed = ['token.validate', 'token.create', 'token.revoke', 'token.rotate', 'auth.login', 'auth.register', 'user.update'];
    expect(types).toEqual(expect.arrayContaining(listed));
    expect(outcomes).toEqual(expect.arrayContaining(['valid', 'invalid', 'expired', 'revoked', 'insufficient_scope', 'error']));
    expect(enumOf('/api/audit/events/export', 'type')).toEqual(types);
    expect(enumOf('/api/audit/events/export', 'outcome')).toEqual(outcomes);
    expect(enumOf('/api/audit/stats', 'type')).toEqual(types);
    const auditor = await createUser(t, { role: 'auditor' });
    const list = (query: string) => t.request<any>('GET', `/api/audit/events?limit=1&${query}`, { token: auditor.token });
    for (const type of types ?? []) expect([type, (await list(`type=${type}`)).status]).toEqual([type, 200]);
    for (const outcome of outcomes ?? []) expect([outcome, (await list(`outcome=${outcome}`)).status]).toEqual([outcome, 200]);
    expect((await list('type=token.unknown')).body.fields).toEqual([expect.objectContaining({ field: 'type' })]);
    expect((await list('outcome=maybe')).body.fields).toEqual([expect.objectContaining({ field: 'outcome' })]);
  });

  it('documents the phone number rule of register and PATCH /api/users/me, as the validation reads it', async () => {
    for (const name of ['RegisterDto', 'UpdateProfileDto']) {
      const description = String(doc.components.schemas[name].properties.phoneNumber.description).replace(/\s+/g, ' ');
      expect([name, description]).toEqual([name, expect.stringContaining('6 to 32 characters (31 after a +)')]);
    }
    const user = await createUser(t);
    const patch = async (phoneNumber: string) =>
      (await t.request('PATCH', '/api/users/me', { token: user.token, body: { phoneNumber } })).status;
    const cases: Array<[string, number]> = [
      ['123456', 200],
      ['12345', 400],
      ['+123456', 200],
      ['1'.repeat(32), 200],
      ['1'.repeat(33), 400],
      ['+' + '1'.repeat(31), 200],
      ['+' + '1'.repeat(32), 400],
      ['+33 (0)1 23.45-67 89', 200],
      ['(01) 23 45', 400],
      ['01 23 45 ', 200],
      ['01 23 4-', 400],
    ];
    for (const [phone, status] of cases) expect([phone, await patch(phone)]).toEqual([phone, status]);
  });

  it('documents the answers of register and login with examples', () => {
    const register = doc.paths['/api/auth/register'].post.responses;
    expect(Object.keys(register)).toEqual(expect.arrayContaining(['201', '400', '403', '409']));
    expect(register['201'].content['application/json'].example.user).toMatchObject({ email: expect.any(String), name: expect.any(String) });

    const login = doc.paths['/api/auth/login'].post.responses;
    expect(Object.keys(login)).toEqual(expect.arrayContaining(['200', '400', '401']));
    expect(login['200'].content['application/json'].example).toMatchObject({ tokenType: 'Bearer', expiresIn: expect.any(Number) });
    expect(login['401'].content['application/json'].example.code).toBe('invalid_credentials');
  });

  it('describes the user with every documented field', () => {
    const view = doc.components.schemas.UserView;
    expect(Object.keys(view.properties).sort()).toEqual([
      'createdAt',
      'email',
      'firstname',
      'id',
      'name',
      'phoneNumber',
      'profileCompletedAt',
      'role',
      'surname',
    ]);
    expect([...view.properties.role.enum].sort()).toEqual(['admin', 'auditor', 'user']);
  });

  it('documents the MCP client, introspection and revocation-stream routes with examples and error answers', () => {
    const op = (method: string, path: string): any => doc.paths[path]?.[method];
    const admin = [op('post', '/api/mcp/clients'), op('get', '/api/mcp/clients'), op('delete', '/api/mcp/clients/{id}')];
    for (const o of admin) expect(o['x-access']).toBe('session(admin)');
    expect(Object.keys(admin[0].responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403']));
    expect(admin[0].responses['201'].content['application/json'].example.clientSecret).toMatch(/^mcps_/);
    // The examples have the shape of real client ids (a client id of another shape is refused as such).
    const ids = [
      admin[0].responses['201'].content['application/json'].example.clientId,
      doc.components.schemas.McpClientView.properties.clientId.example,
      doc.components.schemas.IntrospectRequestDto.properties.client_id.example,
    ];
    for (const id of ids) expect(recordableClientId(id)).toBe(id);
    expect(Object.keys(admin[2].responses)).toEqual(expect.arrayContaining(['204', '400', '401', '403', '404']));

    const introspect = op('post', '/api/oauth/introspect');
    expect(introspect['x-access']).toMatch(/^public \(a registered MCP server/);
    expect(introspect.security).toEqual([{ mcpClient: [] }]);
    expect(Object.keys(introspect.requestBody.content)).toEqual(['application/x-www-form-urlencoded']);
    expect(Object.keys(introspect.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '500', '503']));
    const examples = introspect.responses['200'].content['application/json'].examples;
    expect(examples.inactive.value).toEqual({ active: false });
    expect(Object.keys(examples.active.value).sort()).toEqual(['active', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub', 'token_type', 'username']);
    expect(introspect.responses['401'].content['application/json'].example.error).toBe('invalid_client');

    const stream = op('get', '/api/mcp/revocations');
    expect(stream.security).toEqual([{ mcpClient: [] }]);
    expect(stream.responses['200'].content['text/event-stream'].example).toContain('event: revoked');
    expect(Object.keys(stream.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '503']));
    expect(stream.parameters.map((p: { name: string }) => p.name)).toContain('Last-Event-ID');
  });

  it('documents the 401 answers of POST /api/mcp/validate with their exact bodies, schema and WWW-Authenticate header', () => {
    const responses = doc.paths['/api/mcp/validate'].post.responses;
    const unauthorized = responses['401'];
    const json = unauthorized.content['application/json'];
    expect(json.schema).toEqual({ $ref: '#/components/schemas/ValidateErrorDto' });
    expect(Object.keys(json.examples).sort()).toEqual(['expired', 'invalid', 'revoked']);
    expect(JSON.stringify(json.examples.invalid.value)).toBe('{"error":"Token invalide","code":"invalid_token"}');
    expect(JSON.stringify(json.examples.expired.value)).toBe('{"error":"Token expiré","code":"token_expired"}');
    expect(JSON.stringify(json.examples.revoked.value)).toBe('{"error":"Token révoqué ou inexistant","code":"token_revoked"}');
    expect(unauthorized.headers['WWW-Authenticate'].schema).toMatchObject({ type: 'string', example: 'Bearer error="invalid_token"' });
    expect(responses['403'].headers['WWW-Authenticate'].schema.example).toMatch(/^Bearer error="insufficient_scope"/);
    for (const status of ['429', '503']) {
      expect([status, responses[status].headers['Retry-After'].schema.type]).toEqual([status, 'integer']);
    }
  });

  it('documents the NDJSON and CSV answers of GET /api/audit/events/export with examples, and its JSON refusal', () => {
    const responses = doc.paths['/api/audit/events/export'].get.responses;
    const content = responses['200'].content;
    expect(Object.keys(content).sort()).toEqual(['application/fhir+ndjson', 'application/x-ndjson', 'text/csv']);
    const line = JSON.parse(content['application/x-ndjson'].example);
    expect(Object.keys(line)).toEqual(Object.keys(resolve({ $ref: '#/components/schemas/AuditEventView' }).properties));
    expect(content['text/csv'].example.split('\r\n')[0]).toBe(
      'id,occurredAt,type,outcome,actorUserId,tokenId,ip,userAgent,requestId,latencyMs,details,hash',
    );
    expect(Object.keys(responses['400'].content)).toEqual(['application/json']);
    expect(responses['400'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorBody' });
  });

  it('says how GET /api/audit/stats rounds its period to whole hours', () => {
    // The descriptions keep the line breaks of the DTO's comments (a space in Markdown).
    const parameters: Array<{ name: string; description?: string }> = doc.paths['/api/audit/stats'].get.parameters;
    const params = Object.fromEntries(parameters.map((p) => [p.name, p.description?.replace(/\s+/g, ' ')]));
    expect(params.from).toMatch(/rounded down to its hour/);
    expect(params.to).toMatch(/the hour that holds `to` is counted whole .*unless `to` falls exactly on the hour/);
  });

  /** The JSON bodies a response shows: its `example`, or each of its `examples`. */
  const examplesOf = (response: any): any[] => {
    const json = response?.content?.['application/json'];
    if (!json) return [];
    if (json.example !== undefined) return [json.example];
    return Object.values<{ value: unknown }>(json.examples ?? {}).map((e) => e.value);
  };

  it.each([
    ['post', '/api/auth/login', ['password']],
    ['patch', '/api/users/me', ['phoneNumber']],
    ['get', '/api/users', ['limit']],
    ['patch', '/api/users/{id}', ['role', 'id']],
    ['get', '/api/audit/events', ['limit']],
    ['get', '/api/audit/stats', ['from', 'from']],
    ['get', '/api/audit/verify', ['from']],
  ])('shows the 400 answer of %s %s with validation examples naming %j', (method, path, fields) => {
    const response = doc.paths[path][method].responses['400'];
    expect(response.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorBody' });
    const bodies = examplesOf(response);
    expect(bodies.map((b) => b.fields?.[0]?.field)).toEqual(fields);
    for (const body of bodies) {
      expect(Object.keys(body)).toEqual(['error', 'code', 'requestId', 'fields']);
      expect(body).toMatchObject({ code: 'validation_failed', requestId: expect.any(String) });
      expect(body.error).toBe(`Invalid request: ${body.fields.map((f: { message: string }) => f.message).join('; ')}`);
    }
  });

  it('documents the 403 answers of POST /api/tokens: a scope the caller (or the policy) may not grant, and a missing CSRF token', () => {
    const forbidden = doc.paths['/api/tokens'].post.responses['403'];
    expect(forbidden.description).toMatch(/scope_not_allowed.*read:audit/);
    expect(forbidden.description).toMatch(/csrf_failed.*X-CSRF-Token/);
    const examples = forbidden.content['application/json'].examples;
    expect(Object.keys(examples).sort()).toEqual(['csrf_failed', 'policy_scope_restricted', 'scope_not_allowed']);
    expect(examples.scope_not_allowed.value).toMatchObject({
      code: 'scope_not_allowed',
      fields: [{ field: 'scopes', message: expect.stringContaining('read:audit') }],
    });
    expect(examples.csrf_failed.value).toMatchObject({ code: 'csrf_failed', error: expect.stringContaining('X-CSRF-Token') });
  });

  it('describes the answer of GET /api/audit/stats with a schema that its example fills exactly', () => {
    const json = doc.paths['/api/audit/stats'].get.responses['200'].content['application/json'];
    expect(json.schema).toEqual({ $ref: '#/components/schemas/AuditStatsView' });
    const schema = resolve(json.schema);
    const keys = ['from', 'to', 'interval', 'type', 'buckets', 'topFailingIps', 'topFailingTokens'];
    expect(Object.keys(schema.properties)).toEqual(keys);
    expect([...schema.required].sort()).toEqual([...keys].sort());
    expect(Object.keys(json.example)).toEqual(keys);
    expect([...schema.properties.interval.enum].sort()).toEqual(['day', 'hour']);
    expect(schema.properties.type.nullable).toBe(true);
    const item = (name: string) => resolve(schema.properties[name].items);
    expect(Object.keys(item('buckets').properties)).toEqual(Object.keys(json.example.buckets[0]));
    expect(item('buckets').properties.outcomes.additionalProperties).toEqual({ type: 'number' });
    expect(Object.keys(item('topFailingIps').properties)).toEqual(['ip', 'failures']);
    expect(Object.keys(item('topFailingTokens').properties)).toEqual(['tokenId', 'failures']);
  });

  it('documents the 400 of every route with an id in its path as a malformed id is answered', async () => {
    const admin = await createUser(t, { role: 'admin' });
    const withId = operations.filter(({ path }) => path.includes('{id}'));
    expect(withId.map(({ method, path }) => `${method.toUpperCase()} ${path}`).sort()).toEqual([
      'DELETE /api/admin/webhooks/{id}',
      'DELETE /api/mcp/clients/{id}',
      'DELETE /api/tokens/{id}',
      'GET /api/admin/webhooks/{id}',
      'GET /api/admin/webhooks/{id}/deliveries',
      'GET /api/tokens/{id}',
      'GET /api/tokens/{id}/usage',
      'GET /api/users/{id}/identities',
      'PATCH /api/admin/webhooks/{id}',
      'PATCH /api/mcp/clients/{id}',
      'PATCH /api/tokens/{id}',
      'PATCH /api/users/{id}',
      'POST /api/tokens/{id}/rotate',
      'POST /api/users/{id}/identities',
    ]);
    for (const { method, path, op } of withId) {
      const json = (op.responses['400'] as any)?.content?.['application/json'];
      const documented = [json?.example, ...Object.values(json?.examples ?? {}).map((e: any) => e.value)].filter(
        (body) => body?.fields?.[0]?.field === 'id',
      );
      expect({ route: `${method} ${path}`, documented: documented.length }).toEqual({ route: `${method} ${path}`, documented: 1 });
      const body = method === 'patch' ? (path.startsWith('/api/tokens') ? { name: 'x' } : { role: 'user' }) : method === 'post' ? {} : undefined;
      const res = await t.request<any>(method.toUpperCase(), path.replace('{id}', 'not-a-uuid'), { token: admin.token, body });
      expect(res.status).toBe(400);
      expect({ ...res.body, requestId: documented[0].requestId }).toEqual(documented[0]);
    }
  });

  it('lists a 503 answer with Retry-After on every operation that needs the database', () => {
    // Liveness, the metrics and the single sign-on buttons (the configuration) answer from the process alone.
    const without = ['GET /api/health', 'GET /metrics', 'GET /api/auth/oidc/providers'];
    // The authorization server's protocol endpoints answer as oidc-provider does, in OAuth's shape:
    // `500 server_error` when the database cannot be reached (no 503 with Retry-After).
    without.push(...['GET /.well-known/oauth-authorization-server', 'GET /oauth/authorize', 'POST /oauth/token', 'POST /oauth/register', 'POST /oauth/revoke', 'GET /oauth/jwks']);
    const missing = operations
      .map(({ method, path, op }) => ({ where: `${method.toUpperCase()} ${path}`, unavailable: op.responses['503'] as any }))
      .filter(({ where, unavailable }) => !without.includes(where) && !unavailable?.headers?.['Retry-After'])
      .map(({ where }) => where);
    expect(missing).toEqual([]);
    // Every 429 says when to come back too.
    const tooMany = operations.filter(({ op }) => op.responses['429']);
    expect(tooMany.map(({ method, path }) => `${method.toUpperCase()} ${path}`).sort()).toEqual([
      'GET /api/audit/events/export',
      'GET /api/audit/verify',
      'POST /api/auth/login',
      'POST /api/auth/register',
      'POST /api/mcp/validate',
    ]);
    for (const { method, path, op } of tooMany) {
      const where = `${method.toUpperCase()} ${path}`;
      expect([where, (op.responses['429'] as any).headers?.['Retry-After']]).toEqual([where, expect.anything()]);
    }
  });

  it('documents Location and Cache-Control: no-store on the answers that show a secret once, as they are sent', async () => {
    const admin = await createUser(t, { role: 'admin' });
    const token = await createToken(t, admin.token);
    const sent = {
      'POST /api/tokens': await t.request('POST', '/api/tokens', {
        token: admin.token,
        body: { name: 'once', scopes: ['read:data'], durationDays: 1 },
      }),
      'POST /api/tokens/{id}/rotate': await t.request('POST', `/api/tokens/${token.id}/rotate`, { token: admin.token, body: {} }),
      'POST /api/mcp/clients': await t.request('POST', '/api/mcp/clients', { token: admin.token, body: { name: 'Serveur MCP' } }),
    };
    for (const [where, res] of Object.entries(sent)) {
      const [method, path] = where.split(' ');
      const headers = (doc.paths[path][method.toLowerCase()].responses['201'] as any).headers;
      const answer = [res.status, res.headers.get('cache-control'), typeof res.headers.get('location')];
      expect([where, ...answer]).toEqual([where, 201, 'no-store', 'string']);
      expect([where, Object.keys(headers ?? {}).sort()]).toEqual([where, ['Cache-Control', 'Location']]);
      expect(headers['Cache-Control'].schema.example).toBe('no-store');
    }
  });

  it('describes the error shape {error, code, requestId, fields}', () => {
    const body = doc.components.schemas.ErrorBody;
    expect(Object.keys(body.properties).sort()).toEqual(['code', 'error', 'fields', 'requestId']);
    expect([...body.required].sort()).toEqual(['code', 'error']);
  });
});

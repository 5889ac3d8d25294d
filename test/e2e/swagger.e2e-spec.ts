import { startTestApp, type TestApp } from '../support/test-app.js';

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

  it('declares the session and apiToken bearer schemes', () => {
    const schemes = doc.components.securitySchemes;
    expect(Object.keys(schemes).sort()).toEqual(['apiToken', 'session']);
    for (const name of ['session', 'apiToken']) {
      expect(schemes[name]).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    }
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

  it('lists 401 and 403 answers, and a security scheme, for every non-public operation', () => {
    const closed = operations.filter((o) => o.op['x-access'] !== 'public');
    expect(closed.length).toBeGreaterThanOrEqual(4);
    for (const { method, path, op } of closed) {
      const where = `${method.toUpperCase()} ${path}`;
      expect([where, Object.keys(op.responses)]).toEqual([where, expect.arrayContaining(['401', '403'])]);
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      expect([where, schemes.length > 0]).toEqual([where, true]);
      expect([where, schemes.every((s) => s === 'session' || s === 'apiToken')]).toEqual([where, true]);
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

  it('describes the error shape {error, code, requestId, fields}', () => {
    const body = doc.components.schemas.ErrorBody;
    expect(Object.keys(body.properties).sort()).toEqual(['code', 'error', 'fields', 'requestId']);
    expect([...body.required].sort()).toEqual(['code', 'error']);
  });
});

import { startTestApp, type TestApp } from '../support/test-app.js';

/** The value of one sample of the Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const found = Object.fromEntries([...inner.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const keys = Object.keys(labels);
    if (Object.keys(found).length === keys.length && keys.every((k) => found[k] === labels[k])) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

describe('health and metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('GET /api/health answers 200 {status: ok} without a session', async () => {
    const res = await t.request('GET', '/api/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /api/health/ready answers 200 with the database and the migrations up', async () => {
    const res = await t.request('GET', '/api/health/ready');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.info.database.status).toBe('up');
    expect(res.body.info.migrations).toMatchObject({ status: 'up', pending: 0 });
    expect(res.body.error).toEqual({});
  });

  it('GET /api/health/ready answers 503 with Retry-After while a migration is pending', async () => {
    const { rows } = await t.db.query('DELETE FROM migrations RETURNING *');
    expect(rows.length).toBeGreaterThan(0);
    try {
      const res = await t.request('GET', '/api/health/ready');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.body.status).toBe('error');
      expect(res.body.error.migrations.status).toBe('down');
      expect(res.text).not.toMatch(/\bat \S+ \(|\.(?:ts|js):\d+/);
      // Only each check's status: an error's text (for the database, its address) stays in the log.
      expect(res.body.error).toEqual({ migrations: { status: 'down' } });
      expect(res.body.details).toEqual({ database: { status: 'up' }, migrations: { status: 'down' } });
      expect(t.logs.some((l) => l.includes('not ready') && l.includes('migrations are pending'))).toBe(true);
    } finally {
      for (const r of rows)
        await t.db.query('INSERT INTO migrations (id, "timestamp", name) VALUES ($1, $2, $3)', [r.id, r.timestamp, r.name]);
    }
    expect((await t.request('GET', '/api/health/ready')).status).toBe(200);
  });

  it('GET /metrics is Prometheus text with http_requests_total by route after a request', async () => {
    await t.request('GET', '/api/health');
    const res = await t.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toContain('# TYPE http_requests_total counter');
    expect(res.text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(res.text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(sample(res.text, 'http_requests_total', { method: 'GET', route: '/api/health', status: '200' })).toBeGreaterThanOrEqual(1);
  });

  it('counts each request once', async () => {
    const labels = { method: 'GET', route: '/api/health/ready', status: '200' };
    const before = sample((await t.request('GET', '/metrics')).text, 'http_requests_total', labels) ?? 0;
    await t.request('GET', '/api/health/ready');
    await t.request('GET', '/api/health/ready');
    await t.request('GET', '/api/health/ready');
    const after = sample((await t.request('GET', '/metrics')).text, 'http_requests_total', labels);
    expect(after).toBe(before + 3);
  });

  it("records each request's duration in seconds, within the time the client waited for it", async () => {
    const labels = { method: 'GET', route: '/api/health/ready', status: '200' };
    const read = async () => {
      const text = (await t.request('GET', '/metrics')).text;
      return {
        count: sample(text, 'http_request_duration_seconds_count', labels) ?? 0,
        sum: sample(text, 'http_request_duration_seconds_sum', labels) ?? 0,
      };
    };
    const before = await read();
    const started = performance.now();
    for (let i = 0; i < 3; i++) expect((await t.request('GET', '/api/health/ready')).status).toBe(200);
    const waitedSeconds = (performance.now() - started) / 1000;
    const after = await read();
    expect(after.count).toBe(before.count + 3);
    expect(after.sum - before.sum).toBeGreaterThan(0);
    expect(after.sum - before.sum).toBeLessThanOrEqual(waitedSeconds);
  });

  it('labels a request by its route pattern and status, not by its path', async () => {
    const id = '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6';
    expect((await t.request('PATCH', `/api/users/${id}`, { body: {} })).status).toBe(401);
    const text = (await t.request('GET', '/metrics')).text;
    expect(sample(text, 'http_requests_total', { method: 'PATCH', route: '/api/users/:id', status: '401' })).toBe(1);
    expect(text).not.toContain(id);
  });

  it('does not make a new label for each unknown path', async () => {
    const paths = ['/api/no-such-route-1a2b3c', '/wp-admin/setup-4d5e6f.php'];
    for (const p of paths) expect((await t.request('GET', p)).status).toBe(404);
    const text = (await t.request('GET', '/metrics')).text;
    for (const p of paths) expect(text).not.toContain(p);
    expect(sample(text, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(2);
  });
});

// Every route of the running app with who may call it. A change of access
// changes the snapshot, so that it shows up in review.
import type { HTTPMethods } from 'fastify';
import { discoverRoutes, type RouteEntry } from '../support/routes.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('routes', () => {
  let t: TestApp;
  let routes: RouteEntry[];
  beforeAll(async () => {
    t = await startTestApp();
    routes = discoverRoutes(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('match the snapshot of every route and its access rule', () => {
    const lines = routes.map((r) => `${r.method} ${r.path} → ${r.access}`).sort();
    expect(lines.length).toBeGreaterThanOrEqual(9);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines).toMatchSnapshot();
  });

  it('are all served by the HTTP server', () => {
    const fastify = t.app.getHttpAdapter().getInstance();
    const missing = routes.filter((r) => !fastify.hasRoute({ method: r.method as HTTPMethods, url: r.path }));
    expect(missing).toEqual([]);
  });

  it('all carry an access rule', () => {
    const denied = routes.filter((r) => r.access === 'DENIED (no access rule)' || r.access === 'DENIED (empty rule)');
    expect(denied).toEqual([]);
  });
});

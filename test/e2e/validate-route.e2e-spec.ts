// POST /api/mcp/validate is called by Fastify straight on its controller method, without Nest's
// guards, pipes and parameter decorators (bindValidateRoute). What every route has, it keeps:
// Fastify's hooks, and Nest's exception filter for an error nobody expected.
import { jest } from '@jest/globals';
import { McpValidationService } from '../../src/mcp-validation/mcp-validation.service.js';
import { UUID } from '../support/formats.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('validate: the route bound to its controller', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it("answers with the hooks' headers and request log line, as every route does", async () => {
    const before = t.logs.length;
    const res = await t.request('POST', '/api/mcp/validate', { headers: { 'x-request-id': 'bound-route-1' } });
    expect(res.status).toBe(401);
    // The request id is the service's own; the client's is logged apart.
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(UUID);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const lines = t.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'request',
        reqId: requestId,
        clientRequestId: 'bound-route-1',
        method: 'POST',
        route: '/api/mcp/validate',
        status: 401,
      }),
    );
  });

  it("an error it throws is answered by Nest's exception filter: 500 in the API's error shape, logged", async () => {
    const service = t.app.get(McpValidationService);
    const spy = jest.spyOn(service, 'validate').mockRejectedValueOnce(new Error('unexpected failure inside the route'));
    try {
      const before = t.logs.length;
      const res = await t.request('POST', '/api/mcp/validate', { headers: { 'x-request-id': 'bound-route-2' } });
      expect(res.status).toBe(500);
      const requestId = res.headers.get('x-request-id');
      expect(requestId).toMatch(UUID);
      expect(res.body).toEqual({ error: 'Internal server error', code: 'internal_error', requestId });
      const failed = t.logs
        .slice(before)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'request failed');
      expect(failed).toEqual([
        expect.objectContaining({
          level: 'error',
          reqId: requestId,
          route: '/api/mcp/validate',
          err: expect.objectContaining({ message: 'unexpected failure inside the route' }),
        }),
      ]);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

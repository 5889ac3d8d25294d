// GET /api/audit/verify and `node dist/src/audit/cli.js verify`: the hash chain
// checked end to end, and rows edited or deleted behind the app's back (as the
// database superuser, triggers disabled) found by their id.
import { eventHash, eventHashFormat1, GENESIS_HASH } from '../../src/audit/audit-hash.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import { behindTheAppsBack, runAuditCli, storedEvents } from '../support/audit.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

const MINUTE = 60_000;
const SEEDED = 10;


/**
 * A fresh app whose first SEEDED events are one minute apart (ids 1..SEEDED,
 * in the last hour), followed by the register and login of an auditor.
 */
async function appWithHistory(): Promise<{ t: TestApp; auditor: User; at: (id: number) => string }> {
  const t = await startTestApp();
  const t0 = Math.floor((Date.now() - 60 * MINUTE) / MINUTE) * MINUTE;
  const writer = t.app.get(AuditWriter);
  for (let i = 0; i < SEEDED; i++) {
    await writer.record({
      occurredAt: new Date(t0 + i * MINUTE),
      type: 'token.validate',
      outcome: i % 3 === 0 ? 'invalid' : 'valid',
      ip: `10.4.0.${i + 1}`,
      userAgent: `verifier/${i + 1}`,
      latencyMs: 1.5 + i,
      details: { seq: i + 1 },
    });
  }
  const auditor = await createUser(t, { role: 'auditor' });
  const events = await storedEvents(t);
  expect(events.map((e) => e.id)).toEqual(Array.from({ length: SEEDED + 2 }, (_, i) => String(i + 1)));
  return { t, auditor, at: (id: number) => new Date(t0 + (id - 1) * MINUTE).toISOString() };
}

describe('audit verify: an edited event', () => {
  let t: TestApp;
  let auditor: User;
  let at: (id: number) => string;
  const TOTAL = SEEDED + 2;

  const verify = async (query = '') => {
    const r = await t.request('GET', `/api/audit/verify${query ? `?${query}` : ''}`, { token: auditor.token });
    expect(r.status).toBe(200);
    return r.body;
  };
  const cli = async (...args: string[]) => {
    const r = await runAuditCli(t, ['verify', ...args]);
    return { ...r, json: r.stdout ? JSON.parse(r.stdout) : undefined };
  };
  const tamper = (sql: string, params: unknown[]) => behindTheAppsBack(t, (c) => c.query(sql, params));

  beforeAll(async () => {
    ({ t, auditor, at } = await appWithHistory());
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('an untouched chain verifies, through the API', async () => {
    expect(await verify()).toEqual({ ok: true, checked: TOTAL, firstBrokenId: null, fromId: '1', toId: String(TOTAL), checkpoints: 0, checkpointedToId: null, brokenCheckpoint: null });
  });

  it('an untouched chain verifies, through the command line (exit 0, JSON on stdout)', async () => {
    const r = await cli();
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ ok: true, checked: TOTAL, firstBrokenId: null, fromId: '1', toId: String(TOTAL), checkpoints: 0, checkpointedToId: null, brokenCheckpoint: null });
    expect(r.stderr).toContain(`chain intact: ${TOTAL} events checked`);
  }, 60_000);

  it('the database refuses the app an UPDATE of an event', async () => {
    await expect(t.db.query(`UPDATE "audit_event" SET "outcome" = 'valid' WHERE "id" = 5`)).rejects.toThrow(/append-only/);
    expect((await verify()).ok).toBe(true);
  });

  describe('details of event 5 edited', () => {
    let original: unknown;
    beforeAll(async () => {
      original = (await t.db.query(`SELECT "details" FROM "audit_event" WHERE "id" = 5`)).rows[0].details;
      const r = await tamper(`UPDATE "audit_event" SET "details" = $1 WHERE "id" = 5`, [JSON.stringify({ seq: 5, note: 'nothing happened' })]);
      expect(r.rowCount).toBe(1);
    });
    afterAll(async () => {
      await tamper(`UPDATE "audit_event" SET "details" = $1 WHERE "id" = 5`, [JSON.stringify(original)]);
    });

    it('the API reports it by id', async () => {
      expect(await verify()).toEqual({ ok: false, checked: 4, firstBrokenId: '5', fromId: '1', toId: '4', checkpoints: 0, checkpointedToId: null, brokenCheckpoint: null });
    });

    it('the command line reports it and exits 1', async () => {
      const r = await cli();
      expect(r.code).toBe(1);
      expect(r.json).toMatchObject({ ok: false, checked: 4, firstBrokenId: '5' });
      expect(r.stderr).toContain('CHAIN BROKEN at event 5');
    }, 60_000);

    it('a range that ends before it, or starts after it, verifies', async () => {
      expect(await verify(`to=${at(5)}`)).toMatchObject({ ok: true, checked: 4, fromId: '1', toId: '4' });
      expect(await verify(`from=${at(6)}`)).toMatchObject({ ok: true, checked: TOTAL - 5, fromId: '6', toId: String(TOTAL) });
      expect(await verify(`from=${at(2)}&to=${at(5)}`)).toMatchObject({ ok: true, checked: 3, fromId: '2', toId: '4' });
    });

    it('a range that holds it does not', async () => {
      expect(await verify(`from=${at(3)}&to=${at(8)}`)).toMatchObject({ ok: false, firstBrokenId: '5', checked: 2, fromId: '3' });
      expect(await verify(`from=${at(5)}&to=${at(6)}`)).toMatchObject({ ok: false, firstBrokenId: '5', checked: 0 });
    });

    it('the command line takes the range too', async () => {
      const before = await cli('--to', at(5));
      expect([before.code, before.json.ok, before.json.checked]).toEqual([0, true, 4]);
      const holding = await cli('--from', at(4), '--to', at(7));
      expect([holding.code, holding.json.firstBrokenId]).toEqual([1, '5']);
    }, 60_000);
  });

  it('putting the original back makes the chain whole again', async () => {
    expect(await verify()).toMatchObject({ ok: true, checked: TOTAL });
  });

  it('an edited ip is found', async () => {
    await tamper(`UPDATE "audit_event" SET "ip" = '192.0.2.1' WHERE "id" = 7`, []);
    try {
      expect(await verify()).toMatchObject({ ok: false, firstBrokenId: '7', checked: 6 });
    } finally {
      await tamper(`UPDATE "audit_event" SET "ip" = '10.4.0.7' WHERE "id" = 7`, []);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('an edited event whose own hash is recomputed breaks the chain at the next event', async () => {
    const [e3] = (await storedEvents(t)).filter((e) => e.id === '3');
    const [e2] = (await storedEvents(t)).filter((e) => e.id === '2');
    expect(e3.outcome).toBe('valid');
    const forged = { ...e3, outcome: 'revoked' };
    const { hash: _old, ...content } = forged;
    const forgedHash = eventHash(e2.hash, content);
    await tamper(`UPDATE "audit_event" SET "outcome" = 'revoked', "hash" = $1 WHERE "id" = 3`, [forgedHash]);
    try {
      expect(await verify()).toMatchObject({ ok: false, firstBrokenId: '4', checked: 3 });
    } finally {
      await tamper(`UPDATE "audit_event" SET "outcome" = $1, "hash" = $2 WHERE "id" = 3`, [e3.outcome, e3.hash]);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('the last event edited, even with its hash recomputed, is found against the chain head', async () => {
    const events = await storedEvents(t);
    const last = events[events.length - 1];
    const prev = events[events.length - 2];
    const { hash: _old, ...content } = { ...last, userAgent: 'someone-else/1.0' };
    await tamper(`UPDATE "audit_event" SET "user_agent" = 'someone-else/1.0' WHERE "id" = $1`, [last.id]);
    try {
      expect(await verify()).toMatchObject({ ok: false, firstBrokenId: last.id });
      await tamper(`UPDATE "audit_event" SET "hash" = $1 WHERE "id" = $2`, [eventHash(prev.hash, content), last.id]);
      expect(await verify()).toMatchObject({ ok: false, firstBrokenId: last.id });
    } finally {
      await tamper(`UPDATE "audit_event" SET "user_agent" = $1, "hash" = $2 WHERE "id" = $3`, [last.userAgent, last.hash, last.id]);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('a chain head wound back below the last events is found, at the first event beyond it', async () => {
    const events = await storedEvents(t);
    const [last, kept] = [events[events.length - 1], events[events.length - 3]];
    const [head] = (await tamper(`SELECT "last_id", "last_hash" FROM "audit_chain_head" WHERE "id" = 1`, [])).rows;
    expect(head).toEqual({ last_id: last.id, last_hash: last.hash });
    await tamper(`UPDATE "audit_chain_head" SET "last_id" = $1, "last_hash" = $2 WHERE "id" = 1`, [kept.id, kept.hash]);
    try {
      expect(await verify()).toMatchObject({ ok: false, firstBrokenId: String(Number(kept.id) + 1) });
      const c = await cli();
      expect(c.code).toBe(1);
      expect(c.json).toMatchObject({ ok: false, firstBrokenId: String(Number(kept.id) + 1) });
    } finally {
      await tamper(`UPDATE "audit_chain_head" SET "last_id" = $1, "last_hash" = $2 WHERE "id" = 1`, [head.last_id, head.last_hash]);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('bad ranges are refused: 400 from the API, exit 2 from the command line', async () => {
    for (const [query, field] of [
      ['from=yesterday', 'from'],
      ['to=2026-13-45', 'to'],
      [`from=${at(8)}&to=${at(2)}`, 'from'],
    ]) {
      const r = await t.request('GET', `/api/audit/verify?${query}`, { token: auditor.token });
      expect([query, r.status]).toEqual([query, 400]);
      expect(r.body.fields.map((f: { field: string }) => f.field)).toContain(field);
    }
    const r = await runAuditCli(t, ['verify', '--from', 'yesterday']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--from must be an ISO-8601 date');
  }, 60_000);
});

describe('audit verify: a deleted middle event', () => {
  let t: TestApp;
  let auditor: User;
  let at: (id: number) => string;

  beforeAll(async () => {
    ({ t, auditor, at } = await appWithHistory());
    await expect(t.db.query(`DELETE FROM "audit_event" WHERE "id" = 4`)).rejects.toThrow(/append-only/);
    const r = await behindTheAppsBack(t, (c) => c.query(`DELETE FROM "audit_event" WHERE "id" = 4`));
    expect(r.rowCount).toBe(1);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('is found by the API, by its id', async () => {
    const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: false, checked: 3, firstBrokenId: '4' });
  });

  it('is found by the command line (exit 1)', async () => {
    const r = await runAuditCli(t, ['verify']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, checked: 3, firstBrokenId: '4' });
    expect(r.stderr).toContain('CHAIN BROKEN at event 4');
  }, 60_000);

  it('is found by a range that starts right after it, and not by one that ends before it', async () => {
    const after = await t.request('GET', `/api/audit/verify?from=${at(5)}`, { token: auditor.token });
    expect(after.body).toMatchObject({ ok: false, firstBrokenId: '4' });
    const before = await t.request('GET', `/api/audit/verify?to=${at(4)}`, { token: auditor.token });
    expect(before.body).toMatchObject({ ok: true, checked: 3, toId: '3' });
  });
});

describe('audit verify: deleted last and first events', () => {
  let t: TestApp;
  let auditor: User;
  let at: (id: number) => string;
  const TOTAL = SEEDED + 2;

  beforeAll(async () => {
    ({ t, auditor, at } = await appWithHistory());
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('the last event deleted is found (API and command line)', async () => {
    await behindTheAppsBack(t, (c) => c.query(`DELETE FROM "audit_event" WHERE "id" = $1`, [TOTAL]));
    const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    expect(r.body).toMatchObject({ ok: false, checked: TOTAL - 1, firstBrokenId: String(TOTAL) });
    const c = await runAuditCli(t, ['verify']);
    expect(c.code).toBe(1);
    expect(JSON.parse(c.stdout)).toMatchObject({ ok: false, firstBrokenId: String(TOTAL) });
    // A range that stops before the end cannot see it.
    const ranged = await t.request('GET', `/api/audit/verify?to=${at(SEEDED + 1)}`, { token: auditor.token });
    expect(ranged.body).toMatchObject({ ok: true, checked: SEEDED });
  }, 60_000);

  it('then the first event deleted is found first', async () => {
    await behindTheAppsBack(t, (c) => c.query(`DELETE FROM "audit_event" WHERE "id" = 1`));
    const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    expect(r.body).toMatchObject({ ok: false, checked: 0, firstBrokenId: '1' });
  });
});

describe('audit verify: events written outside audit_append', () => {
  // No trigger guards an INSERT: these need no more than the app's own rights.
  let t: TestApp;
  let auditor: User;
  let at: (id: number) => string;
  const TOTAL = SEEDED + 2;

  const verify = async (query = '') =>
    (await t.request('GET', `/api/audit/verify${query ? `?${query}` : ''}`, { token: auditor.token })).body;
  const insert = (id: string, occurredAt: string, details: object, hash: string) =>
    t.db.query(
      `INSERT INTO "audit_event" ("id", "occurred_at", "type", "outcome", "details", "hash") VALUES ($1, $2, 'user.update', 'success', $3, $4)`,
      [id, occurredAt, JSON.stringify(details), hash],
    );

  beforeAll(async () => {
    ({ t, auditor, at } = await appWithHistory());
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('an event below where the chain starts, which the walk never reaches, is found', async () => {
    await insert('0', at(3), { role: 'admin' }, '0'.repeat(64));
    try {
      expect((await t.request('GET', '/api/audit/events?type=user.update', { token: auditor.token })).body.items).toHaveLength(1);
      expect(await verify()).toMatchObject({ ok: false, checked: 0, firstBrokenId: '0' });
      // A range that ends before it does not hold it.
      expect(await verify(`to=${at(3)}`)).toMatchObject({ ok: true, checked: 2 });
    } finally {
      await behindTheAppsBack(t, (c) => c.query(`DELETE FROM "audit_event" WHERE "id" = 0`));
    }
    expect(await verify()).toMatchObject({ ok: true, checked: TOTAL });
  });

  it('an event chained on the last one but dated before it (head moved forward) is found', async () => {
    const events = await storedEvents(t);
    const last = events[events.length - 1];
    const [head] = (await t.db.query(`SELECT "last_id", "last_hash" FROM "audit_chain_head" WHERE "id" = 1`)).rows;
    const forged = {
      id: String(TOTAL + 1),
      occurredAt: at(2),
      type: 'user.update',
      outcome: 'success',
      actorUserId: null,
      tokenId: null,
      ip: null,
      userAgent: null,
      requestId: null,
      latencyMs: null,
      details: { role: 'admin' },
    };
    const hash = eventHash(last.hash, forged);
    await insert(forged.id, forged.occurredAt, forged.details, hash);
    await t.db.query(`UPDATE "audit_chain_head" SET "last_id" = $1, "last_hash" = $2 WHERE "id" = 1`, [forged.id, hash]);
    try {
      expect(await verify()).toMatchObject({ ok: false, checked: TOTAL, firstBrokenId: forged.id });
    } finally {
      await behindTheAppsBack(t, async (c) => {
        await c.query(`DELETE FROM "audit_event" WHERE "id" = $1`, [forged.id]);
        await c.query(`UPDATE "audit_chain_head" SET "last_id" = $1, "last_hash" = $2 WHERE "id" = 1`, [head.last_id, head.last_hash]);
      });
    }
    expect(await verify()).toMatchObject({ ok: true, checked: TOTAL });
  });
});

describe('audit verify: a chain written partly before the format-2 hash', () => {
  let t: TestApp;
  let auditor: User;
  const TOTAL = SEEDED + 2;
  const SWITCH = 6; // events 1..5 as written before the migration to audit_append, 6.. after

  const verify = async () => (await t.request('GET', '/api/audit/verify', { token: auditor.token })).body;

  beforeAll(async () => {
    ({ t, auditor } = await appWithHistory());
    // Rewrite the chain as a database upgraded from format 1 holds it: format-1 hashes before
    // SWITCH, format-2 hashes from SWITCH on (chained on the format-1 hash before it).
    const events = await storedEvents(t);
    let prev = GENESIS_HASH;
    await behindTheAppsBack(t, async (c) => {
      for (const e of events) {
        const { hash: _old, ...content } = e;
        prev = Number(e.id) < SWITCH ? eventHashFormat1(prev, content) : eventHash(prev, content);
        await c.query(`UPDATE "audit_event" SET "hash" = $1 WHERE "id" = $2`, [prev, e.id]);
      }
      await c.query(`UPDATE "audit_chain_head" SET "last_hash" = $1 WHERE "id" = 1`, [prev]);
      await c.query(`UPDATE "audit_chain_anchor" SET "format2_from_id" = $1 WHERE "id" = 1`, [SWITCH]);
    });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('verifies each event by the format it was written with, and the app appends after it', async () => {
    expect(await verify()).toEqual({ ok: true, checked: TOTAL, firstBrokenId: null, fromId: '1', toId: String(TOTAL), checkpoints: 0, checkpointedToId: null, brokenCheckpoint: null });
    await t.app.get(AuditWriter).record({ type: 'token.validate', outcome: 'valid', details: { after: 'switch' } });
    expect(await verify()).toMatchObject({ ok: true, checked: TOTAL + 1 });
  });

  it('an event checked by the wrong format is a break: format 1 is not accepted from SWITCH on', async () => {
    const events = await storedEvents(t);
    const e = events.find((x) => x.id === String(SWITCH))!;
    const prev = events.find((x) => x.id === String(SWITCH - 1))!;
    const { hash: _old, ...content } = e;
    await behindTheAppsBack(t, (c) => c.query(`UPDATE "audit_event" SET "hash" = $1 WHERE "id" = $2`, [eventHashFormat1(prev.hash, content), e.id]));
    try {
      expect(await verify()).toMatchObject({ ok: false, firstBrokenId: String(SWITCH) });
    } finally {
      await behindTheAppsBack(t, (c) => c.query(`UPDATE "audit_event" SET "hash" = $1 WHERE "id" = $2`, [e.hash, e.id]));
    }
    expect((await verify()).ok).toBe(true);
  });

  it('an edited format-1 event is found', async () => {
    await behindTheAppsBack(t, (c) => c.query(`UPDATE "audit_event" SET "latency_ms" = 99 WHERE "id" = 2`));
    expect(await verify()).toMatchObject({ ok: false, firstBrokenId: '2', checked: 1 });
  });
});

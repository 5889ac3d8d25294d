// Signed checkpoints of the audit chain's head, against the database superuser: with the triggers
// disabled, (a) the newest events deleted and the head wound back to the last one kept, and (b) an
// event edited with every later hash recomputed by the service's own hash function, both leave a
// chain that verifies on its own; verification against the signed checkpoint file finds them,
// through the API and through the command line given only a copied file and the public key.
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointLine, signCheckpoint, type AuditCheckpoint } from '../../src/audit/audit-checkpoint.js';
import { AuditCheckpointService } from '../../src/audit/audit-checkpoint.service.js';
import { eventHash } from '../../src/audit/audit-hash.js';
import { AuditVerifyService } from '../../src/audit/audit-verify.service.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import { behindTheAppsBack, runAuditCli, storedEvents } from '../support/audit.js';
import { createUser, startTestApp, startTestAppOnDatabase, type TestApp, type User } from '../support/test-app.js';
import { until } from '../support/until.js';

async function seed(t: TestApp, n: number, tag: string): Promise<void> {
  const writer = t.app.get(AuditWriter);
  for (let i = 0; i < n; i++) {
    await writer.record({ type: 'token.validate', outcome: 'valid', ip: `10.6.0.${i + 1}`, userAgent: `${tag}/${i + 1}`, latencyMs: 1 + i, details: { tag, i } });
  }
}

/**
 * A fresh app with two signed checkpoints and a few events after the last one: returns the
 * checkpoints, and a copy of the checkpoint file and the public key kept "elsewhere".
 */
async function appWithCheckpoints(): Promise<{ t: TestApp; auditor: User; first: AuditCheckpoint; second: AuditCheckpoint; file: string; key: string }> {
  const t = await startTestApp();
  const auditor = await createUser(t, { role: 'auditor' });
  const checkpointer = t.app.get(AuditCheckpointService);
  await seed(t, 8, 'first');
  const first = (await checkpointer.checkpoint())!;
  await seed(t, 6, 'second');
  const second = (await checkpointer.checkpoint())!;
  await seed(t, 3, 'after');
  expect([first.sequence, second.sequence]).toEqual([1, 2]);
  const elsewhere = mkdtempSync(join(tmpdir(), 'hospiai-security-team-'));
  const file = join(elsewhere, 'checkpoints.ndjson');
  copyFileSync(t.config.auditCheckpoints.file, file);
  const served = await t.request('GET', '/api/audit/checkpoints/public-key', { token: auditor.token });
  expect(served.status).toBe(200);
  const key = join(elsewhere, 'audit-public-key.pem');
  writeFileSync(key, served.body.publicKey);
  return { t, auditor, first, second, file, key };
}

describe('audit checkpoints: signing, listing, the public key', () => {
  let t: TestApp;
  let auditor: User;
  let first: AuditCheckpoint;
  let second: AuditCheckpoint;
  let file: string;
  let key: string;

  beforeAll(async () => {
    ({ t, auditor, first, second, file, key } = await appWithCheckpoints());
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('each checkpoint signs the head of its time, links to the previous one, and is one line of the file', async () => {
    const events = await storedEvents(t);
    const byId = new Map(events.map((e) => [e.id, e]));
    expect(byId.get(first.lastId)?.hash).toBe(first.lastHash);
    expect(byId.get(second.lastId)?.hash).toBe(second.lastHash);
    expect(first.count).toBe(first.lastId);
    expect(second.previousHash).toBe(first.hash);
    const lines = readFileSync(t.config.auditCheckpoints.file, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual([first, second]);
  });

  it('the untouched chain verifies through both checkpoints (API and command line with a copied file and the key)', async () => {
    const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    const events = await storedEvents(t);
    expect(r.body).toEqual({
      ok: true,
      checked: events.length,
      firstBrokenId: null,
      fromId: '1',
      toId: events[events.length - 1].id,
      checkpoints: 2,
      checkpointedToId: second.lastId,
      brokenCheckpoint: null,
    });
    const c = await runAuditCli(t, ['verify', '--checkpoints', file, '--public-key', key]);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)).toEqual(r.body);
  }, 60_000);

  it('no checkpoint is signed while the head has not moved', async () => {
    await seed(t, 1, 'more');
    const checkpointer = t.app.get(AuditCheckpointService);
    const third = await checkpointer.checkpoint();
    expect(third?.sequence).toBe(3);
    expect(await checkpointer.checkpoint()).toBeUndefined();
    expect(readFileSync(t.config.auditCheckpoints.file, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('GET /api/audit/checkpoints lists them newest first, by pages; the public key is served', async () => {
    const page = await t.request('GET', '/api/audit/checkpoints?limit=2', { token: auditor.token });
    expect(page.status).toBe(200);
    expect(page.body.items.map((c: AuditCheckpoint) => c.sequence)).toEqual([3, 2]);
    expect(page.body.items[1]).toEqual(second);
    const next = await t.request('GET', `/api/audit/checkpoints?limit=2&cursor=${page.body.nextCursor}`, { token: auditor.token });
    expect(next.body).toEqual({ items: [first], nextCursor: null });
    const bad = await t.request('GET', '/api/audit/checkpoints?cursor=abc', { token: auditor.token });
    expect([bad.status, bad.body.code]).toEqual([400, 'validation_failed']);
    const k = await t.request('GET', '/api/audit/checkpoints/public-key', { token: auditor.token });
    expect(k.body).toMatchObject({ algorithm: 'Ed25519', keyId: first.keyId });
    expect(k.body.publicKey).toContain('-----BEGIN PUBLIC KEY-----');
    expect(JSON.stringify(k.body)).not.toContain('PRIVATE');
  });

  it('two instances checkpointing at once sign one checkpoint between them', async () => {
    const other = await startTestAppOnDatabase(t.databaseUrl, { AUDIT_SIGNING_KEY: readFileSync(join(t.config.dataDir, 'audit-signing-key.pem'), 'utf8') });
    try {
      await seed(t, 2, 'both');
      const results = await Promise.all([t.app.get(AuditCheckpointService).checkpoint(), other.app.get(AuditCheckpointService).checkpoint()]);
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM "audit_checkpoint"`);
      expect(rows[0].n).toBe(4);
    } finally {
      await other.close();
    }
  }, 60_000);
});

describe('audit checkpoints: the newest events deleted and the head wound back, as the superuser', () => {
  let t: TestApp;
  let auditor: User;
  let first: AuditCheckpoint;
  let second: AuditCheckpoint;
  let file: string;
  let key: string;
  let kept: string;

  beforeAll(async () => {
    ({ t, auditor, first, second, file, key } = await appWithCheckpoints());
    // Keep two events past the first checkpoint; the second checkpoint's event goes with the tail.
    kept = String(BigInt(first.lastId) + 2n);
    await behindTheAppsBack(t, async (c) => {
      const { rows } = await c.query(`SELECT current_setting('session_replication_role') AS role`);
      expect(rows[0].role).toBe('replica'); // triggers disabled
      const deleted = await c.query(`DELETE FROM "audit_event" WHERE "id" > $1`, [kept]);
      expect(deleted.rowCount).toBeGreaterThan(3);
      const [last] = (await c.query(`SELECT "hash" FROM "audit_event" WHERE "id" = $1`, [kept])).rows;
      await c.query(`UPDATE "audit_chain_head" SET "last_id" = $1, "last_hash" = $2 WHERE "id" = 1`, [kept, String(last.hash).trim()]);
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('the hash chain alone still verifies: the attack is the one the checkpoints are for', async () => {
    const r = await t.app.get(AuditVerifyService).verify();
    expect(r).toMatchObject({ ok: true, firstBrokenId: null, toId: kept });
  });

  const expected = () => ({
    ok: false,
    firstBrokenId: String(BigInt(kept) + 1n),
    checkpoints: 1,
    checkpointedToId: first.lastId,
    brokenCheckpoint: { line: 2, sequence: 2, lastId: second.lastId, problem: 'missing_event' },
  });

  it('the API names the checkpoint and the first missing event', async () => {
    const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject(expected());
  });

  it('the command line, with a checkpoint file kept elsewhere and the public key, says the same (exit 1)', async () => {
    const r = await runAuditCli(t, ['verify', '--checkpoints', file, '--public-key', key]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject(expected());
    expect(r.stderr).toContain(`CHECKPOINT BROKEN: checkpoint 2 (line 2, event ${second.lastId}): missing_event; first event concerned: ${BigInt(kept) + 1n}`);
  }, 60_000);
});

describe('audit checkpoints: an event edited and every later event re-chained, as the superuser', () => {
  let t: TestApp;
  let auditor: User;
  let first: AuditCheckpoint;
  let second: AuditCheckpoint;
  let file: string;
  let key: string;
  let edited: string;

  beforeAll(async () => {
    ({ t, auditor, first, second, file, key } = await appWithCheckpoints());
    // An event between the two checkpoints: a valid use rewritten as a refused one.
    edited = String(BigInt(first.lastId) + 3n);
    const events = await storedEvents(t);
    await behindTheAppsBack(t, async (c) => {
      let prev = events.find((e) => e.id === String(BigInt(edited) - 1n))!.hash;
      for (const e of events.filter((x) => BigInt(x.id) >= BigInt(edited))) {
        const changed = e.id === edited ? { ...e, outcome: 'revoked' } : e;
        const { hash: _old, ...content } = changed;
        prev = eventHash(prev, content);
        await c.query(`UPDATE "audit_event" SET "outcome" = $1, "hash" = $2 WHERE "id" = $3`, [changed.outcome, prev, e.id]);
      }
      await c.query(`UPDATE "audit_chain_head" SET "last_hash" = $1 WHERE "id" = 1`, [prev]);
    });
    expect((await storedEvents(t)).find((e) => e.id === edited)?.outcome).toBe('revoked');
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('the hash chain alone still verifies: every hash was recomputed', async () => {
    expect(await t.app.get(AuditVerifyService).verify()).toMatchObject({ ok: true, firstBrokenId: null });
  });

  const expected = () => ({
    ok: false,
    // The change lies after the last checkpoint that still matches, up to the one that no longer does.
    firstBrokenId: String(BigInt(first.lastId) + 1n),
    checkpoints: 1,
    checkpointedToId: first.lastId,
    brokenCheckpoint: { line: 2, sequence: 2, lastId: second.lastId, problem: 'hash_mismatch' },
  });

  it('the API names the checkpoint and the first event it can no longer vouch for', async () => {
    const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
    expect(r.body).toMatchObject(expected());
    expect(BigInt(r.body.firstBrokenId) <= BigInt(edited) && BigInt(edited) <= BigInt(r.body.brokenCheckpoint.lastId)).toBe(true);
  });

  it('the command line, with a checkpoint file kept elsewhere and the public key, says the same (exit 1)', async () => {
    const r = await runAuditCli(t, ['verify', '--checkpoints', file, '--public-key', key]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject(expected());
    expect(r.stderr).toContain(`CHECKPOINT BROKEN: checkpoint 2 (line 2, event ${second.lastId}): hash_mismatch`);
  }, 60_000);
});

describe('audit checkpoints: a forged or modified checkpoint line', () => {
  let t: TestApp;
  let auditor: User;
  let second: AuditCheckpoint;
  let file: string;
  let key: string;
  let original: string;

  beforeAll(async () => {
    ({ t, auditor, second, file, key } = await appWithCheckpoints());
    original = readFileSync(file, 'utf8');
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const lines = () => original.trim().split('\n');

  it('a line whose head was moved back (its signature kept) fails its signature check: API and command line', async () => {
    const events = await storedEvents(t);
    const earlier = events.find((e) => e.id === String(BigInt(second.lastId) - 1n))!;
    const moved = { ...second, lastId: earlier.id, lastHash: earlier.hash, count: earlier.id };
    const text = `${lines()[0]}\n${JSON.stringify(moved)}\n`;
    writeFileSync(t.config.auditCheckpoints.file, text);
    writeFileSync(file, text);
    const broken = { line: 2, sequence: 2, lastId: earlier.id, problem: 'signature' };
    try {
      const r = await t.request('GET', '/api/audit/verify', { token: auditor.token });
      expect(r.body).toMatchObject({ ok: false, brokenCheckpoint: broken });
    } finally {
      writeFileSync(t.config.auditCheckpoints.file, original);
    }
    const c = await runAuditCli(t, ['verify', '--checkpoints', file, '--public-key', key]);
    expect(c.code).toBe(1);
    expect(JSON.parse(c.stdout)).toMatchObject({ ok: false, brokenCheckpoint: broken });
  }, 60_000);

  it('a checkpoint signed with another key, even with a matching key id, fails its signature check', async () => {
    const forger = generateKeyPairSync('ed25519').privateKey;
    const forged = signCheckpoint({ ...second, sequence: 3, previousHash: second.hash, signedAt: new Date().toISOString() }, forger);
    for (const line of [forged, { ...forged, keyId: second.keyId }]) {
      writeFileSync(file, original + checkpointLine(line));
      const c = await runAuditCli(t, ['verify', '--checkpoints', file, '--public-key', key]);
      expect(c.code).toBe(1);
      expect(JSON.parse(c.stdout)).toMatchObject({ ok: false, brokenCheckpoint: { line: 3, sequence: 3, problem: 'signature' } });
    }
  }, 60_000);

  it('lines put out of order fail: sequence and ids only grow along the file', async () => {
    const checkpointer = t.app.get(AuditCheckpointService);
    await seed(t, 1, 'third');
    await checkpointer.checkpoint();
    const all = readFileSync(t.config.auditCheckpoints.file, 'utf8').trim().split('\n');
    expect(all).toHaveLength(3);
    writeFileSync(file, `${all[1]}\n${all[0]}\n`);
    const c = await runAuditCli(t, ['verify', '--checkpoints', file, '--public-key', key]);
    expect(JSON.parse(c.stdout)).toMatchObject({ ok: false, brokenCheckpoint: { line: 2, sequence: 1, problem: 'order' } });
  }, 60_000);

  it('the untouched file verifies again', async () => {
    writeFileSync(file, original);
    expect((await t.request('GET', '/api/audit/verify', { token: auditor.token })).body).toMatchObject({ ok: true, checkpoints: 3 });
    const c = await runAuditCli(t, ['verify', '--checkpoints', file, '--public-key', key]);
    expect(c.code).toBe(0);
  }, 60_000);
});

describe('audit checkpoints: signed by themselves, every interval and at shutdown', () => {
  it('AUDIT_CHECKPOINT_INTERVAL_SECONDS=1 signs the moved head; closing the app signs the last events', async () => {
    // A file of its own, outside the app's folder (which closing removes).
    const file = join(mkdtempSync(join(tmpdir(), 'hospiai-checkpoint-file-')), 'checkpoints.ndjson');
    const t = await startTestApp({ AUDIT_CHECKPOINT_INTERVAL_SECONDS: '1', AUDIT_CHECKPOINT_FILE: file });
    expect(t.config.auditCheckpoints.file).toBe(file);
    let closed = false;
    try {
      await seed(t, 2, 'timer');
      await until('a checkpoint in the file', () => existsSync(file) && readFileSync(file, 'utf8').trim() !== '', 5000);
      await seed(t, 2, 'shutdown');
      const last = (await storedEvents(t)).at(-1)!;
      await t.close();
      closed = true;
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditCheckpoint);
      expect(lines.at(-1)).toMatchObject({ lastId: last.id, lastHash: last.hash });
    } finally {
      if (!closed) await t.close();
    }
  }, 60_000);
});

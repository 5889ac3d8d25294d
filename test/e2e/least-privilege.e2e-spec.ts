// The service runs as a database role that is not a superuser and does not own the audit tables:
// with DATABASE_MIGRATION_URL the migrations run as the owner, which grants the service's role
// (DATABASE_URL's) INSERT and SELECT on audit_event, SELECT on the rest of the audit log, and the
// functions that do the remaining upkeep as the owner. Connected as that role, someone holding the
// service's password cannot change, delete or truncate events, disable or drop the guards, or alter
// the tables; the service still appends events and prunes by retention. The embedded PostgreSQL
// runs the service as such a role too.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AuditMaintenanceService } from '../../src/audit/audit-maintenance.service.js';
import { AuditWriter } from '../../src/audit/audit.writer.js';
import { SERVICE_ROLE } from '../../src/database/embedded-postgres.js';
import { createToken, freePort, register, login, startService } from '../support/harness.js';
import { AuditCheckpointService } from '../../src/audit/audit-checkpoint.service.js';
import { createUser, startTestAppOnDatabase, type TestApp } from '../support/test-app.js';

const DAY = 86_400_000;

function urlFor(base: string, user: string, password: string, database: string): string {
  const u = new URL(base);
  u.username = user;
  u.password = password;
  u.pathname = `/${database}`;
  return u.toString();
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

describe('least privilege: the service role with DATABASE_URL and DATABASE_MIGRATION_URL', () => {
  const adminUrl = process.env.HOSPIAI_TEST_ADMIN_URL!;
  const suffix = randomBytes(4).toString('hex');
  const owner = `hospiai_owner_${suffix}`;
  const service = `hospiai_app_${suffix}`;
  const database = `hospiai_lp_${suffix}`;
  const ownerPassword = randomBytes(18).toString('hex');
  const servicePassword = randomBytes(18).toString('hex');
  let admin: pg.Client;
  let t: TestApp;
  /** Connected as the service's role, as someone holding its password would be. */
  let asService: pg.Client;

  beforeAll(async () => {
    admin = await connect(adminUrl);
    await admin.query(`CREATE ROLE "${owner}" LOGIN NOSUPERUSER PASSWORD '${ownerPassword}'`);
    await admin.query(`CREATE ROLE "${service}" LOGIN NOSUPERUSER PASSWORD '${servicePassword}'`);
    // A new, empty database: every migration runs as the owner, as on a real deployment.
    await admin.query(`CREATE DATABASE "${database}" OWNER "${owner}"`);
    t = await startTestAppOnDatabase(urlFor(adminUrl, service, servicePassword, database), {
      DATABASE_MIGRATION_URL: urlFor(adminUrl, owner, ownerPassword, database),
      AUDIT_RETENTION_DAYS: '30',
    });
    asService = await connect(urlFor(adminUrl, service, servicePassword, database));
  }, 120_000);

  afterAll(async () => {
    await asService?.end();
    await t?.close();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.query(`DROP ROLE IF EXISTS "${service}"`);
    await admin.query(`DROP ROLE IF EXISTS "${owner}"`);
    await admin.end();
  });

  it('the service connects as its own role, which is no superuser and owns no table; the owner migrated', async () => {
    const { rows } = await admin.query(
      `SELECT DISTINCT a.usename, r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
        WHERE a.datname = $1 AND a.application_name = 'hospiai'`,
      [database],
    );
    expect(rows).toEqual([{ usename: service, rolsuper: false }]);
    const owners = await asService.query(`SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`);
    expect(owners.rows).toEqual([{ tableowner: owner }]);
    const privileges = await asService.query(
      `SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p
        WHERE has_table_privilege(current_user, 'audit_event', p) ORDER BY 1`,
    );
    expect(privileges.rows.map((r) => r.p)).toEqual(['INSERT', 'SELECT']);
  });

  it('retention prunes old partitions, and validate writes its events, as that role', async () => {
    const db = await connect(urlFor(adminUrl, owner, ownerPassword, database));
    try {
      // Nothing is written yet: an event 100 days old gets its own partition (created as the owner),
      // which retention (30 days) then drops.
      expect((await db.query(`SELECT "last_id" FROM "audit_chain_head"`)).rows[0].last_id).toBe('0');
      const old = new Date(Date.now() - 100 * DAY);
      const partition = `audit_event_p${old.getUTCFullYear()}_${String(old.getUTCMonth() + 1).padStart(2, '0')}`;
      await t.app.get(AuditWriter).record({ occurredAt: old, type: 'auth.login', outcome: 'failure', ip: '10.9.0.1' });
      expect((await db.query(`SELECT to_regclass($1) AS r`, [partition])).rows[0].r).toBe(partition);
      const result = await t.app.get(AuditMaintenanceService).prune();
      expect(result.partitions).toContain(partition);
      expect((await db.query(`SELECT to_regclass($1) AS r`, [partition])).rows[0].r).toBeNull();
      const anchor = await db.query(`SELECT "first_id", "pruned_events" FROM "audit_chain_anchor" WHERE "id" = 1`);
      expect(anchor.rows).toEqual([{ first_id: '2', pruned_events: '1' }]);

      const user = await createUser(t);
      const token = await createToken(t.baseUrl, user.token, { name: 'moindre privilège', scopes: ['read:data'], durationDays: 1 });
      const answer = await t.request('POST', '/api/mcp/validate', { token: token.token });
      expect(answer.status).toBe(200);
      const stored = await db.query(`SELECT "outcome" FROM "audit_event" WHERE "type" = 'token.validate' AND "token_id" = $1`, [token.id]);
      expect(stored.rows).toEqual([{ outcome: 'valid' }]);
      // The chain, pruned and appended to as that role, verifies.
      const auditor = await createUser(t, { role: 'auditor' });
      const verify = await t.request('GET', '/api/audit/verify', { token: auditor.token });
      expect(verify.body).toMatchObject({ ok: true, firstBrokenId: null });
      // As that role, the chain's head is signed into a checkpoint, which the owner sees stored.
      const checkpoint = await t.app.get(AuditCheckpointService).checkpoint();
      expect(checkpoint?.lastId).toBe(String(verify.body.toId));
      const stored2 = await db.query(`SELECT "last_id" FROM "audit_checkpoint" ORDER BY "seq" DESC LIMIT 1`);
      expect(stored2.rows).toEqual([{ last_id: String(verify.body.toId) }]);
    } finally {
      await db.end();
    }
  });

  it('connected as that role, events cannot be changed, deleted or truncated, nor the guards disabled, nor the tables altered', async () => {
    const partition = (await asService.query(`SELECT "audit_ensure_partition"(now()) AS p`)).rows[0].p as string;
    const own = await connect(urlFor(adminUrl, owner, ownerPassword, database));
    const stored = async (): Promise<unknown> =>
      (await own.query(`SELECT "id", "hash", "type", "outcome" FROM "audit_event" ORDER BY "id"`)).rows;
    try {
      const before = await stored();
      expect((before as unknown[]).length).toBeGreaterThan(0);
      const attacks = [
        `UPDATE "audit_event" SET "outcome" = 'valid'`,
        `DELETE FROM "audit_event"`,
        `TRUNCATE "audit_event"`,
        `UPDATE "${partition}" SET "outcome" = 'valid'`,
        `DELETE FROM "${partition}"`,
        `TRUNCATE "${partition}"`,
        `ALTER TABLE "audit_event" DISABLE TRIGGER ALL`,
        `ALTER TABLE "audit_event" DISABLE TRIGGER "audit_event_no_update_delete"`,
        `ALTER TABLE "${partition}" DISABLE TRIGGER "audit_event_no_truncate"`,
        `DROP TRIGGER "audit_event_no_update_delete" ON "audit_event"`,
        `SET session_replication_role = replica`,
        `ALTER TABLE "audit_event" ADD COLUMN "note" text`,
        `ALTER TABLE "audit_event" DETACH PARTITION "${partition}"`,
        `DROP TABLE "${partition}"`,
        `ALTER TABLE "audit_chain_head" DISABLE TRIGGER ALL`,
        `UPDATE "audit_chain_head" SET "last_id" = 0`,
        `UPDATE "audit_chain_anchor" SET "pruned_events" = 0`,
        `DELETE FROM "audit_rollup_hourly"`,
        `CREATE OR REPLACE FUNCTION "audit_event_guard"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
        `SELECT "audit_rollup_add"(0, 1000000, '-infinity', 'infinity', '-infinity', 'infinity')`,
      ];
      for (const sql of attacks) {
        const err: unknown = await asService.query(sql).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect({ sql, code: (err as { code?: string } | undefined)?.code }).toEqual({ sql, code: '42501' });
      }
      expect(await stored()).toEqual(before);
    } finally {
      await own.end();
    }
  });
});

describe('least privilege: the embedded PostgreSQL', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'hospiai-lp-embedded-'));
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`the service runs as ${SERVICE_ROLE}, no superuser; the cluster's superuser owns the tables`, async () => {
    const port = await freePort();
    const running = await startService({
      env: { PATH: process.env.PATH, NODE_ENV: 'development', PORT: String(port) },
      dataDir,
      port,
      timeoutMs: 120_000,
    });
    try {
      const account = { email: 'lp.embedded@chu-exemple.fr', password: 'une phrase de passe longue', firstname: 'Marie', surname: 'Curie' };
      await register(running.base, account);
      await login(running.base, account);
      const pgPort = readFileSync(join(dataDir, 'pg-port'), 'utf8').trim();
      const superuser = `postgres://postgres:${encodeURIComponent(readFileSync(join(dataDir, 'pg-password'), 'utf8').trim())}@127.0.0.1:${pgPort}/postgres`;
      const db = await connect(superuser);
      try {
        const { rows } = await db.query(
          `SELECT DISTINCT a.usename, r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename WHERE a.application_name = 'hospiai'`,
        );
        expect(rows).toEqual([{ usename: SERVICE_ROLE, rolsuper: false }]);
        const owners = await db.query(`SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'audit%'`);
        expect(owners.rows).toEqual([{ tableowner: 'postgres' }]);
        const logins = await db.query(`SELECT count(*)::int AS n FROM "audit_event" WHERE "type" = 'auth.login' AND "outcome" = 'success'`);
        expect(logins.rows[0].n).toBe(1);
      } finally {
        await db.end();
      }
    } finally {
      await running.stop();
    }
    expect(await running.exited).toEqual({ code: 0, signal: null });
  }, 180_000);
});

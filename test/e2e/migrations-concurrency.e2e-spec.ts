// Instances that start at once on one database (two replicas on a fresh database, a rolling
// deployment) apply the migrations one after the other: none fails, none runs twice.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { MIGRATIONS } from '../../src/database/migrations/index.js';
import { runMigrationsLocked } from '../../src/database/run-migrations.js';

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

describe('migrations at start', () => {
  const adminUrl = process.env.HOSPIAI_TEST_ADMIN_URL;
  const name = `hospiai_migrate_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    if (!adminUrl) throw new Error('e2e tests need the global setup (run them with npm test)');
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
  });

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  });

  it('three instances migrating one fresh database at once: all succeed, each migration applied once', async () => {
    const url = withDatabase(adminUrl!, name);
    const sources = await Promise.all([1, 2, 3].map(() => new DataSource(dataSourceOptions(url, { poolSize: 3 })).initialize()));
    try {
      const outcomes = await Promise.allSettled(sources.map((ds) => runMigrationsLocked(ds)));
      expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok']);
      const applied = outcomes.map((o) => (o.status === 'fulfilled' ? o.value.length : -1));
      // One instance applied them all; the others found nothing left to do.
      expect([...applied].sort((a, b) => a - b)).toEqual([0, 0, MIGRATIONS.length]);
      const rows = (await sources[0].query(`SELECT "name", count(*)::int AS n FROM "migrations" GROUP BY "name"`)) as { n: number }[];
      expect(rows).toHaveLength(MIGRATIONS.length);
      expect(rows.every((r) => r.n === 1)).toBe(true);
      expect(await sources[0].showMigrations()).toBe(false);
    } finally {
      await Promise.all(sources.map((ds) => ds.destroy()));
    }
  }, 120_000);
});

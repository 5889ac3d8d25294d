// Starts (or reaches) PostgreSQL once for the e2e run and prepares a template
// database with every migration applied. Each test file then gets its own
// database, copied from the template (see test-app.ts).
//
// - DATABASE_URL set: that server is used (the template and the per-file
//   databases are created on it, then dropped).
// - otherwise: an embedded PostgreSQL is started in a temporary folder and
//   deleted at the end.
//
// It runs in Jest's own process, outside the ESM test runtime, so it uses the
// compiled service (`npm test` builds it first): the same migrations and the
// same embedded-PostgreSQL starter as production.
import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../dist/src/database/data-source-options.js';
import { EmbeddedPostgres } from '../../dist/src/database/embedded-postgres.js';

function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export default async function globalSetup() {
  const started = Date.now();
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'hospiai-test-pg-'));
    const embedded = new EmbeddedPostgres({ dir });
    adminUrl = await embedded.start();
    globalThis.__HOSPIAI_EMBEDDED__ = embedded;
  }
  const template = `hospiai_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${template}"`);
  } finally {
    await admin.end();
  }
  const ds = new DataSource(dataSourceOptions(withDatabase(adminUrl, template), { poolSize: 1 }));
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  await ds.destroy();

  process.env.HOSPIAI_TEST_ADMIN_URL = adminUrl;
  process.env.HOSPIAI_TEST_TEMPLATE = template;
  process.stderr.write(
    `\ne2e database: ${globalThis.__HOSPIAI_EMBEDDED__ ? 'embedded PostgreSQL' : 'DATABASE_URL'}, template ${template} ready in ${Date.now() - started} ms\n`,
  );
}

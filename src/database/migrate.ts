// `npm run migration:run`: applies pending migrations to DATABASE_URL, or to
// the embedded PostgreSQL (started for the occasion when it is not running).
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../config/config.js';
import { dataSourceOptions } from './data-source-options.js';
import { resolveDatabase } from './database-url.js';
import { runMigrationsLocked } from './run-migrations.js';
import { grantToServiceOf } from './service-role.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const db = await resolveDatabase(config, (m) => process.stderr.write(`${m}\n`), { stopAdopted: false });
  const ds = new DataSource(dataSourceOptions(db.migrationUrl ?? db.url, { poolSize: 2, applicationName: 'hospiai-migrate' }));
  const service = db.migrationUrl ? new DataSource(dataSourceOptions(db.url, { poolSize: 1, applicationName: 'hospiai-migrate' })) : undefined;
  try {
    await ds.initialize();
    await service?.initialize();
    const applied = await runMigrationsLocked(ds, service && (() => grantToServiceOf(ds, service)));
    process.stderr.write(applied.length ? applied.map((m) => `applied ${m.name}\n`).join('') : 'no pending migration\n');
  } finally {
    await ds.destroy().catch(() => undefined);
    await service?.destroy().catch(() => undefined);
    await db.embedded?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `migration failed: ${err instanceof Error ? err.message : String(err)}`}\n`);
  process.exit(1);
});

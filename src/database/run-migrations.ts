import type { DataSource, Migration } from 'typeorm';

/**
 * Key of the PostgreSQL advisory lock held while migrations run (any 64-bit number that no
 * other part of the service uses; this one is "hospiai\0" in ASCII, 0x686f737069616900, written
 * in decimal: PostgreSQL reads hexadecimal literals from version 16 only).
 */
export const MIGRATION_LOCK_KEY = '7525360429000911104';

/**
 * Applies the pending migrations, each in its own transaction, while holding a session-level
 * advisory lock: instances that start at once on the same database (a rolling deployment, two
 * replicas on a fresh database) run them one after the other. The next one to take the lock
 * reads the list of applied migrations afresh and finds nothing left to do, instead of running
 * the same migration a second time (a duplicate-key error at best, a data change applied twice
 * at worst). TypeORM's own runner takes no lock. `thenWithLock` runs after them, still under the
 * lock (the grants to the service's role).
 */
export async function runMigrationsLocked(dataSource: DataSource, thenWithLock?: () => Promise<void>): Promise<Migration[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      await thenWithLock?.();
      return applied;
    } finally {
      await runner.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`).catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

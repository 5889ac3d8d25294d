import type { AppConfig } from '../config/config.js';
import { EmbeddedPostgres } from './embedded-postgres.js';

export interface ResolvedDatabase {
  /** The service's: the pool's role. */
  url: string;
  /** The tables' owner, for the migrations, when it is not the service's role. */
  migrationUrl?: string;
  /** Set when the service started its own PostgreSQL: stop it after the app has closed. */
  embedded?: EmbeddedPostgres;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL kept under the data folder, started now. */
export async function resolveDatabase(
  config: AppConfig,
  log: (message: string) => void,
  options: { stopAdopted?: boolean } = {},
): Promise<ResolvedDatabase> {
  if (config.databaseUrl) return { url: config.databaseUrl, migrationUrl: config.databaseMigrationUrl };
  const embedded = new EmbeddedPostgres({ dir: config.dataDir, log, stopAdopted: options.stopAdopted });
  // The cluster's superuser owns the tables and migrates; the service connects as its own role.
  const migrationUrl = await embedded.start();
  return { url: embedded.serviceUrl, migrationUrl, embedded };
}

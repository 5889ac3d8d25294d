import type { AppConfig } from '../config/config.js';
import { EmbeddedPostgres } from './embedded-postgres.js';

export interface ResolvedDatabase {
  url: string;
  /** Set when the service started its own PostgreSQL: stop it after the app has closed. */
  embedded?: EmbeddedPostgres;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL kept under the data folder, started now. */
export async function resolveDatabase(
  config: AppConfig,
  log: (message: string) => void,
  options: { stopAdopted?: boolean } = {},
): Promise<ResolvedDatabase> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = new EmbeddedPostgres({ dir: config.dataDir, log, stopAdopted: options.stopAdopted });
  const url = await embedded.start();
  return { url, embedded };
}

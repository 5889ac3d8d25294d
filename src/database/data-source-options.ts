import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from './migrations/index.js';

/**
 * The one description of the database connection, shared by the app, the migration script and the TypeORM CLI.
 * `entities`: the app and the TypeORM CLI give the service's (src/entities.ts); the migration script and the
 * tools that only run SQL need none.
 */
export function dataSourceOptions(
  url: string,
  extra: { poolSize?: number; applicationName?: string; entities?: DataSourceOptions['entities'] } = {},
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: extra.entities ?? [],
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    extra: {
      max: extra.poolSize ?? 20,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
      application_name: extra.applicationName ?? 'hospiai',
      // Dates are UTC whatever the server's time zone.
      options: '-c TimeZone=UTC',
      // Bounded statements: a stuck query must not hold a request forever.
      statement_timeout: 15000,
      query_timeout: 20000,
    },
  };
}

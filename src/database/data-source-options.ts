import type { DataSourceOptions } from 'typeorm';
import { ENTITIES } from './entities.js';
import { MIGRATIONS } from './migrations/index.js';

/** The one description of the database connection, shared by the app, the migration script and the TypeORM CLI. */
export function dataSourceOptions(url: string, extra: { poolSize?: number; applicationName?: string } = {}): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
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

// The DataSource for the TypeORM CLI (`npm run migration:generate -- src/database/migrations/Name`).
// It uses DATABASE_URL, or the embedded PostgreSQL while `npm start` runs it.
import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { loadConfig } from './config/config.js';
import { dataSourceOptions } from './database/data-source-options.js';
import { ENTITIES } from './entities.js';

const config = loadConfig(process.env);

function embeddedUrl(): string {
  const portFile = join(config.dataDir, 'pg-port');
  const passwordFile = join(config.dataDir, 'pg-password');
  if (!existsSync(portFile) || !existsSync(passwordFile)) {
    throw new Error('Set DATABASE_URL, or start the app once (npm start) so that the embedded PostgreSQL exists and runs');
  }
  const port = readFileSync(portFile, 'utf8').trim();
  const password = encodeURIComponent(readFileSync(passwordFile, 'utf8').trim());
  return `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
}

export default new DataSource(dataSourceOptions(config.databaseUrl ?? embeddedUrl(), { poolSize: 2, applicationName: 'hospiai-cli', entities: ENTITIES }));

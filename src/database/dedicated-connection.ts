import pg from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions.js';

/**
 * Opens a connection of its own for a read that lasts as long as the data is long (an audit export
 * or verification): outside the pool, without the pool's statement and read timeouts, which are
 * meant for ordinary queries. (A pooled client's read timeout is a timer that a streamed query
 * never clears: it would outlive the read by hours and keep a command-line run alive.) The caller
 * closes it with `end()` when the read ends.
 *
 * Its `application_name` is the pool's followed by `-purpose`. `onEnd` runs once: when the
 * connection ends, or when it could not be opened (the promise then rejects).
 */
export async function openDedicatedConnection(
  dataSource: DataSource,
  purpose: string,
  onEnd: () => void = () => undefined,
): Promise<pg.Client> {
  let ended = false;
  const end = (): void => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  const options = dataSource.options as PostgresDataSourceOptions;
  const {
    max: _max,
    idleTimeoutMillis: _idle,
    connectionTimeoutMillis,
    statement_timeout: _st,
    query_timeout: _qt,
    application_name,
    ...rest
  } = (options.extra ?? {}) as Record<string, unknown>;
  const client = new pg.Client({
    ...rest,
    connectionString: options.url,
    connectionTimeoutMillis: connectionTimeoutMillis as number | undefined,
    application_name: `${String(application_name ?? 'hospiai')}-${purpose}`.slice(0, 63),
  });
  client.once('end', end);
  // An error during a read reaches the read itself (a stream, a query); one while the connection is
  // idle (the server ending it) only ends it. Without a listener, that 'error' event would end the
  // process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SET statement_timeout = 0');
  } catch (err) {
    await client.end().catch(() => undefined);
    end();
    throw err;
  }
  return client;
}

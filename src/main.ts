import 'reflect-metadata';
import { createApp } from './app.js';
import { createPino } from './common/logger.js';
import { ConfigError, loadConfig, type AppConfig } from './config/config.js';
import { resolveDatabase } from './database/database-url.js';
import { isDatabaseUnavailable } from './database/db-errors.js';

const SHUTDOWN_TIMEOUT_MS = 25_000;

async function main(): Promise<void> {
  const started = Date.now();
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createPino(config);
  // Signals are handled from the start: one that comes while the embedded PostgreSQL starts or the
  // migrations run is kept, and acted on once that step is over (it cannot be cut short safely).
  // Without this, Node's default handling ended the process there and then, and left the embedded
  // PostgreSQL (its own process group) running.
  let startupSignal: NodeJS.Signals | undefined;
  let onSignal = (signal: NodeJS.Signals): void => {
    if (startupSignal) return;
    startupSignal = signal;
    log.info({ signal }, 'shutting down once the current start-up step is over');
  };
  process.once('SIGTERM', (s) => onSignal(s));
  process.once('SIGINT', (s) => onSignal(s));
  let stopping = false;
  /** Runs `stop` once, then exits: 0 when it is done, 1 if it fails or takes over SHUTDOWN_TIMEOUT_MS. */
  const exitAfter = (stop: () => Promise<void>): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      log.error('shutdown took too long: exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    force.unref();
    void (async () => {
      try {
        await stop();
        log.info('stopped');
        log.flush();
        process.exit(0);
      } catch (err) {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      }
    })();
  };

  const db = await resolveDatabase(config, (m) => log.info({ context: 'EmbeddedPostgres' }, m));
  if (startupSignal) return exitAfter(async () => db.embedded?.stop());
  const app = await createApp({ config, databaseUrl: db.url, migrationUrl: db.migrationUrl }).catch(async (err: unknown) => {
    await db.embedded?.stop();
    throw db.embedded ? err : databaseError(err);
  });
  if (startupSignal) {
    return exitAfter(async () => {
      await app.close().catch(() => undefined);
      await db.embedded?.stop();
    });
  }
  onSignal = (signal) => {
    if (!stopping) log.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    exitAfter(async () => {
      await app.close();
      await db.embedded?.stop();
    });
  };
  // Start-up's own checks (the configured admin account, for one) run here: a refusal closes what
  // was opened, the embedded database included, before the process exits.
  await app.listen({ port: config.port, host: config.host }).catch(async (err: unknown) => {
    await app.close().catch(() => undefined);
    await db.embedded?.stop();
    throw listenError(err, config.host, config.port);
  });

  const address = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  log.info(
    { startupMs: Date.now() - started, database: db.embedded ? `embedded (its Unix socket; TCP on 127.0.0.1:${db.embedded.port})` : 'DATABASE_URL' },
    `HospiAI listening on ${address} — API docs at ${address}/api/docs`,
  );
}

/** The socket's refusals (address taken, not this machine's, name not found) name HOST and PORT. */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME'].includes(code)) return err;
  return new Error(`cannot listen on HOST ${host}, PORT ${port}: ${(err as Error).message}`);
}

/** SQLSTATEs of a refused connection: bad password or authorization, no such database. */
const CONNECTION_REFUSED_STATES = new Set(['28P01', '28000', '3D000']);

/** A DATABASE_URL that cannot be reached, or refuses the connection, is named (never its password). */
function databaseError(err: unknown): unknown {
  const state = (err as { code?: unknown } | undefined)?.code;
  if (!isDatabaseUnavailable(err) && !(typeof state === 'string' && CONNECTION_REFUSED_STATES.has(state))) return err;
  return new Error(`cannot connect to the database at DATABASE_URL: ${(err as Error).message}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`HospiAI failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

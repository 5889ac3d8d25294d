// Graceful shutdown: SIGTERM under validate load (keep-alive connections, as MCP servers hold them),
// then SIGTERM during start-up. Checks:
// - the process exits 0, within the shutdown timeout;
// - every validation in flight when the signal came is answered (not dropped);
// - every answer given during the shutdown is one of the route's own (200, 401, 403, or 503
//   {"error":"Service indisponible"} with Retry-After), never a bare framework 503;
// - every validation answered 200/401/403 has its audit event;
// - a request in flight when the shutdown begins, on a keep-alive connection the client then leaves
//   open, is answered with Connection: close, and the service exits at once, not after the client's
//   keep-alive;
// - a SIGTERM while the service starts stops it cleanly: exit 0, and no embedded PostgreSQL left
//   running behind it.
// Run after `npm run build`: node test/faults/shutdown.mjs
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  auditedIds,
  Checks,
  cleanUp,
  dbClient,
  freePort,
  histogram,
  logTail,
  MAIN,
  prepareTokens,
  ROOT,
  sleep,
  startEmbedded,
  startLoad,
  startService,
  stopEmbedded,
  tempDataDir,
} from './lib.mjs';

const checks = new Checks('shutdown');
const WORKERS = Number(process.env.SHUTDOWN_WORKERS ?? 24);

async function underLoad() {
  const dataDir = tempDataDir('shutdown');
  let service;
  try {
    service = await startService({ dataDir, port: await freePort() });
    console.log(`service started in ${service.startMs} ms (pid ${service.child.pid}, DATA_DIR ${dataDir})`);
    const tokens = await prepareTokens(service.base);
    const load = startLoad(service.base, tokens, { workers: WORKERS });
    await sleep(2000);
    const signalAt = Date.now();
    service.child.kill('SIGTERM');
    const exit = await Promise.race([service.exited, sleep(30_000).then(() => undefined)]);
    const exitAt = Date.now();
    const results = await load.stop();
    console.log(`exit ${JSON.stringify(exit)} ${exitAt - signalAt} ms after SIGTERM; statuses ${JSON.stringify(histogram(results))}`);
    checks.check(exit?.code === 0, 'the service exits 0 on SIGTERM under load');

    const inFlight = results.filter((r) => r.startedAt < signalAt && r.endedAt >= signalAt);
    console.log(`in flight at SIGTERM: ${inFlight.length} ${JSON.stringify(histogram(inFlight))}`);
    checks.check(
      inFlight.every((r) => [200, 401, 403].includes(r.status)),
      'every validation in flight at SIGTERM is answered',
    );
    const during = results.filter((r) => r.startedAt >= signalAt && !r.error);
    console.log(`answered after SIGTERM: ${during.length} ${JSON.stringify(histogram(during))}`);
    const foreign = during.filter(
      (r) => ![200, 401, 403].includes(r.status) && !(r.status === 503 && r.body?.error === 'Service indisponible' && r.retryAfter),
    );
    for (const r of foreign.slice(0, 3)) console.log(`  e.g. ${r.status} ${JSON.stringify(r.body)} Retry-After ${r.retryAfter}`);
    checks.check(foreign.length === 0, `every answer during the shutdown is one of the route's own (${foreign.length} others)`);

    // The service stopped its PostgreSQL: start it again to read the audit log.
    startEmbedded(dataDir);
    const client = await dbClient(dataDir);
    try {
      const answered = results.filter((r) => [200, 401, 403].includes(r.status));
      const found = await auditedIds(
        client,
        answered.map((r) => r.requestId),
      );
      const lost = answered.filter((r) => !found.has(r.requestId));
      console.log(`answered (200/401/403): ${answered.length}; audit events found: ${found.size}; lost: ${lost.length}`);
      checks.check(lost.length === 0, `no answered validation lost its audit event (${lost.length} lost)`);
    } finally {
      await client.end();
      stopEmbedded(dataDir);
    }
  } catch (err) {
    checks.check(false, `shutdown under load: ${err instanceof Error ? err.message : String(err)}${logTail(dataDir)}`);
  } finally {
    await cleanUp(service, dataDir);
  }
}

/**
 * A request in flight when the shutdown begins, on a keep-alive connection that the client then
 * keeps open without sending more (as an MCP server between two calls): its answer closes the
 * connection, and the service exits at once, not when the client's keep-alive ends.
 */
async function answeredThenIdle() {
  const dataDir = tempDataDir('shutdown-idle');
  let service;
  let socket;
  try {
    service = await startService({ dataDir, port: await freePort(), env: { LOG_LEVEL: 'info' } });
    socket = connect(service.port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (received += chunk));
    const closedByService = new Promise((resolve) => socket.once('end', () => resolve(true)));
    // The request's head and half its body: the service has begun the request when the signal comes.
    socket.write(
      `POST /api/mcp/validate HTTP/1.1\r\nHost: 127.0.0.1:${service.port}\r\nContent-Type: application/json\r\n` +
        'Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{',
    );
    await sleep(300);
    const signalAt = Date.now();
    service.child.kill('SIGTERM');
    const log = () => readFileSync(join(dataDir, 'service.log'), 'utf8');
    while (!log().includes('shutting down') && Date.now() - signalAt < 10_000) await sleep(20);
    await sleep(300);
    socket.write('}');
    while (!received.includes('\r\n\r\n') && Date.now() - signalAt < 10_000) await sleep(20);
    const head = received.split('\r\n\r\n')[0];
    console.log(`answer to the request in flight: ${head.split('\r\n')[0]}; Connection: ${/^connection: (.*)$/im.exec(head)?.[1]}`);
    checks.check(/^HTTP\/1\.1 401 /.test(head), 'the request in flight when the shutdown begins is answered (401, no token)');
    checks.check(/^connection: close$/im.test(head), 'its answer says Connection: close');
    const exit = await Promise.race([service.exited, sleep(20_000).then(() => undefined)]);
    const exitMs = Date.now() - signalAt;
    console.log(`exit ${JSON.stringify(exit)} ${exitMs} ms after SIGTERM, with the client's connection left open`);
    checks.check(exit?.code === 0 && exitMs < 10_000, 'the service exits 0 within 10 s, without waiting for the idle connection');
    checks.check(await Promise.race([closedByService, sleep(1000).then(() => false)]), 'the service closed the connection');
  } catch (err) {
    checks.check(
      false,
      `a request in flight, then an idle connection: ${err instanceof Error ? err.message : String(err)}${logTail(dataDir)}`,
    );
  } finally {
    socket?.destroy();
    await cleanUp(service, dataDir);
  }
}

/** SIGTERM while the service initialises its embedded PostgreSQL and runs the migrations. */
async function duringStartup() {
  const dataDir = tempDataDir('shutdown-start');
  let child;
  try {
    let out = '';
    child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        DATA_DIR: dataDir,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const started = Date.now();
    while (!/initialising embedded PostgreSQL/.test(out) && Date.now() - started < 60_000) await sleep(20);
    child.kill('SIGTERM');
    const exit = await Promise.race([exited, sleep(90_000).then(() => undefined)]);
    console.log(`SIGTERM during start-up: exit ${JSON.stringify(exit)}`);
    checks.check(exit?.code === 0, 'a SIGTERM during start-up ends the process with exit 0');
    const left = existsSync(join(dataDir, 'pg', 'postmaster.pid'));
    checks.check(!left, 'a SIGTERM during start-up leaves no embedded PostgreSQL running');
  } catch (err) {
    checks.check(false, `SIGTERM during start-up: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await cleanUp(undefined, dataDir);
  }
}

await underLoad();
await answeredThenIdle();
await duringStartup();
process.exitCode = checks.close();

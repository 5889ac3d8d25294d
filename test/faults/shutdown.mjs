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
// - an answer already being sent when the shutdown begins (an audit export to a client reading slowly)
//   is sent whole, then its connection is closed and the service exits, without waiting for the
//   client's keep-alive;
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
const EXPORT_EVENTS = 30_000;

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

/** Sends SIGTERM and returns its time, once the service has logged that it is shutting down (10 s at most). */
async function terminate(service) {
  const signalAt = Date.now();
  service.child.kill('SIGTERM');
  const log = () => readFileSync(join(service.dataDir, 'service.log'), 'utf8');
  while (!log().includes('shutting down') && Date.now() - signalAt < 10_000) await sleep(20);
  return signalAt;
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
    const signalAt = await terminate(service);
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

/**
 * An answer already under way when the shutdown begins: an audit export, its head sent, its body
 * held back by a client that stopped reading (its socket buffers full). The shutdown waits for it;
 * once the client reads again, the export is sent whole, then the service closes the connection
 * (it cannot say `Connection: close` any more: the head is gone) and exits.
 */
async function exportInFlight() {
  const dataDir = tempDataDir('shutdown-export');
  let service;
  let socket;
  try {
    service = await startService({ dataDir, port: await freePort(), env: { LOG_LEVEL: 'info' } });
    const tokens = await prepareTokens(service.base);
    // Enough events that the export outgrows the sockets' buffers: about 13 MB as NDJSON, where the kernel holds a
    // few MB for a connection whose reader has stopped.
    const load = startLoad(service.base, tokens, { workers: 16, maxRequests: EXPORT_EVENTS });
    while (load.results.length < EXPORT_EVENTS) await sleep(100);
    await load.stop();
    socket = connect(service.port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks = [];
    const received = () => Buffer.concat(chunks);
    // Reading stops as soon as the answer's head is in: the rest of the export stays in the sockets' buffers.
    let headIn = false;
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (!headIn && received().includes('\r\n\r\n')) {
        headIn = true;
        socket.pause();
      }
    });
    const closedByService = new Promise((resolve) => socket.once('end', () => resolve(true)));
    socket.write(
      `GET /api/audit/events/export?format=ndjson HTTP/1.1\r\nHost: 127.0.0.1:${service.port}\r\n` +
        `Authorization: Bearer ${tokens.session}\r\nConnection: keep-alive\r\n\r\n`,
    );
    const started = Date.now();
    while (!headIn && Date.now() - started < 10_000) await sleep(5);
    const head = received().toString('latin1').split('\r\n\r\n')[0];
    checks.check(
      /^HTTP\/1\.1 200 /.test(head) && /^connection: keep-alive$/im.test(head),
      'the export has begun, on a keep-alive connection',
    );
    await sleep(1000);
    await terminate(service);
    await sleep(1000);
    checks.check(service.alive, 'the shutdown waits for the export under way');
    const resumedAt = Date.now();
    socket.resume();
    const exit = await Promise.race([service.exited, sleep(20_000).then(() => undefined)]);
    const exitMs = Date.now() - resumedAt;
    const raw = received();
    const { body, complete } = dechunk(raw.subarray(raw.indexOf('\r\n\r\n') + 4));
    const lines = body
      .toString('utf8')
      .split('\n')
      .filter((l) => l.startsWith('{')).length;
    console.log(
      `export: ${raw.length} bytes received, ${lines} events, ${complete ? 'complete' : 'cut'}; ` +
        `exit ${JSON.stringify(exit)} ${exitMs} ms after the client read again`,
    );
    checks.check(complete && lines >= EXPORT_EVENTS, `the export is sent whole (${lines} events, at least ${EXPORT_EVENTS})`);
    checks.check(
      exit?.code === 0 && exitMs < 10_000,
      'the service exits 0 once the export is sent, without waiting for the idle connection',
    );
    checks.check(
      await Promise.race([closedByService, sleep(1000).then(() => false)]),
      'the service closed the connection after the export',
    );
  } catch (err) {
    checks.check(false, `an export under way at shutdown: ${err instanceof Error ? err.message : String(err)}${logTail(dataDir)}`);
  } finally {
    socket?.destroy();
    await cleanUp(service, dataDir);
  }
}

/** The body of a chunked HTTP/1.1 answer, and whether its last (empty) chunk came. */
function dechunk(raw) {
  const parts = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error(`not a chunk size at byte ${at}`);
    if (size === 0) return { body: Buffer.concat(parts), complete: raw.subarray(eol + 2, eol + 4).toString('latin1') === '\r\n' };
    if (eol + 2 + size + 2 > raw.length) return { body: Buffer.concat([...parts, raw.subarray(eol + 2)]), complete: false };
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
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
await exportInFlight();
await duringStartup();
process.exitCode = checks.close();

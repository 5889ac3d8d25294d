/* global AbortSignal */
// Database outage: under steady validate load, stop the service's PostgreSQL for
// OUTAGE_MS (10 s) and start it again, the service left running. Checks:
// - while it is down, validate answers 503 {"error":"Service indisponible"} with
//   Retry-After: never a 200 (a token whose state cannot be checked), never
//   another 5xx, never slower than the bound below;
// - readiness says not ready (503), liveness still answers, the process stays up;
// - once PostgreSQL is back, the service recovers by itself (no restart), and every
//   validation answered 200/401/403 during the whole run has its audit event;
// - the audit hash chain still verifies.
// Run after `npm run build`: node test/faults/db-outage.mjs
// The embedded PostgreSQL is stopped with pg_ctl (as the `postgres` account when root).
import {
  auditedIds,
  Checks,
  cleanUp,
  dbClient,
  freePort,
  histogram,
  logTail,
  prepareTokens,
  sleep,
  startEmbedded,
  startLoad,
  startService,
  stopEmbedded,
  stopService,
  tempDataDir,
  validateOnce,
  verifyChain,
} from './lib.mjs';

if (process.env.FAULTS_DATABASE_URL) {
  console.log('db-outage stops the embedded PostgreSQL: unset FAULTS_DATABASE_URL');
  process.exit(2);
}

const OUTAGE_MS = Number(process.env.OUTAGE_MS ?? 10_000);
const WORKERS = Number(process.env.OUTAGE_WORKERS ?? 6);
/** No answer during the outage may take longer than this (the pool's connection timeout is 5 s). */
const ANSWER_BOUND_MS = 6_000;
const RECOVERY_BOUND_MS = 30_000;

const checks = new Checks('db-outage');
const dataDir = tempDataDir('outage');
let service;
const probes = [];
let probing = true;

async function probe(base) {
  while (probing) {
    const at = Date.now();
    const get = async (path) => {
      try {
        const res = await fetch(base + path, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        return res.status;
      } catch (err) {
        return `error:${err?.cause?.code ?? err?.name}`;
      }
    };
    const [ready, live] = await Promise.all([get('/api/health/ready'), get('/api/health')]);
    probes.push({ at, ready, live });
    await sleep(250);
  }
}

try {
  const port = await freePort();
  service = await startService({ dataDir, port });
  console.log(`service started in ${service.startMs} ms (pid ${service.child.pid}, DATA_DIR ${dataDir})`);
  const tokens = await prepareTokens(service.base);
  const prober = probe(service.base);

  const load = startLoad(service.base, tokens, { workers: WORKERS });
  await sleep(3000);

  const stopBegan = Date.now();
  stopEmbedded(dataDir);
  const downAt = Date.now();
  console.log(`PostgreSQL stopped (pg_ctl stop -m fast took ${downAt - stopBegan} ms); down for ${OUTAGE_MS} ms`);
  await sleep(OUTAGE_MS);
  const upBegan = Date.now();
  startEmbedded(dataDir);
  const upAt = Date.now();
  console.log(`PostgreSQL started again (pg_ctl start took ${upAt - upBegan} ms)`);

  // Recovery: the first 200 of a valid token after PostgreSQL is back, with nothing restarted.
  let recoveredAt;
  for (let i = 0; i < 600 && !recoveredAt; i++) {
    const r = await validateOnce(service.base, tokens, 'valid', 10_000);
    if (r.status === 200) recoveredAt = Date.now();
    else await sleep(50);
  }
  const recoveryMs = recoveredAt ? recoveredAt - upAt : Infinity;
  await sleep(3000);
  const results = await load.stop();
  probing = false;
  await prober;

  const during = results.filter((r) => r.startedAt >= downAt && r.endedAt <= upBegan);
  const afterRecovery = results.filter((r) => recoveredAt && r.startedAt >= recoveredAt + 500);
  console.log(`requests: ${results.length} in all; statuses ${JSON.stringify(histogram(results))}`);
  console.log(
    `during the outage: ${during.length} requests; statuses ${JSON.stringify(histogram(during))}; slowest ${Math.round(Math.max(0, ...during.map((r) => r.ms)))} ms`,
  );
  console.log(`after recovery: ${afterRecovery.length} requests; statuses ${JSON.stringify(histogram(afterRecovery))}`);
  console.log(`recovered by itself ${recoveryMs} ms after PostgreSQL was back`);

  checks.check(during.length > 20, `validations were sent during the outage (${during.length})`);
  checks.check(
    during.every((r) => r.status !== 200),
    'no 200 while the token state cannot be checked',
  );
  checks.check(
    during.every((r) => r.status === 503 && r.body?.error === 'Service indisponible' && Number(r.retryAfter) > 0),
    'every validation during the outage is 503 {"error":"Service indisponible"} with Retry-After',
  );
  checks.check(
    results.every((r) => r.error || r.status < 500 || r.status === 503),
    'no 5xx other than 503 in the whole run',
  );
  checks.check(
    results.every((r) => !r.error),
    `no request failed without an answer (${results.filter((r) => r.error).length})`,
  );
  checks.check(
    during.every((r) => r.ms <= ANSWER_BOUND_MS),
    `no answer during the outage took longer than ${ANSWER_BOUND_MS} ms (slowest ${Math.round(Math.max(0, ...during.map((r) => r.ms)))} ms)`,
  );

  const probesDuring = probes.filter((p) => p.at >= downAt + 1000 && p.at + 5000 <= upBegan);
  const readyHist = {};
  for (const p of probesDuring) readyHist[p.ready] = (readyHist[p.ready] ?? 0) + 1;
  console.log(
    `readiness during the outage: ${JSON.stringify(readyHist)}; liveness: ${JSON.stringify([...new Set(probesDuring.map((p) => p.live))])}`,
  );
  checks.check(
    probesDuring.length > 0 && probesDuring.every((p) => p.ready === 503),
    'readiness answers 503 (not ready) during the outage',
  );
  checks.check(
    probesDuring.every((p) => p.live === 200),
    'liveness answers 200 during the outage',
  );
  checks.check(service.alive, 'the process stayed up');
  checks.check(recoveryMs <= RECOVERY_BOUND_MS, `recovered by itself, no restart, within ${RECOVERY_BOUND_MS / 1000} s (${recoveryMs} ms)`);
  checks.check(
    afterRecovery.length > 0 && afterRecovery.every((r) => [200, 401, 403].includes(r.status)),
    'after recovery every validation is answered 200, 401 or 403 again',
  );
  const lastProbe = probes.at(-1);
  checks.check(lastProbe?.ready === 200, `readiness is back to 200 (${lastProbe?.ready})`);

  const answered = results.filter((r) => [200, 401, 403].includes(r.status));
  const client = await dbClient(dataDir);
  try {
    const found = await auditedIds(
      client,
      answered.map((r) => r.requestId),
    );
    const lost = answered.filter((r) => !found.has(r.requestId));
    console.log(`answered (200/401/403): ${answered.length}; their audit events found: ${found.size}; lost: ${lost.length}`);
    checks.check(lost.length === 0, `no answered validation lost its audit event (${lost.length} lost)`);
  } finally {
    await client.end();
  }
  const verify = await verifyChain(service.base);
  console.log(`audit chain after the outage: ${JSON.stringify(verify)}`);
  checks.check(verify?.ok === true, `the hash chain verifies (${verify?.checked} events checked)`);
  await stopService(service);
} catch (err) {
  checks.check(false, `db-outage test ran to the end: ${err instanceof Error ? err.stack : String(err)}${logTail(dataDir)}`);
} finally {
  probing = false;
  await cleanUp(service, dataDir);
  process.exitCode = checks.close();
}

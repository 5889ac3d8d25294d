// Crash test: under steady validate load, kill -9 the service; start it again on
// the same DATA_DIR (its embedded PostgreSQL, left running, is adopted); then:
// - every validation that got an answer (200, 401 or 403) has its audit event: none lost;
// - the audit hash chain still verifies end to end;
// - the service serves again within a few seconds of its restart.
// Run after `npm run build`: node test/faults/crash.mjs
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
  startLoad,
  startService,
  stopService,
  tempDataDir,
  validateOnce,
  verifyChain,
} from './lib.mjs';

const LOAD_BEFORE_KILL_MS = Number(process.env.CRASH_LOAD_MS ?? 4000);
const WORKERS = Number(process.env.CRASH_WORKERS ?? 8);
const RECOVERY_BOUND_MS = 15_000;

const checks = new Checks('crash');
const dataDir = tempDataDir('crash');
let service;
try {
  const port = await freePort();
  service = await startService({ dataDir, port });
  console.log(`service started in ${service.startMs} ms (pid ${service.child.pid}, DATA_DIR ${dataDir})`);
  const tokens = await prepareTokens(service.base);

  const load = startLoad(service.base, tokens, { workers: WORKERS });
  await sleep(LOAD_BEFORE_KILL_MS);
  const killedAt = Date.now();
  service.child.kill('SIGKILL');
  const exit = await service.exited;
  console.log(`kill -9 after ${LOAD_BEFORE_KILL_MS} ms of load: exit ${JSON.stringify(exit)}`);
  await sleep(500);
  const results = await load.stop();

  const answered = results.filter((r) => [200, 401, 403].includes(r.status));
  const unanswered = results.filter((r) => r.error);
  const inFlightAtKill = unanswered.filter((r) => r.startedAt <= killedAt);
  console.log(`requests sent: ${results.length}; statuses: ${JSON.stringify(histogram(results))}`);
  checks.check(answered.length > 100, `the load was answered before the kill (${answered.length} answers)`);
  checks.check(
    results.every((r) => r.error || [200, 401, 403].includes(r.status)),
    'every answer before the kill was 200, 401 or 403',
  );

  // Restart on the same folder: the embedded PostgreSQL left running by the killed process is adopted.
  const restartAt = Date.now();
  service = await startService({ dataDir, port });
  let firstOk;
  for (let i = 0; i < 200 && !firstOk; i++) {
    const r = await validateOnce(service.base, tokens, 'valid', 5000);
    if (r.status === 200) firstOk = Date.now();
    else await sleep(50);
  }
  const recoveryMs = firstOk ? firstOk - restartAt : Infinity;
  console.log(`restarted: listening after ${service.startMs} ms, first 200 from validate ${recoveryMs} ms after the restart began`);
  checks.check(recoveryMs <= RECOVERY_BOUND_MS, `serves again within ${RECOVERY_BOUND_MS / 1000} s of the restart (${recoveryMs} ms)`);

  const client = await dbClient(dataDir);
  try {
    const found = await auditedIds(
      client,
      answered.map((r) => r.requestId),
    );
    const lost = answered.filter((r) => !found.has(r.requestId));
    const auditedUnanswered = (
      await auditedIds(
        client,
        inFlightAtKill.map((r) => r.requestId),
      )
    ).size;
    console.log(
      `answered (200/401/403): ${answered.length}; their audit events found: ${found.size}; lost: ${lost.length}; ` +
        `in flight at the kill (no answer): ${inFlightAtKill.length}, of which audited anyway: ${auditedUnanswered}`,
    );
    checks.check(
      lost.length === 0,
      `no answered validation lost its audit event (${lost.length} lost${
        lost.length
          ? `: ${lost
              .slice(0, 3)
              .map((r) => r.requestId)
              .join(', ')}`
          : ''
      })`,
    );
  } finally {
    await client.end();
  }

  const verify = await verifyChain(service.base);
  console.log(`audit chain after the crash: ${JSON.stringify(verify)}`);
  checks.check(verify?.ok === true && verify.firstBrokenId === null, `the hash chain verifies (${verify?.checked} events checked)`);

  // A few seconds of load on the restarted service: all answered as before.
  const after = startLoad(service.base, tokens, { workers: 4 });
  await sleep(2000);
  const afterResults = await after.stop();
  console.log(`after the restart: ${afterResults.length} requests, statuses ${JSON.stringify(histogram(afterResults))}`);
  checks.check(
    afterResults.length > 0 && afterResults.every((r) => [200, 401, 403].includes(r.status)),
    'after the restart every validation is answered 200, 401 or 403',
  );
  await stopService(service);
  checks.check(!service.alive, 'the restarted service stops cleanly on SIGTERM');
} catch (err) {
  checks.check(false, `crash test ran to the end: ${err instanceof Error ? err.stack : String(err)}${logTail(dataDir)}`);
} finally {
  await cleanUp(service, dataDir);
  process.exitCode = checks.close();
}

// Soak: SOAK_SECONDS (300 by default; CI runs 60) of validations at a steady
// SOAK_RATE per second (valid, invalid and insufficient-scope tokens in turn)
// against the built service. Reports the service's memory (RSS and V8 heap) after
// a warm-up and at the end (each after a full garbage collection), and the histogram of answer statuses. Fails on any
// error or 5xx, on a rate far below the target, or on memory growth beyond the bounds.
// Run after `npm run build`: node test/faults/soak.mjs  (npm run soak)
import {
  Checks,
  cleanUp,
  freePort,
  histogram,
  logTail,
  memoryAfterGc,
  memoryOf,
  mib,
  prepareTokens,
  sleep,
  startLoad,
  startService,
  stopService,
  tempDataDir,
} from './lib.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const RATE = Number(process.env.SOAK_RATE ?? 150);
const WARMUP_SECONDS = Math.min(15, Math.max(5, Math.round(SECONDS / 10)));
/** Growth allowed between the warm-up and the end. */
const MAX_RSS_GROWTH = 64 * 1048576;
const MAX_HEAP_GROWTH = 16 * 1048576;

const checks = new Checks('soak');
const dataDir = tempDataDir('soak');
let service;
try {
  const port = await freePort();
  service = await startService({
    dataDir,
    port,
    // Memory is read after a full collection: V8 collects before writing a heap snapshot (deleted at once).
    // SOAK_NODE_OPTIONS: Node flags to compare (e.g. those `npm start` sets).
    env: { NODE_OPTIONS: `${process.env.SOAK_NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dataDir}`.trim() },
  });
  console.log(`soak: ${SECONDS} s at ${RATE} validations/s (warm-up ${WARMUP_SECONDS} s), service pid ${service.child.pid}, Node flags: ${process.env.SOAK_NODE_OPTIONS || 'none'}`);
  const tokens = await prepareTokens(service.base);
  const workers = Math.max(2, Math.ceil(RATE / 50));
  const load = startLoad(service.base, tokens, {
    workers,
    ratePerSecond: RATE,
    maxRequests: Math.ceil(RATE * (SECONDS + WARMUP_SECONDS) * 1.2),
  });
  await sleep(WARMUP_SECONDS * 1000);
  const start = await memoryAfterGc(service);
  const t0 = Date.now();
  const countAtStart = load.results.length;
  const samples = [start];
  while (Date.now() - t0 < SECONDS * 1000) {
    await sleep(Math.min(30_000, SECONDS * 1000 - (Date.now() - t0)));
    const m = await memoryOf(service);
    samples.push(m);
    console.log(
      `  t+${Math.round((Date.now() - t0) / 1000)} s: ${load.results.length - countAtStart} requests, RSS ${mib(m.rss)}, heap used ${mib(m.heapUsed)}`,
    );
  }
  const elapsed = (Date.now() - t0) / 1000;
  const results = await load.stop();
  const measured = results.slice(countAtStart);
  // Read as it is, then after a full collection: writing the heap snapshot that forces the collection
  // itself takes memory, which the process may keep (resident) for a while after.
  const endAsIs = await memoryOf(service);
  const end = await memoryAfterGc(service);
  const rate = measured.length / elapsed;
  const latencies = measured.map((r) => r.ms).sort((a, b) => a - b);
  const pct = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0);

  console.log(
    `requests: ${measured.length} in ${elapsed.toFixed(0)} s (${rate.toFixed(1)}/s); statuses ${JSON.stringify(histogram(measured))}`,
  );
  console.log(`latency ms: p50 ${pct(50)}, p99 ${pct(99)}, max ${Math.round(latencies.at(-1) ?? 0)}`);
  console.log(`memory at start: RSS ${mib(start.rss)}, heap used ${mib(start.heapUsed)} (of ${mib(start.heapTotal)})`);
  console.log(`memory at end:   RSS ${mib(end.rss)}, heap used ${mib(end.heapUsed)} (of ${mib(end.heapTotal)})`);
  const parts = (m) =>
    `RSS ${mib(m.rss)}: V8 heap ${mib(m.heapTotal)} committed (${mib(m.heapUsed)} used; young generation ${mib(m.newSpaceTotal)}, code ${mib(m.codeSpaceTotal)}), ` +
    `external ${mib(m.external)}, the rest (the binary, native libraries, stacks, malloc) ${mib(m.rss - m.heapTotal - m.external)}`;
  console.log(`memory at end, before the forced collection: ${parts(endAsIs)}`);
  console.log(`memory at end, after it:                     ${parts(end)}`);

  checks.check(
    measured.every((r) => !r.error),
    `no request failed (${measured.filter((r) => r.error).length} errors)`,
  );
  checks.check(
    measured.every((r) => [200, 401, 403].includes(r.status)),
    'every answer is 200, 401 or 403 (no 5xx, no 429)',
  );
  checks.check(rate >= RATE * 0.8, `the rate held (${rate.toFixed(1)}/s for ${RATE}/s asked)`);
  checks.check(end.rss - start.rss <= MAX_RSS_GROWTH, `RSS grew by ${mib(end.rss - start.rss)} (bound ${mib(MAX_RSS_GROWTH)})`);
  checks.check(
    end.heapUsed - start.heapUsed <= MAX_HEAP_GROWTH,
    `heap used grew by ${mib(end.heapUsed - start.heapUsed)} (bound ${mib(MAX_HEAP_GROWTH)})`,
  );
  checks.check(service.alive, 'the service is still up');
  await stopService(service);
} catch (err) {
  checks.check(false, `soak ran to the end: ${err instanceof Error ? err.stack : String(err)}${logTail(dataDir)}`);
} finally {
  await cleanUp(service, dataDir);
  process.exitCode = checks.close();
}

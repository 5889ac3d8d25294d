// Soak: SOAK_SECONDS (300 by default; CI runs 60) of validations at a steady
// SOAK_RATE per second (valid, invalid and insufficient-scope tokens in turn)
// against the built service. Reports the service's memory (RSS and V8 heap, external, the rest) after
// a warm-up and at the end, as they are (then after a full garbage collection), and the histogram of answer statuses. Fails on any
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
  // Memory is read as it is (a forced collection writes a heap snapshot, which itself takes memory
  // that the process keeps resident: it would be counted in every later reading). The heap's level
  // is the lowest reading of a window (right after a collection), at the start and at the end.
  const start = await memoryOf(service);
  const t0 = Date.now();
  const countAtStart = load.results.length;
  const samples = [{ at: 0, ...start }];
  let printed = 0;
  while (Date.now() - t0 < SECONDS * 1000) {
    await sleep(Math.min(5_000, SECONDS * 1000 - (Date.now() - t0)));
    const at = (Date.now() - t0) / 1000;
    const m = await memoryOf(service);
    samples.push({ at, ...m });
    if (at - printed >= 30 || at >= SECONDS) {
      printed = at;
      console.log(`  t+${Math.round(at)} s: ${load.results.length - countAtStart} requests, RSS ${mib(m.rss)}, heap used ${mib(m.heapUsed)}`);
    }
  }
  const elapsed = (Date.now() - t0) / 1000;
  const results = await load.stop();
  const measured = results.slice(countAtStart);
  const end = await memoryOf(service);
  const windowSeconds = Math.min(60, SECONDS / 3);
  const lowest = (xs) => Math.min(...xs.map((m) => m.heapUsed));
  const heapAtStart = lowest(samples.filter((m) => m.at <= windowSeconds));
  const heapAtEnd = lowest(samples.filter((m) => m.at >= elapsed - windowSeconds));
  // Then after a full collection (the heap snapshot's own memory is in this RSS).
  const endGc = await memoryAfterGc(service);
  const rate = measured.length / elapsed;
  const latencies = measured.map((r) => r.ms).sort((a, b) => a - b);
  const pct = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0);

  console.log(
    `requests: ${measured.length} in ${elapsed.toFixed(0)} s (${rate.toFixed(1)}/s); statuses ${JSON.stringify(histogram(measured))}`,
  );
  console.log(`latency ms: p50 ${pct(50)}, p99 ${pct(99)}, max ${Math.round(latencies.at(-1) ?? 0)}`);
  const parts = (m) =>
    `RSS ${mib(m.rss)}: V8 heap ${mib(m.heapTotal)} committed (${mib(m.heapUsed)} used; young generation ${mib(m.newSpaceTotal)}, code ${mib(m.codeSpaceTotal)}), ` +
    `external ${mib(m.external)}, the rest (the binary, native libraries, stacks, malloc) ${mib(m.rss - m.heapTotal - m.external)}`;
  console.log(`memory after the warm-up:  ${parts(start)}`);
  console.log(`memory after the soak:    ${parts(end)}`);
  console.log(`heap used, lowest of the first and of the last ${Math.round(windowSeconds)} s: ${mib(heapAtStart)} and ${mib(heapAtEnd)}`);
  console.log(`after a forced collection (a heap snapshot, whose own memory stays resident): ${parts(endGc)}`);

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
  checks.check(heapAtEnd - heapAtStart <= MAX_HEAP_GROWTH, `heap used grew by ${mib(heapAtEnd - heapAtStart)} (bound ${mib(MAX_HEAP_GROWTH)})`);
  checks.check(service.alive, 'the service is still up');
  await stopService(service);
} catch (err) {
  checks.check(false, `soak ran to the end: ${err instanceof Error ? err.stack : String(err)}${logTail(dataDir)}`);
} finally {
  await cleanUp(service, dataDir);
  process.exitCode = checks.close();
}

// A constant-arrival-rate load generator: request i is due at start + i / rate, whatever happened to
// the ones before it, and its latency is measured from that scheduled time, not from when it was
// actually sent. A request that had to wait for a free connection, or for the generator itself,
// counts that wait: queueing is measured, not hidden (no "coordinated omission", unlike a
// closed-loop tool such as autocannon, where a slow answer delays the next request).
//
// Raw node:http with keep-alive connections (a pool of `connections` sockets); requests beyond them
// wait in the agent's queue, their wait counted. The generator reports its own lag: how late after
// its scheduled time each request was handed to the HTTP client (the generator is the bottleneck
// when that is large).
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface SteadyRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface SteadyResult {
  targetRate: number;
  seconds: number;
  sent: number;
  answered: number;
  errors: number;
  /** Answers per second over the run. */
  rps: number;
  /** Latency from the scheduled time, in ms. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** How late requests were handed to the HTTP client, in ms (the generator's own lag). */
  lagP99: number;
  lagMax: number;
  statuses: Record<string, number>;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/**
 * Sends `rate` requests per second for `seconds` to `base` (http://host:port), each built by
 * `next(i)`, and waits for every answer (or `timeoutMs`).
 */
export async function steadyLoad(options: {
  base: string;
  rate: number;
  seconds: number;
  connections?: number;
  next: (i: number) => SteadyRequest;
  timeoutMs?: number;
}): Promise<SteadyResult> {
  const { rate, seconds } = options;
  const url = new URL(options.base);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections ?? 64, scheduling: 'lifo' });
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  const lags = new Float64Array(total);
  const statuses: Record<string, number> = {};
  let answered = 0;
  let errors = 0;
  let sent = 0;
  const timeoutMs = options.timeoutMs ?? 10_000;

  let allDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const settle = (): void => {
    if (answered + errors === total) allDone();
  };

  const start = performance.now() + 20;
  const fire = (i: number, scheduled: number): void => {
    const r = options.next(i);
    lags[i] = performance.now() - scheduled;
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: r.method,
        path: r.path,
        agent,
        headers: r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) },
        timeout: timeoutMs,
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          latencies[answered] = performance.now() - scheduled;
          answered += 1;
          const k = String(res.statusCode);
          statuses[k] = (statuses[k] ?? 0) + 1;
          settle();
        });
      },
    );
    req.on('error', () => {
      errors += 1;
      settle();
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (r.body !== undefined) req.end(r.body);
    else req.end();
  };

  // The scheduler: every tick, sends every request whose time has come (a tick late sends the
  // ones it missed at once, their lateness counted in their latency).
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / rate <= now) {
        fire(sent, start + (sent * 1000) / rate);
        sent += 1;
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    setTimeout(tick, 1);
  });
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, timeoutMs + 1000))]);
  agent.destroy();

  const lat = latencies.slice(0, answered).sort();
  const lag = lags.slice(0, sent).sort();
  return {
    targetRate: rate,
    seconds,
    sent,
    answered,
    errors,
    rps: Math.round(answered / seconds),
    p50: round2(quantile(lat, 0.5)),
    p90: round2(quantile(lat, 0.9)),
    p99: round2(quantile(lat, 0.99)),
    p999: round2(quantile(lat, 0.999)),
    max: round2(lat.length ? lat[lat.length - 1] : NaN),
    lagP99: round2(quantile(lag, 0.99)),
    lagMax: round2(lag.length ? lag[lag.length - 1] : NaN),
    statuses,
  };
}

import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The Prometheus registry of one app instance: HTTP counts and durations by route and status, plus process metrics. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly durations = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  private readonly validations = new Counter({
    name: 'hospiai_validate_answers_total',
    help: 'POST /api/mcp/validate answers handed to the HTTP server (each one audited first), by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly introspections = new Counter({
    name: 'hospiai_introspect_answers_total',
    help: 'POST /api/oauth/introspect answers handed to the HTTP server (each one audited first), by status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The series of each (method, route, status) and of each outcome, looked up once: prom-client
   * otherwise sorts and joins the labels on every update (three per validation).
   */
  private readonly series = new Map<string, { requests: { inc(): void }; durations: { observe(v: number): void } }>();
  private readonly outcomes = new Map<string, { inc(): void }>();

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let s = this.series.get(key);
    if (!s) {
      const labels = { method, route, status: String(status) };
      s = { requests: this.requests.labels(labels), durations: this.durations.labels(labels) };
      this.series.set(key, s);
    }
    s.requests.inc();
    s.durations.observe(seconds);
  }

  private readonly introspectStatuses = new Map<number, { inc(): void }>();

  introspectionAnswered(status: number): void {
    let c = this.introspectStatuses.get(status);
    if (!c) {
      c = this.introspections.labels({ status: String(status) });
      this.introspectStatuses.set(status, c);
    }
    c.inc();
  }

  validationAnswered(outcome: string): void {
    let c = this.outcomes.get(outcome);
    if (!c) {
      c = this.validations.labels({ outcome });
      this.outcomes.set(outcome, c);
    }
    c.inc();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

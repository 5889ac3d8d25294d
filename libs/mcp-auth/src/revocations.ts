/**
 * Following the service's revocation stream (`GET /api/mcp/revocations`,
 * Server-Sent Events) so that a cache drops a revoked token at once.
 */
import { HospiAIConfigError, type EnvLike } from './config.js';
import { SseParser } from './sse.js';
import type { FetchLike } from './types.js';

export const ENV_REVOCATIONS_URL = 'HOSPIAI_REVOCATIONS_URL';
export const ENV_CLIENT_ID = 'HOSPIAI_CLIENT_ID';
export const ENV_CLIENT_SECRET = 'HOSPIAI_CLIENT_SECRET';

export type FollowRevocationsOptions = {
  /**
   * URL of `GET /api/mcp/revocations`. Default: `HOSPIAI_REVOCATIONS_URL`, else the
   * validation URL with `/api/mcp/validate` replaced by `/api/mcp/revocations`.
   */
  url?: string;
  /** The MCP server's client id (from `POST /api/mcp/clients`). Default: `HOSPIAI_CLIENT_ID`. */
  clientId?: string;
  /** The MCP server's client secret. Default: `HOSPIAI_CLIENT_SECRET`. */
  clientSecret?: string;
  /** Waits between reconnections: full jitter over `min(maxMs, baseMs × 2^n)`. Default 500 ms / 30 s. */
  backoff?: { baseMs?: number; maxMs?: number };
  /**
   * A connection that brings no byte for this long is taken as dead and replaced
   * (the service sends a keep-alive comment every 15 s). Default 45 000 ms.
   */
  idleTimeoutMs?: number;
  /**
   * What validation does while the feed is not connected (before its first
   * connection and between a failure and the reconnection): `'bypass-cache'`
   * (default) ignores the cache and asks the service every time; `'refuse'`
   * refuses every token as `unavailable` (fail closed: 503).
   */
  onFeedDown?: 'bypass-cache' | 'refuse';
  /** Told of each event and state change, for logs and metrics. Never holds a secret or a token. */
  onEvent?: (event: RevocationFeedEvent) => void;
};

export type RevocationFeedEvent =
  | { type: 'connected'; lastEventId: string | undefined }
  | { type: 'revoked'; id: string | undefined; tokenIds: string[]; evicted: number }
  | { type: 'reset' }
  | { type: 'disconnected'; error: string; retryInMs: number };

/** A running subscription, from `HospiAIAuth.followRevocations()`. */
export interface RevocationFollower {
  /** True while the stream is open and live (after the service's `ready` event). */
  readonly connected: boolean;
  /** The id of the last event received: sent as `Last-Event-ID` on reconnection. */
  readonly lastEventId: string | undefined;
  /** Counters, for diagnostics. */
  readonly stats: { connections: number; events: number; evicted: number; failures: number };
  /** Resolves when the stream is live (at once if it is), or rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops following: closes the stream and cancels any reconnection. */
  close(): Promise<void>;
}

export type ResolvedFollowConfig = {
  url: string;
  clientId: string;
  clientSecret: string;
  backoffBaseMs: number;
  backoffMaxMs: number;
  idleTimeoutMs: number;
};

function fail(message: string): never {
  throw new HospiAIConfigError(`Invalid HospiAI revocation feed configuration: ${message}`);
}

function checkMs(value: number | undefined, name: string, def: number, min: number, max: number): number {
  const v = value ?? def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return v;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function resolveFollowConfig(options: FollowRevocationsOptions, env: EnvLike, validationUrl: string): ResolvedFollowConfig {
  let url = nonEmpty(options.url) ?? nonEmpty(env[ENV_REVOCATIONS_URL]);
  if (url === undefined) {
    const v = new URL(validationUrl);
    if (!v.pathname.endsWith('/mcp/validate')) fail(`no revocation URL: pass url or set ${ENV_REVOCATIONS_URL} (for example https://hospiai.example/api/mcp/revocations)`);
    v.pathname = v.pathname.replace(/\/mcp\/validate$/, '/mcp/revocations');
    v.search = '';
    url = v.href;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(`the revocation URL must be an absolute http(s) URL (got ${JSON.stringify(url)})`);
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.username || parsed.password) {
    fail(`the revocation URL must be an http(s) URL without credentials (got ${JSON.stringify(url)})`);
  }
  const clientId = nonEmpty(options.clientId) ?? nonEmpty(env[ENV_CLIENT_ID]);
  const clientSecret = nonEmpty(options.clientSecret) ?? nonEmpty(env[ENV_CLIENT_SECRET]);
  if (!clientId) fail(`no client id: pass clientId or set ${ENV_CLIENT_ID} (an admin registers the MCP server with POST /api/mcp/clients)`);
  if (!clientSecret) fail(`no client secret: pass clientSecret or set ${ENV_CLIENT_SECRET}`);
  const backoffBaseMs = checkMs(options.backoff?.baseMs, 'backoff.baseMs', 500, 1, 600_000);
  const backoffMaxMs = checkMs(options.backoff?.maxMs, 'backoff.maxMs', 30_000, 1, 3_600_000);
  return {
    url: parsed.href,
    clientId,
    clientSecret,
    backoffBaseMs,
    backoffMaxMs: Math.max(backoffBaseMs, backoffMaxMs),
    idleTimeoutMs: checkMs(options.idleTimeoutMs, 'idleTimeoutMs', 45_000, 10, 3_600_000),
  };
}

/** What the follower does to the cache. */
export type CacheControl = { evictToken(tokenId: string): number; clear(): void };

function basicAuthorization(id: string, secret: string): string {
  // RFC 6749 §2.3.1: each part form-urlencoded before Basic encoding.
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`, 'utf8').toString('base64')}`;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? `${error.message} (${cause.code})` : error.message;
}

/**
 * Keeps one `text/event-stream` open; evicts each revoked token id from the
 * cache; on any failure waits (backoff) and reconnects with `Last-Event-ID`,
 * so that the service replays what was missed. While it is disconnected the
 * cache keeps its usual lifetime (`ttlMs`): no answer outlives that.
 */
export class RevocationFeed implements RevocationFollower {
  connected = false;
  lastEventId: string | undefined;
  readonly stats = { connections: 0, events: 0, evicted: 0, failures: 0 };
  private closed = false;
  private controller: AbortController | undefined;
  private wake: (() => void) | undefined;
  private readyWaiters: Array<() => void> = [];
  private serverRetryMs: number | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly config: ResolvedFollowConfig,
    private readonly cache: CacheControl,
    private readonly fetchImpl: FetchLike,
    private readonly random: () => number,
    private readonly onEvent: ((e: RevocationFeedEvent) => void) | undefined,
  ) {
    this.loop = this.run();
  }

  ready(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('the revocation feed is closed'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== done);
        reject(new Error(`the revocation feed is not connected after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.push(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    this.controller?.abort();
    this.wake?.();
    await this.loop;
  }

  private emit(e: RevocationFeedEvent): void {
    try {
      this.onEvent?.(e);
    } catch {
      // A listener's error must not stop the feed.
    }
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      let reason: string;
      try {
        reason = await this.connectOnce(() => {
          attempt = 0;
        });
      } catch (error) {
        reason = this.closed ? 'closed' : describe(error);
      }
      const wasConnected = this.connected;
      this.connected = false;
      if (this.closed) break;
      this.stats.failures += 1;
      const base = Math.max(this.config.backoffBaseMs, this.serverRetryMs ?? 0);
      const bound = Math.min(this.config.backoffMaxMs, base * 2 ** Math.min(attempt, 20));
      // Full jitter, but never an immediate retry loop.
      const delay = Math.max(Math.floor(this.random() * bound), Math.min(base, 50));
      attempt += 1;
      this.emit({ type: 'disconnected', error: wasConnected ? `stream lost: ${reason}` : reason, retryInMs: delay });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** One connection, until it ends; returns why it ended. */
  private async connectOnce(onLive: () => void): Promise<string> {
    const controller = new AbortController();
    this.controller = controller;
    let idle: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const arm = (): void => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.config.idleTimeoutMs);
    };
    arm();
    try {
      const headers: Record<string, string> = {
        authorization: basicAuthorization(this.config.clientId, this.config.clientSecret),
        accept: 'text/event-stream',
        'cache-control': 'no-store',
      };
      if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
      const response = await this.fetchImpl(this.config.url, { method: 'GET', headers, signal: controller.signal, redirect: 'error' });
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        return response.status === 401 ? 'HTTP 401: the client id or secret was refused' : `HTTP ${response.status}`;
      }
      if (!(response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream')) {
        await response.body?.cancel().catch(() => undefined);
        return `not an event stream (${response.headers.get('content-type') ?? 'no content type'})`;
      }
      if (!response.body) return 'no body';
      this.stats.connections += 1;
      const parser = new SseParser(
        {
          onRetry: (ms) => {
            this.serverRetryMs = ms;
          },
          onMessage: (m) => {
            this.lastEventId = m.lastEventId;
            this.handle(m.event, m.data, m.lastEventId, onLive);
          },
        },
        this.lastEventId,
      );
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'the service ended the stream';
        arm();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch (error) {
      if (timedOut) return `no data for ${this.config.idleTimeoutMs} ms`;
      throw error;
    } finally {
      if (idle) clearTimeout(idle);
      controller.abort();
    }
  }

  private handle(event: string, data: string, id: string | undefined, onLive: () => void): void {
    this.stats.events += 1;
    if (event === 'revoked') {
      let tokenIds: string[] = [];
      try {
        const body = JSON.parse(data) as { tokenIds?: unknown };
        if (Array.isArray(body.tokenIds)) tokenIds = body.tokenIds.filter((x): x is string => typeof x === 'string');
      } catch {
        return;
      }
      let evicted = 0;
      for (const tokenId of tokenIds) evicted += this.cache.evictToken(tokenId);
      this.stats.evicted += evicted;
      this.emit({ type: 'revoked', id, tokenIds, evicted });
    } else if (event === 'reset') {
      this.cache.clear();
      this.emit({ type: 'reset' });
    } else if (event === 'ready') {
      this.connected = true;
      onLive();
      for (const w of this.readyWaiters.splice(0)) w();
      this.emit({ type: 'connected', lastEventId: id });
    }
  }
}

import { ValidationCache, tokenCacheKey, type CacheEntry, type CacheSnapshot } from './cache.js';
import { HospiAIConfigError, processEnv, resolveConfig, type EnvLike, type ResolvedConfig } from './config.js';
import { parseRetryAfter, parseValidateAnswer, readFailureBody } from './protocol.js';
import { RevocationFeed, resolveFollowConfig, type FollowRevocationsOptions, type RevocationFollower } from './revocations.js';
import type {
  FailureReason,
  FetchLike,
  HospiAIAuthOptions,
  ValidateAnswer,
  ValidateFailure,
  ValidateOptions,
  ValidateResult,
} from './types.js';

/** Statuses worth another attempt: the service (or a proxy in front of it) is briefly unable to answer. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** Longest token sent to the service; a JWT of the service is a few hundred bytes. */
const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750 `b64token`: what may follow `Bearer ` in an Authorization header. */
const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;

const MESSAGES = {
  invalid: 'Token invalide',
  expired: 'Token expiré',
  revoked: 'Token révoqué ou inexistant',
  insufficientScope: 'Scope insuffisant',
  unavailable: 'Service indisponible',
} as const;

type Attempt = { done: true; result: ValidateResult } | { done: false; failure: ValidateFailure };

function unavailable(detail: string, extra: Partial<ValidateFailure> = {}): ValidateFailure {
  return { ok: false, reason: 'unavailable', message: MESSAGES.unavailable, detail, ...extra };
}

function normaliseScopes(scopes: readonly string[] | undefined): string[] {
  if (!scopes || scopes.length === 0) return [];
  return [...new Set(scopes)].sort();
}

function missingScopes(required: readonly string[], held: readonly string[]): boolean {
  if (required.length === 0) return false;
  const set = new Set(held);
  return !required.every((s) => set.has(s));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (!cause || typeof cause !== 'object') return error.message;
  const code = 'code' in cause ? (cause as { code: unknown }).code : undefined;
  if (typeof code === 'string') return `${error.message} (${code})`;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

/** The default `onFailure`: one line on the standard error, never the token. */
export function logFailure(reason: FailureReason, detail: string): void {
  console.warn(`[@hospiai/mcp-auth] request refused: ${reason}${detail ? ` (${detail})` : ''}`);
}

function failureDetail(result: ValidateFailure): string {
  if (result.reason === 'insufficient_scope') {
    return `requires ${(result.requiredScopes ?? []).join(' ') || '?'}, holds ${(result.scopes ?? []).join(' ') || 'none'}`;
  }
  return result.detail ?? result.message;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Client of the HospiAI token service: `validate(token)` asks
 * `POST /api/mcp/validate` whether a token is good, with a timeout per
 * attempt, bounded retries with backoff, and an optional cache.
 */
export class HospiAIAuth {
  /** The configuration in force, after defaults and environment. */
  readonly config: Readonly<ResolvedConfig>;
  private readonly fetchImpl: FetchLike;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly cache: ValidationCache | undefined;
  /** Calls under way, by token and scopes, with the cache generation they started in. */
  private readonly inFlight = new Map<string, { generation: number; promise: Promise<ValidateResult> }>();
  private readonly env: EnvLike;
  private feed: RevocationFeed | undefined;
  private feedDown: 'bypass-cache' | 'refuse' = 'bypass-cache';
  private readonly onFailure: (reason: FailureReason, detail: string) => void;

  /**
   * Settings not given in `options` come from `env` (by default `process.env`):
   * `HOSPIAI_VALIDATION_URL` and `HOSPIAI_TIMEOUT` (seconds).
   * Throws `HospiAIConfigError` when the URL is missing or invalid, or a number is out of range.
   */
  constructor(options: HospiAIAuthOptions = {}, env: EnvLike = processEnv()) {
    this.config = Object.freeze(resolveConfig(options, env));
    this.env = env;
    const fetchImpl = options.fetch ?? (typeof fetch === 'function' ? (fetch as FetchLike) : undefined);
    if (!fetchImpl) throw new TypeError('HospiAIAuth needs a fetch implementation: pass options.fetch (Node.js 18+ has one built in)');
    this.fetchImpl = fetchImpl;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.cache = this.config.cache ? new ValidationCache(this.config.cache.maxEntries, this.now) : undefined;
    this.onFailure = options.onFailure ?? logFailure;
  }

  /**
   * Tells `onFailure` why a request was refused (the glue calls it for refusals
   * of its own, such as a session named by another token). Never give it a token.
   */
  reportFailure(reason: FailureReason, detail: string): void {
    try {
      this.onFailure(reason, detail);
    } catch {
      // A failing log hook must not turn a refusal into a crash.
    }
  }

  /** A client configured from an environment (`HOSPIAI_VALIDATION_URL`, `HOSPIAI_TIMEOUT`), options winning. */
  static fromEnv(env: EnvLike = processEnv(), options: HospiAIAuthOptions = {}): HospiAIAuth {
    return new HospiAIAuth(options, env);
  }

  /**
   * Validates a token (the part after `Bearer `). Never throws for a bad token
   * or an unreachable service: the result says which.
   */
  async validate(token: string, options: ValidateOptions = {}): Promise<ValidateResult> {
    const result = await this.validateOnce(token, options);
    if (!result.ok) this.reportFailure(result.reason, failureDetail(result));
    return result;
  }

  private async validateOnce(token: string, options: ValidateOptions): Promise<ValidateResult> {
    const required = normaliseScopes(options.requiredScopes);
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH || !TOKEN_SYNTAX.test(token)) {
      return { ok: false, reason: 'invalid', message: MESSAGES.invalid };
    }

    // While the revocation feed is down, a cached answer may hide a revocation.
    const feedDown = this.feed !== undefined && !this.feed.connected;
    if (feedDown && this.feedDown === 'refuse') {
      return unavailable('the revocation feed is not connected (onFeedDown: refuse)');
    }
    const cache = this.cache;
    if (!cache || feedDown) return this.callService(token, required);

    const key = tokenCacheKey(token);
    const entry = cache.get(key);
    if (entry) return this.answerFromCache(entry, required);

    const flightKey = `${key} ${required.join(' ')}`;
    const generation = cache.generation;
    // A call that started before an eviction may carry the answer from before a revocation: not joined.
    const pending = this.inFlight.get(flightKey);
    if (pending && pending.generation === generation) return pending.promise;

    const flight = {
      generation,
      promise: this.callService(token, required)
        .then((result) => {
          if (cache.generation === generation) this.store(cache, key, result);
          return result;
        })
        .finally(() => {
          if (this.inFlight.get(flightKey) === flight) this.inFlight.delete(flightKey);
        }),
    };
    this.inFlight.set(flightKey, flight);
    return flight.promise;
  }

  /** Drops the cached answers for a token id (`jti`), as a revocation should; returns how many. */
  evictToken(tokenId: string): number {
    return this.cache ? this.cache.evictToken(tokenId) : 0;
  }

  /** Drops the cached answers for every token of a user; returns how many. */
  evictUser(userId: string): number {
    return this.cache ? this.cache.evictUser(userId) : 0;
  }

  /** Empties the cache. */
  clear(): void {
    this.cache?.clear();
  }

  /**
   * Follows the service's revocation stream (`GET /api/mcp/revocations`) with
   * the MCP server's client credentials, and evicts each revoked token from the
   * cache the moment the service announces it. Reconnects by itself (backoff,
   * `Last-Event-ID`). Until it is connected, and whenever it is not,
   * `onFeedDown` decides: `'bypass-cache'` (default) asks the service on every
   * validation, `'refuse'` refuses every token as `unavailable`. Settings not given come from `HOSPIAI_CLIENT_ID`,
   * `HOSPIAI_CLIENT_SECRET` and `HOSPIAI_REVOCATIONS_URL` (default: next to the
   * validation URL). Throws `HospiAIConfigError` without credentials.
   */
  followRevocations(options: FollowRevocationsOptions = {}): RevocationFollower {
    if (this.feed) throw new Error('this HospiAIAuth already follows revocations: close() it first');
    const config = resolveFollowConfig(options, this.env, this.config.validationUrl);
    const onFeedDown = options.onFeedDown ?? 'bypass-cache';
    if (onFeedDown !== 'bypass-cache' && onFeedDown !== 'refuse') {
      throw new HospiAIConfigError(`Invalid HospiAI revocation feed configuration: onFeedDown must be 'bypass-cache' or 'refuse' (got ${JSON.stringify(onFeedDown)})`);
    }
    this.feedDown = onFeedDown;
    this.feed = new RevocationFeed(
      config,
      { evictToken: (id) => this.evictToken(id), clear: () => this.clear() },
      this.fetchImpl,
      this.random,
      options.onEvent,
    );
    return this.feed;
  }

  /** Stops following revocations (if it does); the client stays usable. */
  async close(): Promise<void> {
    const feed = this.feed;
    this.feed = undefined;
    await feed?.close();
  }

  /** For diagnostics and tests: the cache's entries (keyed by token hash) and counters; `undefined` without a cache. */
  inspectCache(): CacheSnapshot | undefined {
    return this.cache?.snapshot();
  }

  private answerFromCache(entry: CacheEntry, required: string[]): ValidateResult {
    if (entry.kind === 'failure') return { ...entry.failure };
    if (missingScopes(required, entry.answer.scopes)) {
      return {
        ok: false,
        reason: 'insufficient_scope',
        status: 403,
        message: MESSAGES.insufficientScope,
        requiredScopes: [...required],
        scopes: [...entry.answer.scopes],
      };
    }
    return { ok: true, value: entry.answer };
  }

  private store(cache: ValidationCache, key: string, result: ValidateResult): void {
    const now = this.now();
    const settings = this.config.cache;
    if (!settings) return;
    if (result.ok) {
      const answer = result.value;
      const lifetime = Math.min(settings.ttlMs, answer.exp * 1000 - now);
      if (lifetime > 0) {
        cache.set(key, { kind: 'valid', answer, expiresAt: now + lifetime, tokenId: answer.token.id, userId: answer.user.id });
      }
      return;
    }
    // Only the service's own word that a token is bad is kept, and briefly:
    // an outage is never cached, and a 403 depends on the scopes asked for.
    if (result.status === 401 && settings.failureTtlMs > 0) {
      cache.set(key, { kind: 'failure', failure: deepFreeze({ ...result }), expiresAt: now + settings.failureTtlMs });
    }
  }

  private async callService(token: string, required: string[]): Promise<ValidateResult> {
    const { retries } = this.config;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(token, required);
      if (outcome.done) return outcome.result;
      if (attempt >= retries) return outcome.failure;
      await this.sleep(this.delayBeforeRetry(attempt, outcome.failure.retryAfterMs));
    }
  }

  /** Full jitter (a random wait up to the exponential bound), or the server's Retry-After, capped. */
  private delayBeforeRetry(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), this.config.maxRetryAfterMs);
    const bound = Math.min(this.config.backoffMaxMs, this.config.backoffBaseMs * 2 ** attempt);
    return Math.floor(this.random() * bound);
  }

  private async attempt(token: string, required: string[]): Promise<Attempt> {
    const { validationUrl, timeoutMs } = this.config;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let status: number;
    let text: string;
    let retryAfterMs: number | undefined;
    try {
      const response = await this.fetchImpl(validationUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify({
          ...(required.length > 0 ? { requiredScopes: required } : {}),
          ...(this.config.resource !== undefined ? { resource: this.config.resource } : {}),
        }),
        signal: controller.signal,
        redirect: 'error',
      });
      status = response.status;
      retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.now());
      text = await response.text();
    } catch (error) {
      const detail = controller.signal.aborted ? `no answer within ${timeoutMs} ms` : `request failed: ${describeError(error)}`;
      return { done: false, failure: unavailable(detail) };
    } finally {
      clearTimeout(timer);
    }

    if (status === 200) {
      const answer = parseValidateAnswer(text);
      if (!answer) return { done: true, result: unavailable('unreadable 200 answer', { status }) };
      return { done: true, result: { ok: true, value: deepFreeze(answer) as ValidateAnswer } };
    }

    const body = readFailureBody(text);
    if (status === 401) {
      const reason = body.code === 'token_expired' ? 'expired' : body.code === 'token_revoked' ? 'revoked' : 'invalid';
      return { done: true, result: { ok: false, reason, status, message: body.error ?? MESSAGES[reason] } };
    }
    if (status === 403) {
      return {
        done: true,
        result: {
          ok: false,
          reason: 'insufficient_scope',
          status,
          message: body.error ?? MESSAGES.insufficientScope,
          requiredScopes: body.requiredScopes ?? [...required],
          scopes: body.scopes ?? [],
        },
      };
    }
    const failure = unavailable(`HTTP ${status}${body.error ? `: ${body.error}` : ''}`, {
      status,
      ...(body.error ? { message: body.error } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
    return RETRYABLE_STATUSES.has(status) ? { done: false, failure } : { done: true, result: failure };
  }
}

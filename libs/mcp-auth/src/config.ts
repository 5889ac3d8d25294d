import type { CacheOptions, HospiAIAuthOptions } from './types.js';

/** An environment to read: `process.env` or any plain record. */
export type EnvLike = Readonly<Record<string, string | undefined>>;

export const ENV_VALIDATION_URL = 'HOSPIAI_VALIDATION_URL';
export const ENV_TIMEOUT = 'HOSPIAI_TIMEOUT';
export const ENV_RESOURCE = 'HOSPIAI_RESOURCE';

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * The canonical form of a resource URI as the HospiAI service stores it, or undefined: an absolute
 * https URL (http only on loopback), without credentials or fragment; scheme and host in lower
 * case, default port left out, no trailing slash unless the path is just "/".
 */
export function canonicalResourceUri(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) return undefined;
  if (url.username || url.password || url.hash || uri.includes('#')) return undefined;
  if (url.pathname.length > 1 && url.pathname.endsWith('/')) url.pathname = url.pathname.replace(/\/+$/, '') || '/';
  return url.href;
}

export const DEFAULTS = {
  timeoutMs: 10_000,
  retries: 2,
  backoffBaseMs: 100,
  backoffMaxMs: 2_000,
  maxRetryAfterMs: 5_000,
  cache: { maxEntries: 1_000, ttlMs: 30_000, failureTtlMs: 1_500 },
} as const;

/** Thrown when the client is given a configuration it cannot work with. */
export class HospiAIConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HospiAIConfigError';
  }
}

export type ResolvedCacheConfig = Required<CacheOptions>;

export type ResolvedConfig = {
  validationUrl: string;
  /** This server's resource URI, sent as `resource` to validate; undefined: none. */
  resource: string | undefined;
  timeoutMs: number;
  retries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxRetryAfterMs: number;
  cache: ResolvedCacheConfig | false;
};

/** The process environment, or an empty one where there is no `process` (edge runtimes). */
export function processEnv(): EnvLike {
  return typeof process === 'undefined' ? {} : process.env;
}

function fail(message: string): never {
  throw new HospiAIConfigError(`Invalid HospiAI client configuration: ${message}`);
}

function parseUrl(value: string, source: string): string {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(`${source} must be an absolute http(s) URL such as https://hospiai.example/api/mcp/validate (got ${JSON.stringify(value)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail(`${source} must use http or https (got ${JSON.stringify(value)})`);
  }
  if (url.username || url.password) {
    fail(`${source} must not carry credentials`);
  }
  return url.href;
}

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function parseTimeoutSeconds(value: string): number {
  const text = value.trim();
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 300) {
    fail(`${ENV_TIMEOUT} must be a number of seconds greater than 0 and at most 300, such as 10 or 2.5 (got ${JSON.stringify(value)})`);
  }
  return Math.max(1, Math.round(seconds * 1000));
}

function resolveCache(cache: CacheOptions | false | undefined): ResolvedCacheConfig | false {
  if (cache === false) return false;
  const c = cache ?? {};
  return {
    maxEntries: checkInteger(c.maxEntries ?? DEFAULTS.cache.maxEntries, 'cache.maxEntries', 1, 10_000_000),
    ttlMs: checkInteger(c.ttlMs ?? DEFAULTS.cache.ttlMs, 'cache.ttlMs', 1, 24 * 3600 * 1000),
    failureTtlMs: checkInteger(c.failureTtlMs ?? DEFAULTS.cache.failureTtlMs, 'cache.failureTtlMs', 0, 60_000),
  };
}

/**
 * Options win over the environment; the environment wins over the defaults.
 * Throws `HospiAIConfigError` with a message naming the setting at fault.
 */
export function resolveConfig(options: HospiAIAuthOptions, env: EnvLike): ResolvedConfig {
  let validationUrl: string;
  if (options.validationUrl !== undefined) {
    validationUrl = parseUrl(options.validationUrl, 'validationUrl');
  } else {
    const fromEnv = env[ENV_VALIDATION_URL];
    if (fromEnv === undefined || fromEnv.trim() === '') {
      fail(`no validation URL: pass validationUrl or set ${ENV_VALIDATION_URL} (for example https://hospiai.example/api/mcp/validate)`);
    }
    validationUrl = parseUrl(fromEnv, ENV_VALIDATION_URL);
  }

  let timeoutMs: number;
  if (options.timeoutMs !== undefined) {
    timeoutMs = checkInteger(options.timeoutMs, 'timeoutMs', 1, 300_000);
  } else {
    const fromEnv = env[ENV_TIMEOUT];
    timeoutMs = fromEnv === undefined || fromEnv.trim() === '' ? DEFAULTS.timeoutMs : parseTimeoutSeconds(fromEnv);
  }

  const retries = checkInteger(options.retries ?? DEFAULTS.retries, 'retries', 0, 10);
  const backoffBaseMs = checkInteger(options.backoff?.baseMs ?? DEFAULTS.backoffBaseMs, 'backoff.baseMs', 0, 60_000);
  const backoffMaxMs = checkInteger(options.backoff?.maxMs ?? DEFAULTS.backoffMaxMs, 'backoff.maxMs', 0, 60_000);
  const maxRetryAfterMs = checkInteger(options.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs, 'maxRetryAfterMs', 0, 300_000);

  const resourceGiven = options.resource ?? (env[ENV_RESOURCE]?.trim() ? env[ENV_RESOURCE] : undefined);
  const resource = resourceGiven === undefined ? undefined : canonicalResourceUri(resourceGiven);
  if (resourceGiven !== undefined && resource === undefined) {
    fail(`${options.resource !== undefined ? 'resource' : ENV_RESOURCE} must be an absolute https URL (http only on loopback) without fragment or credentials (got ${JSON.stringify(resourceGiven)})`);
  }

  return {
    validationUrl,
    resource,
    timeoutMs,
    retries,
    backoffBaseMs,
    backoffMaxMs: Math.max(backoffMaxMs, backoffBaseMs),
    maxRetryAfterMs,
    cache: resolveCache(options.cache),
  };
}

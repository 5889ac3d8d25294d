import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import type { AppConfig } from '../config/config.js';

/** Names of fields whose values may be credentials: replaced by CENSOR wherever a log line holds them. */
export const CREDENTIAL_FIELDS: ReadonlySet<string> = new Set(['password', 'token', 'accessToken', 'secret', 'authorization', 'cookie']);
export const CENSOR = '[redacted]';
/**
 * How deep into a log line credential fields are looked for: as deep as pino writes (its
 * `depthLimit`, 5, below each field of the line; deeper objects are written "[Object]").
 */
const MAX_REDACT_DEPTH = 6;

/**
 * The line itself (whatever object was logged, an error apart), a plain object or an array: what
 * JSON writes key by key. Within the line, class instances (an error, a date, a request, a socket)
 * are left as they are, to their serializer (errors: it leaves credential fields out) or to JSON:
 * copying one would lose its prototype, and walking one can lead through a whole server.
 */
function isWalkable(value: unknown, depth: number): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || value instanceof Error) return false;
  if (depth === 0 || Array.isArray(value)) return true;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The value with every CREDENTIAL_FIELDS field replaced by CENSOR, MAX_REDACT_DEPTH levels down.
 * Objects are copied only along the way to a replaced value: the caller's are never changed, and
 * a line with nothing to hide (one per request) costs one look at each of its keys.
 *
 * Done here rather than with pino's `redact` paths: they parse each path on every line, the
 * request line included, which made a route that does nothing about a sixth slower
 * (docs/journal/performance-log.md).
 */
export function redactCredentials<T>(value: T, depth = 0): T {
  return redact(value, depth, false);
}

/**
 * A log line as written: its credential fields replaced (redactCredentials), and an error in any
 * of its fields but `err`, which has its serializer, serialized the same way: in one look at each
 * of the line's keys.
 */
function formatLine(line: Record<string, unknown>): Record<string, unknown> {
  return redact(line, 0, true);
}

function redact<T>(value: T, depth: number, serializeErrors: boolean): T {
  if (!isWalkable(value, depth) || depth > MAX_REDACT_DEPTH) return value;
  let out: Record<string, unknown> | unknown[] = value;
  for (const key of Object.keys(value)) {
    const inner = value[key];
    const replaced =
      CREDENTIAL_FIELDS.has(key) && inner !== undefined && inner !== null
        ? CENSOR
        : serializeErrors && key !== 'err' && inner instanceof Error
          ? redact(serializeError(inner), depth + 1, false)
          : redact(inner, depth + 1, false);
    if (replaced !== inner) {
      if (out === value) out = Array.isArray(value) ? [...(value as unknown[])] : { ...value };
      (out as Record<string, unknown>)[key] = replaced;
    }
  }
  return out as T;
}

/**
 * Fields of an error that may hold the data of a request: a query's text and its parameters (a
 * password hash, an email), PostgreSQL's detail ("Failing row contains (…)", "Key (email)=(…)")
 * and the statement it points at; and CREDENTIAL_FIELDS, which the redaction of the line leaves
 * to this serializer. TypeORM's QueryFailedError copies the driver error's fields onto itself, so
 * they are looked for at every level.
 */
const UNSAFE_ERROR_FIELDS: ReadonlySet<string> = new Set([
  'query',
  'parameters',
  'params',
  'values',
  'sql',
  'detail',
  'where',
  'internalQuery',
  ...CREDENTIAL_FIELDS,
]);
const MAX_ERROR_DEPTH = 5;

function isErrorLike(value: unknown): value is Error {
  return (
    value instanceof Error || (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string')
  );
}

/**
 * An error as it may be logged: its type, message, stack and code, and its other plain fields
 * (numbers, strings, booleans: a SQLSTATE, a constraint, a table, a status code), but none of
 * UNSAFE_ERROR_FIELDS and no object or array field; nested errors (driverError, cause, the errors of
 * an AggregateError) are serialized the same way.
 */
export function serializeError(err: unknown, depth = 0): unknown {
  if (!isErrorLike(err)) return err;
  const source = err as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {
    type: typeof source.constructor === 'function' && source.constructor !== Object ? source.constructor.name : source.name,
    message: err.message,
    stack: err.stack,
  };
  for (const key of Object.keys(source)) {
    if (key in out || UNSAFE_ERROR_FIELDS.has(key)) continue;
    const value = source[key];
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
    else if (depth < MAX_ERROR_DEPTH && isErrorLike(value)) out[key] = serializeError(value, depth + 1);
  }
  // `cause` is often not enumerable.
  if (!('cause' in out) && isErrorLike(source.cause) && depth < MAX_ERROR_DEPTH) out.cause = serializeError(source.cause, depth + 1);
  if (Array.isArray(source.errors) && depth < MAX_ERROR_DEPTH)
    out.errors = source.errors.filter(isErrorLike).map((e) => serializeError(e, depth + 1));
  return out;
}

export function createPino(config: Pick<AppConfig, 'logLevel'>, destination?: DestinationStream): Pino {
  const log = pino(
    {
      level: config.logLevel,
      base: { service: 'hospiai' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Fastify keeps these serializers for its own loggers (they take precedence over its defaults).
      serializers: { err: serializeError },
      // Credentials are replaced, and errors serialized, in each line's fields (the base bindings have none).
      formatters: { level: (label) => ({ level: label }), log: formatLine },
    },
    destination,
  );
  // And in a child logger's bindings (Fastify makes one per request): pino applies no formatter
  // to them. Children inherit this method, so their own children are covered too.
  const child = log.child;
  log.child = function (this: Pino, bindings: Record<string, unknown>, options?: Parameters<Pino['child']>[1]) {
    return child.call(this, redactCredentials(bindings), options);
  } as Pino['child'];
  return log;
}

/** Sends Nest's own log lines to pino, as structured JSON with their context. */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, params: unknown[]): void {
    const context = params.length > 0 && typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    const text = params.find((p): p is string => typeof p === 'string');
    if (message instanceof Error) {
      this.pino[level]({ context, err: message }, text ?? message.message);
    } else if (message && typeof message === 'object') {
      this.pino[level]({ context, ...(message as object) }, text);
    } else {
      // Nest passes a stack trace as the second argument of error(): keep it as a field.
      const stack = level === 'error' ? text : undefined;
      this.pino[level]({ context, ...(stack ? { stack } : {}) }, String(message));
    }
  }
}

import { HttpException } from '@nestjs/common';
import { isDatabaseUnavailable, sqlStateOf } from '../database/db-errors.js';
import { AppError, ErrorCode } from './app-error.js';

export interface ErrorAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  /** Worth an error-level log line (5xx other than a known outage). */
  unexpected: boolean;
}

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: ErrorCode.ValidationFailed,
  401: ErrorCode.Unauthorized,
  403: ErrorCode.Forbidden,
  404: ErrorCode.NotFound,
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
  429: ErrorCode.TooManyRequests,
  503: ErrorCode.ServiceUnavailable,
};

function messageOf(response: unknown, fallback: string): string {
  if (typeof response === 'string') return response;
  if (response && typeof response === 'object') {
    const m = (response as { message?: unknown }).message;
    if (typeof m === 'string') return m;
    if (Array.isArray(m)) return m.filter((x) => typeof x === 'string').join('; ');
  }
  return fallback;
}

/** PostgreSQL's character_not_in_repertoire (a NUL in text) and untranslatable_character. */
function isUnstorableText(err: unknown): boolean {
  const code = sqlStateOf(err);
  return code === '22021' || code === '22P05';
}

/** PostgreSQL's string_data_right_truncation: a value longer than its column. */
function isTooLong(err: unknown): boolean {
  return sqlStateOf(err) === '22001';
}

/**
 * Turns anything thrown while serving a request into the one error shape of
 * the API: `{error, code, requestId, ...}`. Never a stack trace, never the
 * text of an unexpected error.
 */
export function describeError(err: unknown, requestId: string): ErrorAnswer {
  if (err instanceof AppError) {
    return {
      status: err.status,
      body: { error: err.message, code: err.code, requestId, ...err.extra },
      headers: err.headers,
      unexpected: false,
    };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 400 && /JSON/.test(err.message)) {
      return { status, body: { error: 'The request body is not valid JSON', code: ErrorCode.InvalidJson, requestId }, headers: {}, unexpected: false };
    }
    const code = CODE_BY_STATUS[status] ?? (status >= 500 ? ErrorCode.Internal : 'error');
    const message = status >= 500 ? 'Internal server error' : messageOf(err.getResponse(), err.message);
    return { status, body: { error: message, code, requestId }, headers: {}, unexpected: status >= 500 };
  }
  if (isUnstorableText(err)) {
    // Text PostgreSQL cannot store (a NUL that reached a query some other way): the request's fault, not the server's.
    return { status: 400, body: { error: 'The request holds characters that cannot be stored', code: ErrorCode.ValidationFailed, requestId }, headers: {}, unexpected: false };
  }
  if (isTooLong(err)) {
    // A value longer than its column that validation let through: the request's fault, not the server's.
    return { status: 400, body: { error: 'The request holds a value too long to be stored', code: ErrorCode.ValidationFailed, requestId }, headers: {}, unexpected: false };
  }
  if (isDatabaseUnavailable(err)) {
    return {
      status: 503,
      body: { error: 'Service indisponible', code: ErrorCode.ServiceUnavailable, requestId },
      headers: { 'Retry-After': '5' },
      unexpected: false,
    };
  }
  // Errors raised by Fastify itself before routing (body parsing, size limits, media type).
  const o = err as { statusCode?: unknown; code?: unknown };
  if (typeof o?.statusCode === 'number' && o.statusCode >= 400 && o.statusCode < 500) {
    const status = o.statusCode;
    const fastifyCode = typeof o.code === 'string' ? o.code : '';
    if (status === 400 && (err instanceof SyntaxError || fastifyCode.includes('JSON'))) {
      return {
        status,
        body: { error: 'The request body is not valid JSON', code: ErrorCode.InvalidJson, requestId },
        headers: {},
        unexpected: false,
      };
    }
    if (fastifyCode === 'FST_ERR_BODY_TOO_DEEP') {
      return { status, body: { error: 'The request body nests arrays and objects deeper than 32 levels, which is not accepted', code: ErrorCode.ValidationFailed, requestId }, headers: {}, unexpected: false };
    }
    if (fastifyCode === 'FST_ERR_NUL_IN_BODY') {
      return { status, body: { error: 'The request body holds a NUL character (\\u0000), which is not accepted', code: ErrorCode.ValidationFailed, requestId }, headers: {}, unexpected: false };
    }
    const messages: Record<number, string> = {
      400: 'Bad request',
      413: 'The request body is too large',
      415: 'Unsupported media type: send application/json',
      431: 'Request headers are too large',
    };
    return {
      status,
      body: { error: messages[status] ?? 'Bad request', code: CODE_BY_STATUS[status] ?? 'bad_request', requestId },
      headers: {},
      unexpected: false,
    };
  }
  return {
    status: 500,
    body: { error: 'Internal server error', code: ErrorCode.Internal, requestId },
    headers: {},
    unexpected: true,
  };
}

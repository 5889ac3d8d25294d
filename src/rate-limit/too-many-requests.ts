import { AppError, ErrorCode } from '../common/app-error.js';

/** 429 with a Retry-After header (whole seconds, at least 1). */
export function tooManyRequests(retryAfterSeconds: number, message = 'Too many requests: try again later'): AppError {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  return new AppError(429, ErrorCode.TooManyRequests, message, { retryAfter: seconds }, { 'Retry-After': String(seconds) });
}

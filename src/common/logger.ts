import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import type { AppConfig } from '../config/config.js';

/** Fields that may carry a credential; pino replaces their values wherever they appear. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'password',
  'token',
  'accessToken',
  'secret',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.secret',
];

export function createPino(config: Pick<AppConfig, 'logLevel'>, destination?: DestinationStream): Pino {
  return pino(
    {
      level: config.logLevel,
      base: { service: 'hospiai' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
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

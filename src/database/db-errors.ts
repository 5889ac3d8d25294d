const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', // connection_exception
  '08001',
  '08003',
  '08006',
  '53300', // too_many_connections
]);

const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection is not established',
  'the database system is starting up',
  'the database system is shutting down',
];

/** True when an error means the database cannot be reached right now (as opposed to a bad query). */
export function isDatabaseUnavailable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const o = e as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
    if (typeof o.code === 'string' && UNAVAILABLE_CODES.has(o.code)) return true;
    if (typeof o.message === 'string' && UNAVAILABLE_MESSAGES.some((m) => (o.message as string).includes(m))) return true;
    e = o.driverError ?? o.cause;
  }
  return false;
}

/** PostgreSQL unique_violation. */
export function isUniqueViolation(err: unknown): boolean {
  const o = err as { code?: unknown; driverError?: { code?: unknown } };
  return o?.code === '23505' || o?.driverError?.code === '23505';
}

/**
 * What a log line may say of a failed query: its class, SQLSTATE and message, never the
 * statement nor its parameters (which the driver's error carries along).
 */
export function databaseErrorSummary(err: unknown): { name: string; code?: string; message: string } {
  const o = (err && typeof err === 'object' ? err : {}) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    driverError?: { code?: unknown };
  };
  const code = typeof o.code === 'string' ? o.code : typeof o.driverError?.code === 'string' ? o.driverError.code : undefined;
  return {
    name: typeof o.name === 'string' ? o.name : 'Error',
    ...(code ? { code } : {}),
    message: typeof o.message === 'string' ? o.message : String(err),
  };
}

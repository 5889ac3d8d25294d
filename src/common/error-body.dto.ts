/** The one shape of every error answer of the API. */
export class ErrorBody {
  /**
   * What went wrong, for a person.
   * @example "Invalid request: durationDays must not be greater than 365"
   */
  error: string;

  /**
   * What went wrong, for a program: a stable code.
   * @example "validation_failed"
   */
  code: string;

  /**
   * The request id, also in the `X-Request-Id` header: quote it when reporting a problem.
   * @example "req-7f3a2c"
   */
  requestId?: string;

  /** For validation errors: each offending field and why. */
  fields?: FieldErrorBody[];
}

export class FieldErrorBody {
  /** @example "durationDays" */
  field: string;
  /** @example "durationDays must not be greater than 365" */
  message: string;
}

/** The Retry-After header of an answer that asks the caller to come back, for Swagger. */
export const RETRY_AFTER_HEADER = {
  'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', example: 5 } },
};

/** Swagger's 503 of a route that cannot reach the database (the global filter's answer). */
export const DATABASE_UNAVAILABLE = {
  type: ErrorBody,
  description: 'The database cannot be reached: try again after Retry-After',
  example: { error: 'Service indisponible', code: 'service_unavailable', requestId: 'req-7f3a2c' },
  headers: RETRY_AFTER_HEADER,
};

/** The headers of an answer that holds a secret shown once (a token, a client secret), for Swagger. */
export function shownOnceHeaders(location: string): Record<string, { description: string; schema: { type: 'string'; example?: string } }> {
  return {
    Location: { description: location, schema: { type: 'string' } },
    'Cache-Control': {
      description: 'The secret is in this answer only: no cache keeps it',
      schema: { type: 'string', example: 'no-store' },
    },
  };
}

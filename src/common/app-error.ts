/** Machine-readable error codes, stable across versions; `error` carries the human message. */
export enum ErrorCode {
  ValidationFailed = 'validation_failed',
  InvalidJson = 'invalid_json',
  Unauthorized = 'unauthorized',
  InvalidCredentials = 'invalid_credentials',
  Forbidden = 'forbidden',
  NotFound = 'not_found',
  EmailTaken = 'email_taken',
  RegistrationClosed = 'registration_closed',
  PayloadTooLarge = 'payload_too_large',
  UnsupportedMediaType = 'unsupported_media_type',
  TooManyRequests = 'too_many_requests',
  ServiceUnavailable = 'service_unavailable',
  Internal = 'internal_error',
  ScopeNotAllowed = 'scope_not_allowed',
  CsrfFailed = 'csrf_failed',
  SsoOnly = 'sso_only',
}

export interface FieldError {
  field: string;
  message: string;
}

/** A domain error: the global filter turns it into `{error, code, requestId, ...}` with its status. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  static badRequest(message: string, fields?: FieldError[]): AppError {
    return new AppError(400, ErrorCode.ValidationFailed, message, fields ? { fields } : {});
  }

  static notFound(what: string): AppError {
    return new AppError(404, ErrorCode.NotFound, `${what} not found`);
  }

  static unauthorized(message = 'Authentication required'): AppError {
    return new AppError(401, ErrorCode.Unauthorized, message, {}, { 'WWW-Authenticate': 'Bearer' });
  }

  /** 401 for a bearer token that was sent and refused: RFC 6750's `error="invalid_token"` tells a client not to retry it. */
  static invalidBearer(message = 'Authentication required'): AppError {
    return new AppError(401, ErrorCode.Unauthorized, message, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  }

  static forbidden(message = 'You are not allowed to do this'): AppError {
    return new AppError(403, ErrorCode.Forbidden, message);
  }
}

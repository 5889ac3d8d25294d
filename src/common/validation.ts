import { ParseUUIDPipe, ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { AppError, type FieldError } from './app-error.js';

/** One entry per offending field, its messages joined. */
function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = parent ? `${parent}.${e.property}` : e.property;
    // class-validator's message for unknown fields: "property x should not exist"
    const messages = Object.values(e.constraints ?? {}).map((m) => (m.startsWith('property ') ? `${field} is not an accepted field` : m));
    if (messages.length > 0) out.push({ field, message: messages.join('; ') });
    if (e.children?.length) out.push(...flatten(e.children, field));
  }
  return out;
}

/** An absent (or empty JSON) body is an empty object, so that the 400 names each required field. */
class BodyValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const isDto = typeof metadata.metatype === 'function' && metadata.metatype !== Object;
    return super.transform(metadata.type === 'body' && value === undefined && isDto ? {} : value, metadata);
  }
}

/** whitelist + forbidNonWhitelisted + transform; a 400 names every offending field. */
export function createValidationPipe(): ValidationPipe {
  return new BodyValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const fields = flatten(errors);
      return AppError.badRequest(`Invalid request: ${fields.map((f) => f.message).join('; ')}`, fields);
    },
  });
}

/** The 400 of a path id that is not a UUID, as the answer says it. */
export const BAD_ID_BODY = {
  error: 'Invalid request: id must be a UUID',
  code: 'validation_failed',
  requestId: 'req-7f3a2c',
  fields: [{ field: 'id', message: 'id must be a UUID' }],
};

/** A UUID in the lower case PostgreSQL writes ids in: an id compared in the process matches the stored one. */
class UuidIdPipe extends ParseUUIDPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<string | undefined | null> {
    const id = await super.transform(value, metadata);
    return typeof id === 'string' ? id.toLowerCase() : id;
  }
}

/**
 * For `@Param('id', UUID_ID)`: a path id that is not a UUID is a 400 naming the field `id`; one
 * written in upper case (as some tools write UUIDs) is passed on in lower case.
 */
export const UUID_ID = new UuidIdPipe({ exceptionFactory: () => AppError.badRequest(BAD_ID_BODY.error, BAD_ID_BODY.fields) });

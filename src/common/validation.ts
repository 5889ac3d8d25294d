import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { AppError, type FieldError } from './app-error.js';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = parent ? `${parent}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) {
      // class-validator's message for unknown fields: "property x should not exist"
      out.push({ field, message: message.startsWith('property ') ? `${field} is not an accepted field` : message });
    }
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

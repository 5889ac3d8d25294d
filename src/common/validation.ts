import { ValidationPipe, type ValidationError } from '@nestjs/common';
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

/** whitelist + forbidNonWhitelisted + transform; a 400 names every offending field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
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

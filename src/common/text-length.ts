import { maxLength, ValidateBy } from 'class-validator';

/** Characters as PostgreSQL counts them in varchar(n): Unicode code points. */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Goes with `@Length(min, max)` / `@MaxLength(max)` on a string stored in a varchar(max) column.
 * class-validator does not count the variation selectors U+FE0E and U+FE0F, PostgreSQL does: a
 * value that Length lets through could still be too long for the column. This refuses it, with
 * Length's own message; a value Length already refuses gets no second message.
 */
export const FitsColumn = (max: number): PropertyDecorator =>
  ValidateBy({
    name: 'fitsColumn',
    constraints: [max],
    validator: {
      validate: (v: unknown) => typeof v !== 'string' || !maxLength(v, max) || codePointLength(v) <= max,
      defaultMessage: (args) => `${args?.property} must be shorter than or equal to ${max} characters`,
    },
  });

import { Transform } from 'class-transformer';

/** Trims strings; leaves other values alone so that type validation still reports them. */
export const Trim = (): PropertyDecorator => Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));

/** Trims and lower-cases strings (emails). */
export const TrimLower = (): PropertyDecorator =>
  Transform(({ value }) => (typeof value === 'string' ? value.trim().toLowerCase() : value));

import { Transform } from 'class-transformer';

/**
 * Trims strings and puts them in Unicode NFC (a decomposed "é" becomes the one character that
 * looks the same); leaves other values alone so that type validation still reports them.
 */
export const Trim = (): PropertyDecorator => Transform(({ value }) => (typeof value === 'string' ? value.trim().normalize('NFC') : value));

/** Trims, lower-cases and puts strings in NFC (emails). */
export const TrimLower = (): PropertyDecorator =>
  Transform(({ value }) => (typeof value === 'string' ? value.trim().toLowerCase().normalize('NFC') : value));

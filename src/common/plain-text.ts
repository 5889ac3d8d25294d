import { ValidateBy } from 'class-validator';

/**
 * Control characters (C0, DEL, C1: line breaks, tabs, terminal escapes), the line and paragraph
 * separators, and the format characters: the bidirectional controls (marks, embeddings, overrides,
 * isolates) and the invisible ones (zero-width spaces and joiners, word joiners, soft hyphens,
 * byte-order marks, tags).
 */
const NOT_PLAIN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * The one rule for text that other programs show or log (an email, a person's names, a token's
 * name: the validate and introspection answers give them to MCP servers): no character that could
 * forge a log line, drive a terminal, or show other text than it holds or two different texts alike.
 */
export function isPlainText(value: string): boolean {
  return !NOT_PLAIN.test(value);
}

/** Refuses a string that is not plain text (`isPlainText`), naming the field. */
export const PlainText = (): PropertyDecorator =>
  ValidateBy({
    name: 'plainText',
    validator: {
      validate: (v: unknown) => typeof v !== 'string' || isPlainText(v),
      defaultMessage: (args) =>
        `${args?.property} must not contain control or invisible characters (line breaks, tabs, escapes, bidirectional controls, zero-width characters)`,
    },
  });

import { ValidateBy } from 'class-validator';

/**
 * Control characters (C0, DEL, C1: line breaks, tabs, terminal escapes), the line and paragraph
 * separators, and the bidirectional formatting characters (marks, embeddings, overrides, isolates).
 */
const CONTROL = /[\p{Cc}\u2028\u2029\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/**
 * For a name that other programs show or log (a token's name, a person's names: the validate
 * answer gives both to MCP servers): refuses control and bidirectional formatting characters, so
 * that a name cannot forge a log line, drive a terminal or show other text than it holds.
 */
export const PlainText = (): PropertyDecorator =>
  ValidateBy({
    name: 'plainText',
    validator: {
      validate: (v: unknown) => typeof v !== 'string' || !CONTROL.test(v),
      defaultMessage: (args) =>
        `${args?.property} must not contain control characters (line breaks, tabs, escapes, bidirectional controls)`,
    },
  });

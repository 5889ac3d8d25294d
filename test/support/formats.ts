// Formats the e2e tests check answers against or build requests with.

/** A UUID as the service writes them (lower case). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A listing cursor holding `text`, encoded as the service encodes its cursors (base64url of the UTF-8 text). */
export const cursorOf = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

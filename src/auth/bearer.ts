/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or undefined. */
export function bearerTokenOf(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return m?.[1];
}

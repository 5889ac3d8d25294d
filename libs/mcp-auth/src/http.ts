/**
 * Reading a bearer token from an incoming request, whichever kind it is.
 */

type NodeHeaders = Readonly<Record<string, string | string[] | undefined>>;
type FetchHeaders = { get(name: string): string | null };

/**
 * A request as an MCP framework hands it over: a Node.js `IncomingMessage`
 * (FastMCP) or a Fetch API `Request`. Only `headers` is read.
 */
export type RequestLike = { readonly headers: NodeHeaders | FetchHeaders };

function isFetchHeaders(headers: NodeHeaders | FetchHeaders): headers is FetchHeaders {
  return typeof (headers as FetchHeaders).get === 'function';
}

/** The raw `Authorization` header value, or `undefined`. */
export function authorizationHeader(request: RequestLike | null | undefined): string | undefined {
  const headers = request?.headers;
  if (!headers) return undefined;
  if (isFetchHeaders(headers)) return headers.get('authorization') ?? undefined;
  const value = headers.authorization ?? headers.Authorization;
  return Array.isArray(value) ? value[0] : value;
}

/** The first value of a header (name in lower case), or `undefined`. */
export function headerValue(request: RequestLike | null | undefined, name: string): string | undefined {
  const headers = request?.headers;
  if (!headers) return undefined;
  if (isFetchHeaders(headers)) return headers.get(name) ?? undefined;
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export type BearerToken = { kind: 'token'; token: string } | { kind: 'missing' } | { kind: 'malformed' };

/** Reads `Bearer <token>`; the scheme is matched without regard to case (RFC 7235). */
export function bearerToken(header: string | undefined): BearerToken {
  if (header === undefined || header.trim() === '') return { kind: 'missing' };
  const match = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(header);
  if (!match || match[1].toLowerCase() !== 'bearer') return { kind: 'malformed' };
  return { kind: 'token', token: match[2] };
}

/**
 * Short ASCII descriptions of each failure, for places that end up in an HTTP
 * header (`WWW-Authenticate` error_description), where only ASCII is safe.
 */
export const ASCII_DESCRIPTIONS = {
  invalid: 'The access token is invalid',
  expired: 'The access token expired',
  revoked: 'The access token was revoked',
  insufficient_scope: 'The access token lacks a required scope',
  unavailable: 'The token service is unavailable',
} as const;

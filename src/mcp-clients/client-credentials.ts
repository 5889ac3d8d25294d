/**
 * OAuth client authentication of a registered MCP server (RFC 6749 §2.3.1):
 * `client_secret_basic` (HTTP Basic, id and secret form-urlencoded first) or
 * `client_secret_post` (`client_id` and `client_secret` in the form body).
 */

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  method: 'client_secret_basic' | 'client_secret_post';
}

export type CredentialsResult =
  | { kind: 'none' }
  | { kind: 'credentials'; credentials: ClientCredentials }
  /** Unreadable Basic header, half a pair in the body, or both methods at once. */
  | { kind: 'malformed'; reason: string };

const MAX_PART = 200;

function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Reads `Authorization: Basic …`; `none` when the header is absent or another scheme. */
export function basicCredentials(header: unknown): CredentialsResult {
  if (typeof header !== 'string' || header.trim() === '') return { kind: 'none' };
  const m = /^\s*basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (!m) return /^\s*basic\b/i.test(header) ? { kind: 'malformed', reason: 'unreadable Basic credentials' } : { kind: 'none' };
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  if (sep <= 0) return { kind: 'malformed', reason: 'unreadable Basic credentials' };
  const clientId = formDecode(decoded.slice(0, sep));
  const clientSecret = formDecode(decoded.slice(sep + 1));
  if (!clientId || !clientSecret || clientId.length > MAX_PART || clientSecret.length > MAX_PART) {
    return { kind: 'malformed', reason: 'unreadable Basic credentials' };
  }
  return { kind: 'credentials', credentials: { clientId, clientSecret, method: 'client_secret_basic' } };
}

/**
 * The client's credentials from the Authorization header or the form body
 * (never both: RFC 6749 §2.3 allows one method per request).
 */
export function clientCredentials(header: unknown, form: Record<string, unknown> | undefined): CredentialsResult {
  const basic = basicCredentials(header);
  const id = form?.client_id;
  const secret = form?.client_secret;
  const inBody = id !== undefined || secret !== undefined;
  if (basic.kind !== 'none' && inBody) return { kind: 'malformed', reason: 'client credentials sent twice (header and body)' };
  if (basic.kind !== 'none') return basic;
  if (!inBody) return { kind: 'none' };
  if (typeof id !== 'string' || typeof secret !== 'string' || id === '' || secret === '' || id.length > MAX_PART || secret.length > MAX_PART) {
    return { kind: 'malformed', reason: 'client_id and client_secret must both be given' };
  }
  return { kind: 'credentials', credentials: { clientId: id, clientSecret: secret, method: 'client_secret_post' } };
}

/** A client id as `McpClientsService` makes them. */
const CLIENT_ID_SHAPE = /^mcp_[A-Za-z0-9_-]{16}$/;

/**
 * A refused client's id, for its audit event or log line, only when it has the shape of a client
 * id: anything else (a secret typed as the id, the pair given the wrong way round) may be a
 * credential, and is left out.
 */
export function recordableClientId(clientId: string): string | undefined {
  return CLIENT_ID_SHAPE.test(clientId) ? clientId : undefined;
}

/** The challenge of a refused client authentication (RFC 7617). */
export const CLIENT_CHALLENGE = 'Basic realm="hospiai", charset="UTF-8"';

/** The Swagger security scheme of registered MCP servers (HTTP Basic with client id and secret). */
export const MCP_CLIENT_SCHEME = 'mcpClient';

/**
 * Canonical resource URIs (RFC 8707 §2, and the MCP authorization specification's "canonical
 * server URI"): how a registered MCP server is named, and what a bound token's audience holds.
 * No imports: registered servers, tokens, the validate path and the authorization server all use it.
 */

/** Longest resource URI accepted anywhere (the columns hold 2048 characters). */
export const MAX_RESOURCE_URI_LENGTH = 2048;

function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * The canonical form of a resource URI, or null when it may not name a resource: an absolute
 * https URL (http only on a loopback host), without user name, password or fragment, at most
 * 2048 characters. Scheme and host in lower case, the default port left out, the path kept
 * (dot segments resolved) and without its trailing slash unless it is just "/"; the query is kept.
 *
 *   canonicalResource('HTTPS://MCP.Example.com:443/Tools/') === 'https://mcp.example.com/Tools'
 *   canonicalResource('https://mcp.example.com') === 'https://mcp.example.com/'
 */
export function canonicalResource(uri: string): string | null {
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > MAX_RESOURCE_URI_LENGTH) return null;
  // No spaces or control characters: the URL parser would quietly strip or encode them.
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || /\s/.test(uri[i])) return null;
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) return null;
  if (url.username !== '' || url.password !== '' || uri.includes('#') || url.hostname === '') return null;
  if (url.pathname.length > 1 && url.pathname.endsWith('/')) url.pathname = url.pathname.replace(/\/+$/, '') || '/';
  const canonical = url.href;
  return canonical.length <= MAX_RESOURCE_URI_LENGTH ? canonical : null;
}

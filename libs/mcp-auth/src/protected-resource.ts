/**
 * The MCP server as an OAuth 2.0 protected resource (MCP authorization specification, RFC 9728,
 * RFC 8707): its Protected Resource Metadata document, where it is served, and the
 * `WWW-Authenticate` challenges that point clients to it.
 *
 * `protectedResource({ resource, issuer, scopesSupported })` gives:
 * - `metadata`: `{resource, authorization_servers: [issuer], scopes_supported, bearer_methods_supported: ["header"]}`;
 * - `metadataUrl`: the path-suffixed URL of RFC 9728 §3.1 (`https://host/.well-known/oauth-protected-resource/mcp`
 *   for `https://host/mcp`), as the MCP SDK's `getOAuthProtectedResourceMetadataUrl` computes it;
 * - `middleware`: a Node.js/Express handler that serves the document at that path and at
 *   `/.well-known/oauth-protected-resource` (GET, HEAD, OPTIONS; CORS open, as the SDK's own `metadataHandler`);
 * - `challenge`: the options for `fastmcpAuthenticate` and `mcpSdkBearerAuth`, whose 401 and 403
 *   answers then carry `resource_metadata` and `scope`;
 * - `fastmcpOAuth`: FastMCP 4's own `oauth` option, which serves the same document itself.
 *
 * Nothing here imports FastMCP or the SDK.
 */
import type { ChallengeOptions } from './fastmcp.js';
import { canonicalResourceUri, HospiAIConfigError } from './config.js';

export { canonicalResourceUri };

export const PRM_WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** The Protected Resource Metadata document (RFC 9728 §2) this library serves. */
export type ProtectedResourceMetadata = {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ['header'];
  resource_name?: string;
};

export type ProtectedResourceOptions = {
  /** This MCP server's resource URI, as registered in HospiAI (`resourceUri`): `https://mcp.example/mcp`. */
  resource: string;
  /** The authorization server's issuer: the HospiAI service's public URL. */
  issuer: string;
  /** The scopes this server accepts (`scopes_supported`), also advertised in the 401 challenge. */
  scopesSupported: readonly string[];
  /** A name for people (`resource_name`). */
  resourceName?: string;
};

export type ProtectedResource = {
  /** The canonical resource URI (scheme and host in lower case, no trailing slash unless the path is "/"). */
  resource: string;
  metadata: ProtectedResourceMetadata;
  /** Where clients find the document: the path-suffixed form of RFC 9728 §3.1. */
  metadataUrl: string;
  /** The paths served by `middleware`: the path-suffixed one, and the bare one. */
  metadataPaths: string[];
  /** For `fastmcpAuthenticate(auth, {...challenge})` and `mcpSdkBearerAuth(auth, {...challenge})`. */
  challenge: Required<Pick<ChallengeOptions, 'resourceMetadataUrl' | 'scope'>> & { realm: false };
  /** FastMCP 4's `oauth` option: FastMCP then serves the same document at the same two paths. */
  fastmcpOAuth: {
    enabled: true;
    protectedResource: { resource: string; authorizationServers: string[]; scopesSupported: string[]; bearerMethodsSupported: ['header']; resourceName?: string };
  };
  /** Node.js/Express middleware: answers the metadata paths, passes every other request on. */
  middleware: (req: NodeRequestLike, res: NodeResponseLike, next?: (error?: unknown) => void) => void;
};

export type NodeRequestLike = { method?: string; url?: string };
export type NodeResponseLike = { statusCode: number; setHeader(name: string, value: string): unknown; end(body?: string): unknown };

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** RFC 9728 §3.1: the well-known path inserted between the host and the resource's path. */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname !== '/' ? url.pathname : '';
  return new URL(`${PRM_WELL_KNOWN}${path}`, url.origin).href;
}

/** The Protected Resource Metadata of an MCP server that accepts HospiAI tokens, and what serves it. */
export function protectedResource(options: ProtectedResourceOptions): ProtectedResource {
  const resource = canonicalResourceUri(options?.resource ?? '');
  if (!resource) {
    throw new HospiAIConfigError(
      `Invalid protected resource: resource must be an absolute https URL (http only on loopback) without fragment (got ${JSON.stringify(options?.resource)})`,
    );
  }
  let issuer: string;
  try {
    const u = new URL(options.issuer);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) throw new Error('scheme');
    // An issuer is written without a trailing slash on its bare origin (RFC 8414 §2: "https://as.example").
    issuer = u.pathname === '/' && !options.issuer.endsWith('/') ? u.origin : u.href;
  } catch {
    throw new HospiAIConfigError(
      `Invalid protected resource: issuer must be the HospiAI service's public URL, https (http only on loopback) (got ${JSON.stringify(options?.issuer)})`,
    );
  }
  const scopes = [...new Set(options.scopesSupported ?? [])];
  if (scopes.length === 0) throw new HospiAIConfigError('Invalid protected resource: scopesSupported must name at least one scope');

  const metadata: ProtectedResourceMetadata = {
    resource,
    authorization_servers: [issuer],
    scopes_supported: scopes,
    bearer_methods_supported: ['header'],
    ...(options.resourceName ? { resource_name: options.resourceName } : {}),
  };
  const metadataUrl = protectedResourceMetadataUrl(resource);
  const metadataPaths = [...new Set([new URL(metadataUrl).pathname, PRM_WELL_KNOWN])];
  const body = JSON.stringify(metadata);

  const middleware: ProtectedResource['middleware'] = (req, res, next) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!metadataPaths.includes(path)) {
      if (next) next();
      else {
        res.statusCode = 404;
        res.end();
      }
      return;
    }
    res.setHeader('access-control-allow-origin', '*');
    const method = (req.method ?? 'GET').toUpperCase();
    if (method === 'OPTIONS') {
      res.statusCode = 204;
      res.setHeader('access-control-allow-methods', 'GET, HEAD, OPTIONS');
      res.end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.statusCode = 405;
      res.setHeader('allow', 'GET, HEAD, OPTIONS');
      res.end();
      return;
    }
    res.statusCode = 200;
    res.setHeader('content-type', 'application/json');
    res.setHeader('cache-control', 'public, max-age=3600');
    res.end(method === 'HEAD' ? undefined : body);
  };

  return {
    resource,
    metadata,
    metadataUrl,
    metadataPaths,
    challenge: { resourceMetadataUrl: metadataUrl, scope: scopes, realm: false },
    fastmcpOAuth: {
      enabled: true,
      protectedResource: {
        resource,
        authorizationServers: [issuer],
        scopesSupported: scopes,
        bearerMethodsSupported: ['header'],
        ...(options.resourceName ? { resourceName: options.resourceName } : {}),
      },
    },
    middleware,
  };
}

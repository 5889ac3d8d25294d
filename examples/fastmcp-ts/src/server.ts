/**
 * A FastMCP server (TypeScript, npm `fastmcp` 4) whose tools are protected by
 * HospiAI API tokens through @hospiai/mcp-auth:
 *
 * - `get_patient` needs the `read:data` scope,
 * - `create_booking` needs the `write:bookings` scope.
 *
 * Every HTTP request is authenticated (FastMCP calls `authenticate` on each
 * one): a missing, invalid, expired or revoked token gets a 401, and so does a
 * token other than the one that opened the session. `canAccess` hides from a
 * session the tools its token may not use; `withScopes` checks each call
 * against the token of the request that makes it. Validations
 * are cached (30 s by default); with client credentials the server follows
 * the service's revocation stream, so a revoked token is refused at once.
 *
 * Environment: PORT (8080), HOST (127.0.0.1), HOSPIAI_VALIDATION_URL
 * (required), HOSPIAI_TIMEOUT, HOSPIAI_CACHE (`off` to validate every
 * request), HOSPIAI_CACHE_TTL_MS, HOSPIAI_CLIENT_ID and HOSPIAI_CLIENT_SECRET
 * (to follow revocations), HOSPIAI_REVOCATIONS_URL.
 */
import { pathToFileURL } from 'node:url';
import { FastMCP, UserError } from 'fastmcp';
import { z } from 'zod';
// In your own project: import { ... } from '@hospiai/mcp-auth';
import {
  fastmcpAuthenticate,
  HospiAIAuth,
  protectedResource,
  requireScopes,
  withScopes,
  type HospiAISession,
  type ProtectedResource,
  type RevocationFollower,
} from '../../../libs/mcp-auth/dist/index.js';

type Env = Record<string, string | undefined>;

export interface RunningExample {
  /** The MCP endpoint (Streamable HTTP). */
  url: string;
  auth: HospiAIAuth;
  revocations: RevocationFollower | undefined;
  stop(): Promise<void>;
}

/** Demo data: a real server would read the hospital's systems here. */
const PATIENTS: Record<string, { name: string; birthDate: string; ward: string }> = {
  'P-1001': { name: 'Jeanne Dupont', birthDate: '1954-03-12', ward: 'Cardiologie' },
  'P-1002': { name: 'Louis Martin', birthDate: '1987-11-02', ward: 'Pneumologie' },
};

/** The scopes this server's tools use: its Protected Resource Metadata's `scopes_supported`. */
export const SCOPES_SUPPORTED = ['read:data', 'write:bookings'];

export function createServer(auth: HospiAIAuth, prm: ProtectedResource): FastMCP<HospiAISession> {
  const server = new FastMCP<HospiAISession>({
    name: 'HospiAI FastMCP example',
    version: '1.0.0',
    // FastMCP serves the Protected Resource Metadata itself (at /.well-known/oauth-protected-resource
    // and /.well-known/oauth-protected-resource/mcp); the 401 and 403 answers point to it.
    oauth: prm.fastmcpOAuth,
    authenticate: fastmcpAuthenticate(auth, prm.challenge),
  });

  server.addTool({
    name: 'get_patient',
    description: "Lire le dossier administratif d'un patient (scope read:data)",
    parameters: z.object({ patientId: z.string().min(1).max(40) }),
    canAccess: requireScopes('read:data'),
    execute: withScopes(['read:data'], async ({ patientId }, { session }) => {
      const patient = PATIENTS[patientId];
      if (!patient) throw new UserError(`Patient inconnu : ${patientId}`);
      return JSON.stringify({ patientId, ...patient, consultedBy: session?.email });
    }),
  });

  server.addTool({
    name: 'create_booking',
    description: 'Créer un rendez-vous pour un patient (scope write:bookings)',
    parameters: z.object({ patientId: z.string().min(1).max(40), date: z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?$/) }),
    canAccess: requireScopes('write:bookings'),
    execute: withScopes(['write:bookings'], async ({ patientId, date }, { session }) =>
      JSON.stringify({ bookingId: `BK-${Date.now().toString(36)}`, patientId, date, createdBy: session?.userId }),
    ),
  });

  return server;
}

/** Starts the example from an environment; `stop()` closes the server and the revocation stream. */
export async function startExample(env: Env = process.env): Promise<RunningExample> {
  const port = Number(env.PORT ?? 8080);
  const host = env.HOST ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`PORT must be a port number (got ${JSON.stringify(env.PORT)})`);
  const cacheOff = env.HOSPIAI_CACHE === 'off' || env.HOSPIAI_CACHE === 'false';
  const ttlMs = env.HOSPIAI_CACHE_TTL_MS ? Number(env.HOSPIAI_CACHE_TTL_MS) : undefined;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/mcp`;
  // This server as a protected resource: its resource URI as registered in HospiAI (default: its
  // own URL) and the authorization server (default: the service the validation URL points to).
  const resource = env.HOSPIAI_RESOURCE || url;
  const issuer = env.HOSPIAI_ISSUER || new URL(env.HOSPIAI_VALIDATION_URL ?? 'http://127.0.0.1:3000').origin;
  const prm = protectedResource({ resource, issuer, scopesSupported: SCOPES_SUPPORTED, resourceName: 'HospiAI FastMCP example' });
  const auth = HospiAIAuth.fromEnv(env, { resource: prm.resource, cache: cacheOff ? false : ttlMs ? { ttlMs } : {} });
  const revocations = !cacheOff && env.HOSPIAI_CLIENT_ID && env.HOSPIAI_CLIENT_SECRET ? auth.followRevocations() : undefined;

  const server = createServer(auth, prm);
  await server.start({ transportType: 'httpStream', httpStream: { port, host, endpoint: '/mcp', enableJsonResponse: true } });
  return {
    url,
    auth,
    revocations,
    stop: async () => {
      await server.stop();
      await auth.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const running = await startExample();
  console.log(`FastMCP example listening on ${running.url}${running.revocations ? ' (following revocations)' : ''}`);
  const shutdown = (): void => {
    // Open client connections must not hold the exit for long.
    setTimeout(() => process.exit(0), 2000).unref();
    void running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('stop failed', error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

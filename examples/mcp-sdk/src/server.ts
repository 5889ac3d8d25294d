/**
 * The same server as ../fastmcp-ts with the official MCP TypeScript SDK
 * (`@modelcontextprotocol/sdk` 1.x): Express, `mcpSdkBearerAuth` from
 * @hospiai/mcp-auth (401, 403, and 503 when the service cannot answer), and a
 * stateless Streamable HTTP transport, so that every request is authenticated
 * on its own and there is no session to replay.
 *
 * - `get_patient` needs the `read:data` scope,
 * - `create_booking` needs the `write:bookings` scope.
 *
 * A tool the token may not use is not registered for its request
 * (`tools/list` leaves it out), and `requireToolScopes` answers a call to it
 * with 403 `insufficient_scope` naming the scope.
 *
 * Environment: as ../fastmcp-ts (PORT, HOST, HOSPIAI_VALIDATION_URL, HOSPIAI_CACHE,
 * HOSPIAI_CACHE_TTL_MS, HOSPIAI_CLIENT_ID, HOSPIAI_CLIENT_SECRET…).
 */
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import type { Request, Response } from 'express';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { metadataHandler } from '@modelcontextprotocol/sdk/server/auth/handlers/metadata.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
// In your own project: import { ... } from '@hospiai/mcp-auth';
import {
  HospiAIAuth,
  hospiaiUser,
  mcpSdkBearerAuth,
  protectedResource,
  requireToolScopes,
  scopedTool,
  type RevocationFollower,
} from '../../../libs/mcp-auth/dist/index.js';

type Env = Record<string, string | undefined>;

export interface RunningExample {
  url: string;
  auth: HospiAIAuth;
  revocations: RevocationFollower | undefined;
  stop(): Promise<void>;
}

const PATIENTS: Record<string, { name: string; birthDate: string; ward: string }> = {
  'P-1001': { name: 'Jeanne Dupont', birthDate: '1954-03-12', ward: 'Cardiologie' },
  'P-1002': { name: 'Louis Martin', birthDate: '1987-11-02', ward: 'Pneumologie' },
};

const text = (value: unknown, isError = false): CallToolResult => ({
  content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) }],
  ...(isError ? { isError: true } : {}),
});

/** An MCP server for one request, with the tools that request's token may use. */
export function buildServer(authInfo: AuthInfo): McpServer {
  const server = new McpServer({ name: 'HospiAI MCP SDK example', version: '1.0.0' });
  const scopes = new Set(authInfo.scopes);

  if (scopes.has('read:data')) {
    server.registerTool(
      'get_patient',
      { description: "Lire le dossier administratif d'un patient (scope read:data)", inputSchema: { patientId: z.string().min(1).max(40) } },
      scopedTool(['read:data'], async ({ patientId }, extra) => {
        const patient = PATIENTS[patientId];
        if (!patient) return text(`Patient inconnu : ${patientId}`, true);
        return text({ patientId, ...patient, consultedBy: hospiaiUser(extra.authInfo)?.email });
      }),
    );
  }

  if (scopes.has('write:bookings')) {
    server.registerTool(
      'create_booking',
      {
        description: 'Créer un rendez-vous pour un patient (scope write:bookings)',
        inputSchema: { patientId: z.string().min(1).max(40), date: z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?$/) },
      },
      scopedTool(['write:bookings'], async ({ patientId, date }, extra) =>
        text({ bookingId: `BK-${Date.now().toString(36)}`, patientId, date, createdBy: hospiaiUser(extra.authInfo)?.id }),
      ),
    );
  }
  return server;
}

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
  const prm = protectedResource({ resource, issuer, scopesSupported: ['read:data', 'write:bookings'], resourceName: 'HospiAI MCP SDK example' });
  const auth = HospiAIAuth.fromEnv(env, { resource: prm.resource, cache: cacheOff ? false : ttlMs ? { ttlMs } : {} });
  const revocations = !cacheOff && env.HOSPIAI_CLIENT_ID && env.HOSPIAI_CLIENT_SECRET ? auth.followRevocations() : undefined;

  const app = createMcpExpressApp({ host });
  // The Protected Resource Metadata (RFC 9728), served by the SDK's own handler at both well-known paths.
  for (const path of prm.metadataPaths) app.use(path, metadataHandler(prm.metadata));
  const toolScopes = requireToolScopes({ get_patient: ['read:data'], create_booking: ['write:bookings'] }, prm.challenge);
  app.post('/mcp', mcpSdkBearerAuth(auth, prm.challenge), toolScopes, async (req: Request, res: Response) => {
    // Set by mcpSdkBearerAuth; the SDK's transport reads it too, and hands it to tools as extra.authInfo.
    const server = buildServer((req as Request & { auth: AuthInfo }).auth);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (error) {
      console.error('MCP request failed', error);
      if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
    }
  });
  // Stateless: no server-to-client stream and no session to delete.
  const notAllowed = (_req: Request, res: Response): void => {
    res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  };
  app.get('/mcp', notAllowed);
  app.delete('/mcp', notAllowed);

  const httpServer = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  return {
    url,
    auth,
    revocations,
    stop: async () => {
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await auth.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const running = await startExample();
  console.log(`MCP SDK example listening on ${running.url}${running.revocations ? ' (following revocations)' : ''}`);
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

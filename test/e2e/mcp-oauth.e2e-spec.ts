// MCP clients log in through HospiAI: the official MCP SDK client's own OAuth code (its
// OAuthClientProvider, auth() run by the transport on a 401, the transport's finishAuth) against
// both examples, each a protected resource registered in HospiAI. The test plays the person with
// the authorization server's own pages. Once with a Client ID Metadata Document served over https
// on loopback, once with dynamic registration.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { connectClient, startExampleProcess, tryCall, type RunningChild } from '../support/examples.js';
import { registerClient } from '../support/mcp.js';
import { loopbackCertificate, playPerson } from '../support/oauth-person.js';
import { createUser, startTestApp, type TestApp, type User } from '../support/test-app.js';

jest.setTimeout(120_000);

const REDIRECT = 'http://127.0.0.1:49153/callback';

/** The SDK's client-side OAuth state, kept in memory; the authorization URL is where the "browser" goes. */
class MemoryOAuthProvider implements OAuthClientProvider {
  private info: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = '';
  authorizationUrl: URL | undefined;

  constructor(
    private readonly metadata: OAuthClientMetadata,
    readonly clientMetadataUrl?: string,
  ) {}

  get redirectUrl(): string {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return this.metadata;
  }
  state(): string {
    return 'etat-sdk';
  }
  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.info = info;
  }
  tokens(): OAuthTokens | undefined {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }
  codeVerifier(): string {
    return this.verifier;
  }
}

const CLIENT_METADATA: OAuthClientMetadata = {
  client_name: 'Agent SDK',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

describe('MCP clients log in through HospiAI (SDK OAuth client against both examples)', () => {
  let t: TestApp;
  let admin: User;
  const examples: Record<'fastmcp-ts' | 'mcp-sdk', RunningChild> = {} as never;
  const clients: Client[] = [];
  let cimd: Server;
  let cimdUrl: string;

  beforeAll(async () => {
    const cert = loopbackCertificate();
    t = await startTestApp({ OAUTH_CIMD_CA_FILE: cert.certFile });
    admin = await createUser(t, { role: 'admin' });
    for (const name of ['fastmcp-ts', 'mcp-sdk'] as const) {
      const registered = await registerClient(t, admin.token, `Exemple ${name}`);
      const example = await startExampleProcess(name, {
        HOSPIAI_VALIDATION_URL: `${t.baseUrl}/api/mcp/validate`,
        HOSPIAI_CLIENT_ID: registered.clientId,
        HOSPIAI_CLIENT_SECRET: registered.clientSecret,
      });
      const patched = await t.request('PATCH', `/api/mcp/clients/${registered.id}`, { token: admin.token, body: { resourceUri: example.url } });
      expect(patched.status).toBe(200);
      examples[name] = example;
    }
    cimd = createServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ ...CLIENT_METADATA, client_id: cimdUrl, client_name: 'Agent SDK (CIMD)' }));
    });
    await new Promise<void>((r) => cimd.listen(0, '127.0.0.1', r));
    cimdUrl = `https://127.0.0.1:${(cimd.address() as AddressInfo).port}/agent.json`;
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    cimd?.close();
    for (const e of Object.values(examples)) await e.stop();
    await t?.close();
  });

  /** The whole flow as an MCP client runs it: connect, 401, auth() with the SDK, the person, finishAuth, connect again. */
  async function logIn(url: string, provider: MemoryOAuthProvider, person: User): Promise<{ client: Client; ms: number }> {
    const started = performance.now();
    const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
    await expect(new Client({ name: 'agent', version: '1.0.0' }).connect(first)).rejects.toThrow(UnauthorizedError);
    expect(provider.authorizationUrl).toBeDefined();
    const run = await playPerson(provider.authorizationUrl!, { email: person.email, password: person.password });
    const code = run.redirect.searchParams.get('code');
    expect(code).toEqual(expect.any(String));
    await first.finishAuth(code!);
    const client = new Client({ name: 'agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
    clients.push(client);
    const result = await tryCall(client, 'get_patient', { patientId: 'P-1001' });
    const ms = performance.now() - started;
    expect(result).toMatchObject({ ok: true });
    expect(result.text).toContain('Jeanne Dupont');
    return { client, ms };
  }

  it.each([
    ['fastmcp-ts', 'Client ID Metadata Document'],
    ['mcp-sdk', 'dynamic registration'],
  ] as const)('%s: 401 → metadata → %s → login and consent → finishAuth → tool call', async (name, how) => {
    const person = await createUser(t);
    const provider = how === 'dynamic registration' ? new MemoryOAuthProvider(CLIENT_METADATA) : new MemoryOAuthProvider(CLIENT_METADATA, cimdUrl);
    const { ms } = await logIn(examples[name].url, provider, person);
    console.log(`${name}, ${how}: one full flow from the first 401 to the first tool result: ${Math.round(ms)} ms`);
    const info = provider.clientInformation()!;
    if (how === 'dynamic registration') expect(info.client_id).not.toBe(cimdUrl);
    else expect(info.client_id).toBe(cimdUrl);

    // The token is bound to this example: the other one refuses it.
    const other = name === 'fastmcp-ts' ? examples['mcp-sdk'] : examples['fastmcp-ts'];
    await expect(connectClient(other.url, provider.tokens()!.access_token)).rejects.toThrow();
  });

  it('revoking the consent stops the client on its next call', async () => {
    const person = await createUser(t);
    const provider = new MemoryOAuthProvider(CLIENT_METADATA);
    const { client } = await logIn(examples['mcp-sdk'].url, provider, person);
    const grants = await t.request('GET', '/api/oauth/grants', { token: person.token });
    expect(grants.body.grants).toHaveLength(1);
    expect((await t.request('DELETE', `/api/oauth/grants/${grants.body.grants[0].id}`, { token: person.token })).status).toBe(204);
    expect((await tryCall(client, 'get_patient', { patientId: 'P-1001' })).ok).toBe(false);
  });
});

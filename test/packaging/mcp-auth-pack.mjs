// The packaging test of libs/mcp-auth, as a new user meets the library: `npm pack` of the folder,
// the tarball installed into a fresh project in a temporary folder (a real copy, not a symlink,
// not this repository's node_modules) next to fastmcp and the MCP SDK from the registry, a
// FastMCP server and an SDK server written as the library's README shows, and the SDK client
// driving them against the built service (its own embedded PostgreSQL, through the shared
// harness). Needs `npm run build`. Ends with `packaging: N passed, M failed`.
//
// MCP_AUTH_PACK_VERSIONS picks the peer versions, `fastmcp@sdk` pairs separated by spaces;
// by default the oldest and the newest supported ones.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, lstatSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { call, createToken, freePort, login, register, REPO_ROOT, sleep, startService } from '../../dist/test/support/harness.js';

const started = Date.now();
const VERSIONS = (process.env.MCP_AUTH_PACK_VERSIONS ?? '4.20.0@1.24.0 4.20.16@1.32.2').split(/\s+/).filter(Boolean);
const ADMIN = { email: 'packaging.admin@chu-test.fr', password: 'packaging admin passphrase' };
let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  return ok;
}

const FASTMCP_SERVER = `
import { FastMCP } from 'fastmcp';
import { z } from 'zod';
import { HospiAIAuth, fastmcpAuthenticate, withScopes } from '@hospiai/mcp-auth';

const auth = HospiAIAuth.fromEnv(process.env, { cache: { ttlMs: 3_600_000 } });
const follower = auth.followRevocations();
const server = new FastMCP({ name: 'Rendez-vous', version: '1.0.0', authenticate: fastmcpAuthenticate(auth) });
server.addTool({
  name: 'get_patient',
  description: 'Lire un dossier',
  parameters: z.object({ patientId: z.string() }),
  execute: withScopes(['read:data'], async ({ patientId }, { session }) => \`\${patientId} lu par \${session.email}\`),
});
server.addTool({
  name: 'create_booking',
  description: 'Créer un rendez-vous',
  parameters: z.object({ patientId: z.string(), date: z.string() }),
  execute: withScopes(['write:bookings'], async ({ patientId, date }, { session }) => \`Rendez-vous \${date} pour \${patientId}, créé par \${session.email}\`),
});
await server.start({ transportType: 'httpStream', httpStream: { port: Number(process.env.PORT), host: '127.0.0.1', endpoint: '/mcp' } });
await follower.ready();
console.log('listening on', process.env.PORT);
`;

const SDK_SERVER = `
import express from 'express';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { HospiAIAuth, hospiaiUser, mcpSdkBearerAuth, mcpSdkVerifier, requireToolScopes, scopedTool } from '@hospiai/mcp-auth';

const auth = HospiAIAuth.fromEnv(process.env, { cache: { ttlMs: 3_600_000 } });
const follower = auth.followRevocations();
const text = (t) => ({ content: [{ type: 'text', text: t }] });

async function serve(req, res) {
  const server = new McpServer({ name: 'Rendez-vous', version: '1.0.0' });
  server.registerTool('get_patient', { description: 'Lire un dossier', inputSchema: { patientId: z.string() } },
    scopedTool(['read:data'], async ({ patientId }, extra) => text(\`\${patientId} lu par \${hospiaiUser(extra.authInfo)?.email}\`)));
  server.registerTool('create_booking', { description: 'Créer un rendez-vous', inputSchema: { patientId: z.string(), date: z.string() } },
    scopedTool(['write:bookings'], async ({ patientId, date }, extra) => text(\`Rendez-vous \${date} pour \${patientId}, créé par \${hospiaiUser(extra.authInfo)?.email}\`)));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => { void transport.close(); void server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
}

const app = express();
app.use(express.json());
app.post('/mcp', mcpSdkBearerAuth(auth), requireToolScopes({ get_patient: ['read:data'], create_booking: ['write:bookings'] }), serve);
// The SDK's own requireBearerAuth, with the error classes of this program's SDK.
const errors = await import('@modelcontextprotocol/sdk/server/auth/errors.js');
app.post('/mcp-verifier', requireBearerAuth({ verifier: mcpSdkVerifier(auth, { errors }) }), serve);
await follower.ready();
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on', process.env.PORT));
`;

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pack', version: '1' } } };
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function post(url, body, { token, headers = {} } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function connect(url, token) {
  const client = new Client({ name: 'hospiai-packaging', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

async function tryCall(client, name, args) {
  try {
    const r = await client.callTool({ name, arguments: args });
    return { ok: !r.isError, text: r.content?.[0]?.text ?? '' };
  } catch (error) {
    return { ok: false, text: String(error?.message ?? error), code: error?.code };
  }
}

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
}

const work = mkdtempSync(join(tmpdir(), 'hospiai-mcp-auth-pack-'));
// Its own temporary folder: the embedded PostgreSQL (another system user) must reach it from /tmp.
const dataDir = mkdtempSync(join(tmpdir(), 'hospiai-mcp-auth-pack-db-'));
const children = [];
let service;
try {
  // The tarball, built by its own prepack.
  run('npm', ['pack', '--silent', '--pack-destination', work], join(REPO_ROOT, 'libs', 'mcp-auth'));
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  const listing = run('tar', ['-tzf', join(work, tarball)], work);
  check(/package\/dist\/index\.js\n/.test(listing) && /package\/dist\/index\.d\.ts\n/.test(listing) && /package\/dist\/index\.js\.map\n/.test(listing) && /package\/src\/index\.ts\n/.test(listing),
    `${tarball} holds dist (code, types, maps) and the sources the maps point to`);

  // The service, with an admin, a user, and the MCP servers registered as clients.
  const port = await freePort();
  service = await startService({
    port, dataDir, readyPath: '/api/health', logFile: join(dataDir, 'service.log'),
    env: { PATH: process.env.PATH, NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
      RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE: '0', RATE_LIMIT_LOGIN_PER_MINUTE: '0' },
  });
  const base = service.base;
  const admin = (await login(base, ADMIN)).accessToken;
  const account = { email: 'packaging.user@chu-test.fr', password: 'packaging user passphrase', firstname: 'Paul', surname: 'Paquet' };
  await register(base, account);
  const user = (await login(base, account)).accessToken;
  const mcpClient = (await call(base, 'POST', '/api/mcp/clients', { token: admin, body: { name: 'packaging' } })).body;
  const token = (scopes) => createToken(base, user, { name: `pack ${scopes.join(' ')}`, scopes, durationDays: 1 });

  for (const pair of VERSIONS) {
    const [fastmcpVersion, sdkVersion] = pair.split('@');
    const dir = join(work, `project-${fastmcpVersion}-${sdkVersion}`);
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module' }));
    writeFileSync(join(dir, 'fastmcp-server.mjs'), FASTMCP_SERVER);
    writeFileSync(join(dir, 'sdk-server.mjs'), SDK_SERVER);
    const t0 = Date.now();
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(work, tarball), `fastmcp@${fastmcpVersion}`, `@modelcontextprotocol/sdk@${sdkVersion}`, 'express@5', 'zod@4'], dir);
    console.log(`\n== fastmcp ${fastmcpVersion}, @modelcontextprotocol/sdk ${sdkVersion} (installed in ${Date.now() - t0} ms)`);
    const installed = join(dir, 'node_modules', '@hospiai', 'mcp-auth');
    check(existsSync(join(installed, 'dist', 'index.js')) && !lstatSync(installed).isSymbolicLink(), 'the library is a copy from the tarball, with its dist');

    for (const kind of ['fastmcp', 'sdk']) {
      const sPort = await freePort();
      const server = await startService({
        name: `${kind} server`, script: join(dir, `${kind}-server.mjs`), cwd: dir, port: sPort, readyLine: 'listening on', timeoutMs: 30_000,
        env: { PATH: process.env.PATH, PORT: String(sPort), HOSPIAI_VALIDATION_URL: `${base}/api/mcp/validate`, HOSPIAI_CLIENT_ID: mcpClient.clientId, HOSPIAI_CLIENT_SECRET: mcpClient.clientSecret },
      });
      children.push(server);
      const url = `${server.base}/mcp`;
      const label = `${kind} ${kind === 'fastmcp' ? fastmcpVersion : sdkVersion}:`;

      const none = await post(url, INIT);
      check(none.status === 401 && /^Bearer/.test(none.headers.get('www-authenticate') ?? ''), `${label} no token → ${none.status} with a Bearer challenge`);
      for (const bad of ['not-a-token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl']) {
        const r = await post(url, INIT, { token: bad });
        check(r.status === 401, `${label} bad token → ${r.status}`);
      }
      if (kind === 'sdk') {
        const r = await post(`${server.base}/mcp-verifier`, INIT, { token: 'not-a-token' });
        check(r.status === 401, `${label} bad token through requireBearerAuth + mcpSdkVerifier → ${r.status} (not 500)`);
      }

      const reader = await token(['read:data']);
      const writer = await token(['read:data', 'write:bookings']);
      const { client } = await connect(url, reader.token);
      const read = await tryCall(client, 'get_patient', { patientId: 'P-1' });
      check(read.ok && read.text.includes(account.email), `${label} read:data token reads (${read.text})`);
      const denied = await tryCall(client, 'create_booking', { patientId: 'P-1', date: '2027-01-02' });
      check(!denied.ok && denied.text.includes('write:bookings'), `${label} missing scope → refused naming it (${denied.code ?? 'tool error'}: ${denied.text.slice(0, 90)})`);
      if (kind === 'sdk') {
        const r = await post(url, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'create_booking', arguments: { patientId: 'P-1', date: 'x' } } }, { token: reader.token });
        const challenge = r.headers.get('www-authenticate') ?? '';
        check(r.status === 403 && challenge.includes('error="insufficient_scope"') && challenge.includes('scope="write:bookings"'), `${label} tools/call without the scope → ${r.status} ${challenge}`);
      }

      // Session replay: the reader sends the writer's session id.
      const w = await connect(url, writer.token);
      const booked = await tryCall(w.client, 'create_booking', { patientId: 'P-1', date: '2027-01-02' });
      check(booked.ok, `${label} write:bookings token books (${booked.text})`);
      const sessionId = w.transport.sessionId;
      if (sessionId) {
        const replay = await post(url, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'create_booking', arguments: { patientId: 'P-2', date: '2027-01-03' } } }, {
          token: reader.token, headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
        });
        check(replay.status === 401 && !replay.text.includes('Rendez-vous'), `${label} another token on the writer's session ${sessionId.slice(0, 8)}… → ${replay.status}`);
        const still = await tryCall(w.client, 'get_patient', { patientId: 'P-1' });
        check(still.ok, `${label} the writer's session goes on`);
      } else {
        check(true, `${label} stateless: no session id to replay`);
      }

      // Revocation with the feed on: a cached token refused within 100 ms of the DELETE.
      const delays = [];
      for (let i = 0; i < 3; i++) {
        const victim = await token(['read:data']);
        const v = await connect(url, victim.token);
        for (let k = 0; k < 3; k++) await tryCall(v.client, 'get_patient', { patientId: 'P-1' });
        const del = await call(base, 'DELETE', `/api/tokens/${victim.id}`, { token: user });
        const revokedAt = Date.now();
        if (del.status !== 204) throw new Error(`revocation failed: ${del.status}`);
        let refusedAt;
        while (Date.now() - revokedAt < 5000) {
          const r = await tryCall(v.client, 'get_patient', { patientId: 'P-1' });
          if (!r.ok) { refusedAt = Date.now(); break; }
          await sleep(2);
        }
        delays.push(refusedAt === undefined ? Infinity : refusedAt - revokedAt);
        await v.client.close().catch(() => undefined);
      }
      check(delays.every((d) => d <= 100), `${label} revoked token refused after ${delays.join(', ')} ms (feed on, cache 1 h)`);
      await client.close().catch(() => undefined);
      await w.client.close().catch(() => undefined);
      server.extraTokens = await Promise.all([token(['read:data'])]);
    }

    // The service down: both servers answer 503.
    if (pair === VERSIONS[VERSIONS.length - 1]) {
      const fresh = children.slice(-2);
      const tokens = fresh.map((s) => s.extraTokens[0].token);
      await service.stop();
      for (const [i, s] of fresh.entries()) {
        const r = await post(`${s.base}/mcp`, INIT, { token: tokens[i] });
        check(r.status === 503, `${i === 0 ? 'fastmcp' : 'sdk'}: service down → ${r.status}`);
      }
    }
    for (const s of children.splice(0)) await s.stop(5000);
  }

  // Installed by folder path, as npm makes it a symlink into this repository: the verifier still
  // throws the classes of the server's own SDK, so a bad token is a 401, not a silent 500.
  const last = VERSIONS[VERSIONS.length - 1].split('@');
  const linked = join(work, `project-${last[0]}-${last[1]}`);
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(REPO_ROOT, 'libs', 'mcp-auth')], linked);
  check(lstatSync(join(linked, 'node_modules', '@hospiai', 'mcp-auth')).isSymbolicLink(), 'installed by folder path: a symlink');
  service = await startService({
    port: service.port, dataDir, readyPath: '/api/health', logFile: join(dataDir, 'service.log'),
    env: { PATH: process.env.PATH, NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(service.port), LOG_LEVEL: 'warn' },
  });
  const sPort = await freePort();
  const linkedServer = await startService({
    name: 'sdk server (symlinked library)', script: join(linked, 'sdk-server.mjs'), cwd: linked, port: sPort, readyLine: 'listening on', timeoutMs: 30_000,
    env: { PATH: process.env.PATH, PORT: String(sPort), HOSPIAI_VALIDATION_URL: `${service.base}/api/mcp/validate`, HOSPIAI_CLIENT_ID: mcpClient.clientId, HOSPIAI_CLIENT_SECRET: mcpClient.clientSecret },
  });
  children.push(linkedServer);
  const bad = await post(`${linkedServer.base}/mcp-verifier`, INIT, { token: 'not-a-token' });
  check(bad.status === 401, `symlinked library: bad token through requireBearerAuth + mcpSdkVerifier → ${bad.status} (not 500)`);
} catch (error) {
  check(false, `the run stopped: ${error?.stack ?? error}`);
} finally {
  for (const s of children) await s.stop(5000).catch(() => undefined);
  await service?.stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(`\npackaging took ${Math.round((Date.now() - started) / 1000)} s`);
console.log(`packaging: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;

// examples/python/fastmcp_integration.py: its SimpleHospiAIAuth (standard library only)
// run by python3 against the real service: a valid, an expired and a revoked
// token, a missing scope, and an unreachable service. The file must import
// without FastMCP installed. An outage is HospiAIUnavailable (503 through its
// ASGI middleware), never a refused token; HOSPIAI_TIMEOUT keeps its fractions;
// a missing or too old FastMCP is named with the version needed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/examples.js';
import { freePort } from '../support/harness.js';
import { createToken } from '../support/mcp.js';
import { createUser, startTestApp, type TestApp } from '../support/test-app.js';

const SCRIPT = `
import json, os, sys
sys.path.insert(0, os.environ["EXAMPLE_DIR"])
import fastmcp_integration as m

auth = m.SimpleHospiAIAuth()  # HOSPIAI_VALIDATION_URL from the environment
out = {"have_fastmcp": m.HAVE_FASTMCP}
for name in ("valid", "expired", "revoked"):
    token = os.environ["TOKEN_" + name.upper()]
    r = auth.check(token)
    out[name] = {"ok": r.ok, "reason": r.reason, "status": r.status, "message": r.message,
                 "email": r.data.get("user", {}).get("email"), "scopes": r.data.get("scopes"),
                 "validate_token": auth.validate_token(token) is not None}
r = auth.check(os.environ["TOKEN_VALID"], ["write:bookings"])
out["missing_scope"] = {"ok": r.ok, "reason": r.reason, "status": r.status}
out["garbage"] = auth.check("not a token").reason
down = m.SimpleHospiAIAuth("http://127.0.0.1:9/api/mcp/validate", timeout=2).check(os.environ["TOKEN_VALID"])
out["unavailable"] = down.reason
import time
cached = m.SimpleHospiAIAuth(cache_ttl=0.2, cache_max_entries=1)
cached.check(os.environ["TOKEN_VALID"])
time.sleep(0.3)
cached.check(os.environ["TOKEN_OTHER"])
out["cache_sizes"] = [len(cached._cache)]
time.sleep(0.3)
cached.check(os.environ["TOKEN_OTHER"])
out["cache_sizes"].append(len(cached._cache))
print(json.dumps(out))
`;

// Against the real service (valid, bad, under-scoped tokens), a port that refuses
// connections and one that accepts them and never answers.
const OUTAGE_SCRIPT = `
import asyncio, json, logging, os, sys, time
sys.path.insert(0, os.environ["EXAMPLE_DIR"])
import fastmcp_integration as m

valid, bad = os.environ["TOKEN_VALID"], os.environ["TOKEN_BAD"]
out = {"timeout": m.SimpleHospiAIAuth().timeout}

def outcome(auth, token, scopes=None):
    try:
        data = auth.validate_token(token, scopes)
        return {"raised": None, "email": data and data["user"]["email"]}
    except Exception as error:
        return {"raised": type(error).__name__, "is_unavailable": isinstance(error, m.HospiAIUnavailable),
                "message": str(error), "status": getattr(error, "status", None)}

auth = m.SimpleHospiAIAuth()
out["valid"] = outcome(auth, valid)
out["bad"] = outcome(auth, bad)
out["bad_reason"] = [auth.check(bad).reason, auth.check(bad).status]
out["missing_scope"] = outcome(auth, valid, ["write:bookings"])
out["missing_scope_reason"] = auth.check(valid, ["write:bookings"]).reason

refused = m.SimpleHospiAIAuth(os.environ["REFUSED_URL"])
out["refused"] = outcome(refused, valid)
out["refused_reason"] = refused.check(valid).reason

silent = m.SimpleHospiAIAuth(os.environ["SILENT_URL"])  # HOSPIAI_TIMEOUT=0.5
started = time.monotonic()
out["silent"] = outcome(silent, valid)
out["silent_seconds"] = time.monotonic() - started

base = {"HOSPIAI_INTROSPECTION_URL": "http://127.0.0.1:1/api/oauth/introspect", "HOSPIAI_CLIENT_ID": "mcp_x", "HOSPIAI_CLIENT_SECRET": "mcps_x"}
def settings(extra, version="3.1.0"):
    try:
        found = m.introspection_settings({**base, **extra}, version)
        return {k: v for k, v in found.items() if k in ("timeout_seconds", "cache_ttl_seconds")}
    except Exception as error:
        return {"raised": type(error).__name__, "message": str(error)}
out["introspection"] = {
    "half_second": settings({"HOSPIAI_TIMEOUT": "0.5"}),
    "cache_on_3_1": settings({"HOSPIAI_CACHE_TTL": "30"}),
    "cache_on_3_0": settings({"HOSPIAI_CACHE_TTL": "30"}, "3.0.2"),
    "no_cache_on_3_0": settings({}, "3.0.2"),
    "zero_timeout": settings({"HOSPIAI_TIMEOUT": "0"}),
    "word_timeout": settings({"HOSPIAI_TIMEOUT": "abc"}),
}

# The 503 middleware around an ASGI app that checks the bearer token with SimpleHospiAIAuth.
def app_with(checker):
    async def app(scope, receive, send):
        token = dict(scope["headers"])[b"authorization"].decode()[len("Bearer "):]
        if checker.validate_token(token) is None:
            await send({"type": "http.response.start", "status": 401, "headers": []})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    return m.RefuseWhenUnavailable(app)

lines = []
handler = logging.Handler()
handler.emit = lambda record: lines.append(record.getMessage())
logging.getLogger("hospiai").addHandler(handler)

def through(app, token):
    sent = []
    async def send(message):
        sent.append(message)
    async def receive():
        return {"type": "http.request", "body": b""}
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": [(b"authorization", ("Bearer " + token).encode())]}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return {"status": start["status"], "headers": {k.decode(): v.decode() for k, v in start["headers"]},
            "body": sent[1]["body"].decode()}

out["asgi"] = {"valid": through(app_with(auth), valid)["status"], "bad": through(app_with(auth), bad)["status"],
               "down": through(app_with(refused), valid)}
out["log"] = lines
print(json.dumps(out))
`;

// A FastMCP 2.x as pip installs it (package and metadata): require_scopes is not there.
const FASTMCP_2 = {
  'fastmcp/__init__.py': '__version__ = "2.14.5"\n',
  'fastmcp/server/__init__.py': '',
  'fastmcp/server/auth/__init__.py': 'class AccessToken: pass\nclass TokenVerifier: pass\n',
  'fastmcp-2.14.5.dist-info/METADATA': 'Metadata-Version: 2.1\nName: fastmcp\nVersion: 2.14.5\n',
};

function runPython(
  script: string,
  env: Record<string, string>,
  args: string[] = ['-c', script],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('SimpleHospiAIAuth (python3, examples/python/fastmcp_integration.py)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('tells a valid token from an expired and a revoked one', async () => {
    const user = await createUser(t);
    const valid = await createToken(t, user.token, ['read:data']);
    const expired = await createToken(t, user.token, ['read:data']);
    await t.db.query(`UPDATE api_tokens SET created_at = now() - interval '10 days', expires_at = now() - interval '1 second' WHERE id = $1`, [
      expired.id,
    ]);
    const other = await createToken(t, user.token, ['read:data']);
    const revoked = await createToken(t, user.token, ['read:data']);
    expect((await t.request('DELETE', `/api/tokens/${revoked.id}`, { token: user.token })).status).toBe(204);

    // Asynchronously: the service answering python3 runs in this very process.
    const run = await runPython(SCRIPT, {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PYTHONDONTWRITEBYTECODE: '1',
      EXAMPLE_DIR: join(REPO_ROOT, 'examples', 'python'),
      HOSPIAI_VALIDATION_URL: `${t.baseUrl}/api/mcp/validate`,
      TOKEN_VALID: valid.token,
      TOKEN_EXPIRED: expired.token,
      TOKEN_REVOKED: revoked.token,
      TOKEN_OTHER: other.token,
    });
    expect([run.status, run.stderr]).toEqual([0, '']);
    const out = JSON.parse(run.stdout);
    expect(out.valid).toEqual({ ok: true, reason: null, status: 200, message: null, email: user.email, scopes: ['read:data'], validate_token: true });
    expect(out.expired).toMatchObject({ ok: false, reason: 'expired', status: 401, message: 'Token expiré', validate_token: false });
    expect(out.revoked).toMatchObject({ ok: false, reason: 'revoked', status: 401, message: 'Token révoqué ou inexistant', validate_token: false });
    expect(out.missing_scope).toEqual({ ok: false, reason: 'insufficient_scope', status: 403 });
    expect(out.garbage).toBe('invalid');
    expect(out.unavailable).toBe('unavailable');
    // The cache is bounded and lets expired answers go (it used to keep every token it had seen).
    expect(out.cache_sizes).toEqual([1, 1]);
  });

  it('raises HospiAIUnavailable for an outage (503 through its middleware), never a refused token, and keeps HOSPIAI_TIMEOUT=0.5', async () => {
    const user = await createUser(t);
    const valid = await createToken(t, user.token, ['read:data']);
    const [header, payload] = valid.token.split('.');
    const bad = `${header}.${payload}.${'A'.repeat(43)}`;
    const refusedPort = await freePort();
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const run = await runPython(OUTAGE_SCRIPT, {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PYTHONDONTWRITEBYTECODE: '1',
        EXAMPLE_DIR: join(REPO_ROOT, 'examples', 'python'),
        HOSPIAI_VALIDATION_URL: `${t.baseUrl}/api/mcp/validate`,
        HOSPIAI_TIMEOUT: '0.5',
        REFUSED_URL: `http://127.0.0.1:${refusedPort}/api/mcp/validate`,
        SILENT_URL: `http://127.0.0.1:${silentPort}/api/mcp/validate`,
        TOKEN_VALID: valid.token,
        TOKEN_BAD: bad,
      });
      expect([run.status, run.stderr]).toEqual([0, '']);
      const out = JSON.parse(run.stdout);
      expect(out.timeout).toBe(0.5);
      expect(out.valid).toEqual({ raised: null, email: user.email });
      // A refused token is None (FastMCP: 401); only an outage raises.
      expect(out.bad).toEqual({ raised: null, email: null });
      expect(out.bad_reason).toEqual(['invalid', 401]);
      expect(out.missing_scope).toEqual({ raised: null, email: null });
      expect(out.missing_scope_reason).toBe('insufficient_scope');
      expect(out.refused).toMatchObject({ raised: 'HospiAIUnavailable', is_unavailable: true, status: null });
      expect(out.refused.message).toMatch(/^Service indisponible \(ConnectionRefusedError/);
      expect(out.refused_reason).toBe('unavailable');
      expect(out.silent).toMatchObject({ raised: 'HospiAIUnavailable', is_unavailable: true });
      // HOSPIAI_TIMEOUT=0.5: half a second, not 0 (no wait at all) nor the 10 s default.
      expect(out.silent_seconds).toBeGreaterThanOrEqual(0.45);
      expect(out.silent_seconds).toBeLessThan(5);
      // FastMCP's introspection verifier gets the fraction too, and cache_ttl_seconds only from 3.1.0.
      expect(out.introspection.half_second).toEqual({ timeout_seconds: 0.5 });
      expect(out.introspection.cache_on_3_1).toEqual({ timeout_seconds: 10, cache_ttl_seconds: 30 });
      expect(out.introspection.no_cache_on_3_0).toEqual({ timeout_seconds: 10 });
      expect(out.introspection.cache_on_3_0).toEqual({
        raised: 'RuntimeError',
        message:
          "FastMCP 3.0.2 is installed, but HOSPIAI_CACHE_TTL=30 (cache_ttl_seconds) needs FastMCP >= 3.1.0: pip install -U 'fastmcp>=3.1.0', or set HOSPIAI_CACHE_TTL=0",
      });
      expect(out.introspection.zero_timeout).toEqual({
        raised: 'ValueError',
        message: "HOSPIAI_TIMEOUT must be a number of seconds greater than 0 (got '0')",
      });
      expect(out.introspection.word_timeout).toMatchObject({ raised: 'ValueError' });
      // What an MCP client sees: 200, 401 for the bad token, 503 (not 401, not 500) for the outage.
      expect(out.asgi.valid).toBe(200);
      expect(out.asgi.bad).toBe(401);
      expect(out.asgi.down.status).toBe(503);
      expect(out.asgi.down.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(out.asgi.down.body)).toEqual({ error: 'Service indisponible', code: 'service_unavailable' });
      expect(out.log).toHaveLength(1);
      expect(out.log[0]).toMatch(/^HospiAI token service unavailable, POST \/mcp refused with 503: Service indisponible/);
      expect(run.stdout).not.toContain(valid.token.split('.')[2]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('names the FastMCP version found and the one needed when FastMCP is missing or too old', async () => {
    const script = join(REPO_ROOT, 'examples', 'python', 'fastmcp_integration.py');
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PYTHONDONTWRITEBYTECODE: '1' };
    const missing = await runPython('', env, [script]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe(
      "FastMCP is not installed: this example needs FastMCP >= 3.0.0 (pip install 'fastmcp>=3.0.0'); SimpleHospiAIAuth works without it",
    );

    const site = mkdtempSync(join(tmpdir(), 'hospiai-fastmcp2-'));
    try {
      for (const [path, text] of Object.entries(FASTMCP_2)) {
        mkdirSync(join(site, path, '..'), { recursive: true });
        writeFileSync(join(site, path), text);
      }
      const old = await runPython('', { ...env, PYTHONPATH: site }, [script]);
      expect(old.status).toBe(1);
      expect(old.stderr.trim()).toBe("FastMCP 2.14.5 is installed, but this example needs FastMCP >= 3.0.0: pip install -U 'fastmcp>=3.0.0'");
    } finally {
      rmSync(site, { recursive: true, force: true });
    }
  });
});

// examples/python/fastmcp_integration.py: its SimpleHospiAIAuth (standard library only)
// run by python3 against the real service: a valid, an expired and a revoked
// token, a missing scope, and an unreachable service. The file must import
// without FastMCP installed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/examples.js';
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

function runPython(script: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
});

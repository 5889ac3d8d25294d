// Browser test of the OAuth authorization server's pages: the built service (dist/) on its own
// embedded PostgreSQL, an MCP server registered as a resource, a client registered dynamically with
// a loopback redirect URI; Chromium (playwright-core) opens the authorization URL and a person logs
// in and consents with the keyboard only. French text, the pages' CSP, no script error.
// Run with `npm run build && node test/browser/oauth.browser-test.mjs`.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { URL, URLSearchParams } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { call, freePort, login, register, startService as startBuiltService } from '../../dist/test/support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ADMIN = { email: 'admin@chu-test.fr', password: 'a long admin passphrase for tests' };
const USER = { email: 'marie.curie@chu-test.fr', password: 'correct horse battery staple', firstname: 'Marie', surname: 'Curie' };
const RESOURCE = 'https://mcp-rdv.chu-test.fr/mcp';

const results = [];
let stopped = false;
async function step(name, fn) {
  if (stopped) {
    results.push('skipped');
    console.log(`  - ${name} (not run: an earlier step failed)`);
    return;
  }
  try {
    await fn();
    results.push('passed');
    console.log(`  ✓ ${name}`);
  } catch (err) {
    results.push('failed');
    stopped = true;
    console.log(`  ✗ ${name}\n${String(err?.stack ?? err).replace(/^/gm, '      ')}`);
  }
}

/** Presses Tab until the focused element's text is `label` (keyboard only). */
async function tabTo(page, label) {
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    const text = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    if (text === label) return;
  }
  throw new Error(`no focusable "${label}" reached with Tab`);
}

async function main() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'hospiai-oauth-browser-'));
  const env = { ...process.env, NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password };
  delete env.DATABASE_URL;
  delete env.JWT_SECRET;
  const service = await startBuiltService({ port, dataDir, env, readyPath: '/api/health/ready', timeoutMs: 120_000, intervalMs: 250 });
  const base = service.base;
  // The client's redirect URI: a loopback server that says it got the answer.
  const callbackPort = await freePort();
  const callback = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  await new Promise((r) => callback.listen(callbackPort, '127.0.0.1', r));
  const redirectUri = `http://127.0.0.1:${callbackPort}/callback`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const problems = [];
  try {
    const admin = await login(base, ADMIN);
    const server = await call(base, 'POST', '/api/mcp/clients', { token: admin.accessToken, body: { name: 'Rendez-vous', resourceUri: RESOURCE } });
    assert.equal(server.status, 201);
    await register(base, USER);
    const client = await call(base, 'POST', '/oauth/register', {
      body: { client_name: 'Agent de planification', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] },
    });
    assert.equal(client.status, 201);
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${base}/oauth/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: client.body.client_id,
      redirect_uri: redirectUri,
      scope: 'read:bookings read:audit',
      resource: RESOURCE,
      state: 'etat-navigateur',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();

    const context = await browser.newContext({ locale: 'fr-FR' });
    const page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const csps = [];
    page.on('response', (r) => {
      if (r.url().startsWith(`${base}/oauth/interaction/`) && r.request().method() === 'GET') csps.push(r.headers()['content-security-policy'] ?? '');
    });

    await step('the authorization URL leads to the French login page, keyboard first', async () => {
      await page.goto(url.href);
      await page.getByRole('heading', { name: 'Connexion' }).waitFor();
      assert.equal(await page.getAttribute('html', 'lang'), 'fr');
      assert.match(await page.textContent('main'), /Agent de planification/);
      // The email field has the focus: the person types, tabs, types, presses Enter.
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'email');
      await page.keyboard.type(USER.email);
      await page.keyboard.press('Tab');
      await page.keyboard.type(USER.password);
      await page.keyboard.press('Enter');
    });

    await step('the consent page names the client, the redirect host, the MCP server and the scopes, and refuses read:audit to a user', async () => {
      await page.getByRole('heading', { name: /Autoriser/ }).waitFor();
      const text = await page.textContent('main');
      assert.match(text, /Agent de planification/);
      assert.match(text, new RegExp(`127\\.0\\.0\\.1:${callbackPort}`));
      assert.match(text, /Rendez-vous/);
      assert.match(text, /Consulter les rendez-vous/);
      assert.match(text, /ne peuvent pas être accordées/);
    });

    await step('Autoriser with the keyboard sends the browser back to the client with code, state and iss', async () => {
      await tabTo(page, 'Autoriser');
      await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), page.keyboard.press('Enter')]);
      const back = new URL(page.url());
      assert.ok(back.searchParams.get('code'));
      assert.equal(back.searchParams.get('state'), 'etat-navigateur');
      assert.equal(back.searchParams.get('iss'), base);
    });

    await step('the pages carry a strict CSP (no script, forms to the service and the client only); no script error, no CSP violation', async () => {
      assert.ok(csps.length >= 2, `pages seen: ${csps.length}`);
      for (const csp of csps) {
        assert.match(csp, /default-src 'none'/);
        assert.doesNotMatch(csp, /script-src|unsafe-inline/);
        assert.match(csp, new RegExp(`form-action 'self' http://127\\.0\\.0\\.1:${callbackPort}`));
      }
      assert.deepEqual(problems, []);
    });
  } finally {
    await browser.close();
    callback.close();
    await service.stop(30_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const count = (s) => results.filter((r) => r === s).length;
  console.log(`oauth browser: ${count('passed')} passed, ${count('failed')} failed${count('skipped') ? `, ${count('skipped')} skipped` : ''}`);
  if (count('failed') > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  console.log('oauth browser: 0 passed, 1 failed');
  process.exit(1);
});

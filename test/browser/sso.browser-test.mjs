// Browser test of single sign-on: the built service (dist/, as `npm start` runs it) on its own
// embedded PostgreSQL, configured with a real OpenID provider (oidc-provider, panva, started here on
// loopback: test/support/oidc-idp.ts), driven through Debian's Chromium by playwright-core. A person
// clicks « Se connecter avec … » on the dashboard's login page, logs in on the provider's own login
// page, and lands on /dashboard/tokens with their name. Run by `npm run test:browser` (which builds).
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
// The shared harness and the test provider, compiled by `npm run build` (see test/support/harness.ts).
import { freePort, startService } from '../../dist/test/support/harness.js';
import { startTestIdp } from '../../dist/test/support/oidc-idp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = join(root, 'test', 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ACCOUNTS = {
  'sophie.germain': { email: 'sophie.germain@chu-test.fr', given_name: 'Sophie', family_name: 'Germain', groups: ['hospiai', 'hospiai-auditeurs'] },
  'paul.externe': { email: 'paul@ailleurs.fr', given_name: 'Paul', family_name: 'Externe', groups: ['hospiai'] },
};

const results = [];
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push('passed');
    console.log(`  ✓ ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push('failed');
    console.log(`  ✗ ${name}\n${String(err?.stack ?? err).replace(/^/gm, '      ')}`);
  }
}

/** At the provider's development login page: any password. */
async function loginAtProvider(page, login) {
  await page.locator('input[name="login"]').waitFor();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('un mot de passe quelconque');
  await page.locator('button[type="submit"]').click();
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const idp = await startTestIdp({ providerId: 'chu', accounts: ACCOUNTS });
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'hospiai-browser-sso-'));
  const env = { ...process.env, NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  delete env.JWT_SECRET;
  Object.assign(env, {
    OIDC_ISSUER: idp.issuer,
    OIDC_PROVIDER_ID: 'chu',
    OIDC_DISPLAY_NAME: 'CHU Test',
    OIDC_CLIENT_ID: idp.clientId,
    OIDC_CLIENT_SECRET: idp.clientSecret,
    OIDC_SCOPES: 'openid email profile groups',
    OIDC_ROLE_MAP: 'hospiai-auditeurs=auditor',
    OIDC_REQUIRED_GROUP: 'hospiai',
    OIDC_ALLOWED_DOMAINS: 'chu-test.fr',
  });
  console.log('browser (SSO): starting the built service on an embedded PostgreSQL and the test identity provider');
  const service = await startService({ port, dataDir, env, readyPath: '/api/health/ready', timeoutMs: 120_000, intervalMs: 250 });
  await idp.attach(service.base);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const problems = [];
  try {
    const context = await browser.newContext({ locale: 'fr-FR', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`${page.url()}: uncaught ${err.message}`));
    page.on('console', (msg) => {
      if (new URL(page.url()).origin !== service.base) return;
      if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`${page.url()}: ${msg.text()}`);
    });

    await step('the login page shows « Se connecter avec CHU Test »', async () => {
      await page.goto(`${service.base}/dashboard/login`);
      await page.getByRole('link', { name: 'Se connecter avec CHU Test' }).waitFor();
      await page.screenshot({ path: join(artifacts, 'sso-login-1280.png'), fullPage: true });
    });

    await step('clicking it leads to the provider\'s login page, and back to /dashboard/tokens with the right name and role', async () => {
      await page.getByRole('link', { name: 'Se connecter avec CHU Test' }).click();
      await page.waitForURL((url) => url.origin === idp.issuer);
      await loginAtProvider(page, 'sophie.germain');
      await page.waitForURL(`${service.base}/dashboard/tokens`);
      await page.locator('#user-name', { hasText: 'Sophie Germain' }).waitFor();
      assert.equal(await page.locator('#user-name').textContent(), 'Sophie Germain (auditeur)');
      await page.screenshot({ path: join(artifacts, 'sso-tokens-1280.png'), fullPage: true });
    });

    await step('a refused login comes back to the login page with the reason in French', async () => {
      const other = await browser.newContext({ locale: 'fr-FR' });
      const p = await other.newPage();
      await p.goto(`${service.base}/dashboard/login`);
      await p.getByRole('link', { name: 'Se connecter avec CHU Test' }).click();
      await loginAtProvider(p, 'paul.externe');
      await p.waitForURL(`${service.base}/dashboard/login?sso=domain`);
      await p.getByText('Connexion refusée : votre adresse e-mail n’appartient pas à un domaine autorisé.').waitFor();
      await other.close();
    });

    await step('no script error and no Content-Security-Policy refusal on the dashboard pages', async () => {
      assert.deepEqual(problems, []);
    });
  } finally {
    await browser.close();
    await service.stop(30_000);
    await idp.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const failed = results.filter((r) => r === 'failed').length;
  console.log(`browser (SSO): ${results.length - failed} passed, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  console.log('browser (SSO): 0 passed, 1 failed');
  process.exit(1);
});

// Browser test of the usage charts: the built service (dist/, as `npm start` runs it) on its own
// embedded PostgreSQL, driven through Debian's Chromium by playwright-core. A token is validated a
// few times (accepted and refused); its card on the tokens page then shows the chart of its
// validations per day with the table behind it; the audit page shows the counts per hour for its
// filters. Screenshots go to test/artifacts/, and with --docs-screenshot to docs/images/ (README).
// Run with `npm run build && node test/browser/usage.browser-test.mjs`.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { call, createToken, freePort, login, register, startService as startBuiltService } from '../../dist/test/support/harness.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = join(root, 'test', 'artifacts');
const docsImages = join(root, 'docs', 'images');
const DOCS = process.argv.includes('--docs-screenshot');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ADMIN = { email: 'admin@chu-test.fr', password: 'a long admin passphrase for tests' };
const USER = { email: 'marie.curie@chu-test.fr', password: 'correct horse battery staple', firstname: 'Marie', surname: 'Curie' };
const AUDITOR = { email: 'ada.lovelace@chu-test.fr', password: 'another long passphrase', firstname: 'Ada', surname: 'Lovelace' };
const TOKEN_NAME = 'Serveur FastMCP des urgences';
const ACCEPTED = 6;
const REFUSED = 2;

const results = [];
let stopped = false;

async function step(name, fn) {
  if (stopped) {
    results.push('skipped');
    console.log(`  - ${name} (not run: an earlier step failed)`);
    return;
  }
  const started = Date.now();
  try {
    await fn();
    results.push('passed');
    console.log(`  ✓ ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push('failed');
    stopped = true;
    console.log(`  ✗ ${name}\n${String(err?.stack ?? err).replace(/^/gm, '      ')}`);
  }
}

async function startService() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'hospiai-browser-usage-'));
  const env = { ...process.env, NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password };
  delete env.DATABASE_URL;
  delete env.JWT_SECRET;
  const service = await startBuiltService({ port, dataDir, env, readyPath: '/api/health/ready', timeoutMs: 120_000, intervalMs: 250 });
  return {
    base: service.base,
    async stop() {
      await service.stop(30_000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function watchConsole(page, problems) {
  page.on('pageerror', (err) => problems.push(`${page.url()}: uncaught ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && !text.startsWith('Failed to load resource')) problems.push(`${page.url()}: ${text}`);
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`${page.url()}: ${text}`);
  });
}

async function logIn(page, base, account, landing) {
  await page.goto(`${base}/dashboard/login`);
  await page.getByLabel('Adresse e-mail').fill(account.email);
  await page.getByLabel('Mot de passe').fill(account.password);
  await page.getByLabel('Mot de passe').press('Enter');
  await page.waitForURL(landing);
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  mkdirSync(docsImages, { recursive: true });
  console.log('browser (usage): starting the built service on an embedded PostgreSQL');
  const service = await startService();
  const { base } = service;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  console.log(`browser (usage): service at ${base}; Chromium ${browser.version()}`);
  const problems = [];
  let token;
  try {
    await step('a token, validated 6 times and refused twice (insufficient scope)', async () => {
      await register(base, USER);
      const { user: auditor } = await register(base, AUDITOR);
      const admin = await login(base, ADMIN);
      assert.equal((await call(base, 'PATCH', `/api/users/${auditor.id}`, { token: admin.accessToken, body: { role: 'auditor' } })).status, 200);
      const session = await login(base, USER);
      token = await createToken(base, session.accessToken, { name: TOKEN_NAME, scopes: ['read:data'], durationDays: 90 });
      await createToken(base, session.accessToken, { name: 'Serveur MCP de test (inutilisé)', scopes: ['read:bookings'], durationDays: 30 });
      for (let i = 0; i < ACCEPTED; i++) assert.equal((await call(base, 'POST', '/api/mcp/validate', { token: token.token })).status, 200);
      for (let i = 0; i < REFUSED; i++) {
        const r = await call(base, 'POST', '/api/mcp/validate', { token: token.token, body: { requiredScopes: ['write:bookings'] } });
        assert.equal(r.status, 403);
      }
    });

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR', timezoneId: 'Europe/Paris' });
    const page = await context.newPage();
    watchConsole(page, problems);

    await step("the tokens page shows the token's usage chart, with its table", async () => {
      await logIn(page, base, USER, /\/dashboard\/tokens$/);
      const card = page.locator(`article.usage-card[data-token-id="${token.id}"]`);
      await card.waitFor();
      await card.getByRole('heading', { name: TOKEN_NAME }).waitFor();
      // 30 days, of which today has both kinds of bars.
      assert.equal(await card.locator('svg.bar-chart rect.series-ok').count(), 1);
      assert.equal(await card.locator('svg.bar-chart rect.series-refused').count(), 1);
      assert.equal(await card.locator('svg.bar-chart').getAttribute('aria-hidden'), 'true');
      // The table: 30 rows, today's with the counts; read by screen readers before it is shown.
      const table = card.getByRole('table', { name: /Validations par jour du token/ });
      assert.equal(await table.locator('tbody tr').count(), 30);
      const last = table.locator('tbody tr').last();
      assert.deepEqual(await last.locator('td').allTextContents(), [String(ACCEPTED), String(REFUSED)]);
      await card.getByRole('button', { name: 'Afficher le tableau des chiffres' }).click();
      assert.equal(await card.getByRole('button', { name: 'Masquer le tableau des chiffres' }).getAttribute('aria-expanded'), 'true');
      await card.getByRole('button', { name: 'Masquer le tableau des chiffres' }).click();
      await card.getByText(`${ACCEPTED} acceptées, ${REFUSED} refusées sur 30 jours`).waitFor();
      const top = card.getByRole('table', { name: 'Adresses les plus fréquentes' });
      assert.deepEqual(await top.locator('tbody tr').first().locator('th, td').allTextContents().then((c) => c.slice(0, 3)), ['127.0.0.1', String(ACCEPTED), String(REFUSED)]);
      await page.screenshot({ path: join(artifacts, 'tokens-usage-1280.png'), fullPage: true });
      const section = page.locator('#usage-section');
      if (DOCS) await section.screenshot({ path: join(docsImages, 'token-usage.png') });
    });

    await step('a new validation shows after "Actualiser"', async () => {
      assert.equal((await call(base, 'POST', '/api/mcp/validate', { token: token.token })).status, 200);
      await page.getByRole('button', { name: 'Actualiser' }).click();
      await page.locator(`article.usage-card[data-token-id="${token.id}"]`).getByText(`${ACCEPTED + 1} acceptées`).waitFor();
    });

    const auditContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR', timezoneId: 'Europe/Paris' });
    const auditPage = await auditContext.newPage();
    watchConsole(auditPage, problems);

    await step('the audit page shows the counts per hour for its filters, with the table', async () => {
      await logIn(auditPage, base, AUDITOR, /\/dashboard\/tokens$/);
      await auditPage.goto(`${base}/dashboard/audit`);
      const section = auditPage.locator('#audit-chart-section');
      await section.waitFor();
      await section.getByRole('heading', { name: 'Événements par heure' }).waitFor();
      const table = section.getByRole('table', { name: /Nombre d’événements par heure/ });
      await table.waitFor({ state: 'attached' });
      const rows = await table.locator('tbody tr').count();
      assert.ok(rows >= 24 && rows <= 25, `${rows} hours`);
      assert.ok((await section.locator('rect.bar').count()) > 0);
      // Filtered by type: only validations.
      await Promise.all([
        auditPage.waitForResponse((r) => new URL(r.url()).pathname === '/api/audit/stats' && new URL(r.url()).searchParams.get('type') === 'token.validate'),
        (async () => {
          await auditPage.getByLabel('Type').selectOption('token.validate');
          await auditPage.getByRole('button', { name: 'Filtrer' }).click();
        })(),
      ]);
      await section.getByRole('table', { name: /type token\.validate/ }).waitFor({ state: 'attached' });
      const cells = await section.locator('tbody tr td').allTextContents();
      const sum = cells.reduce((n, c) => n + Number(c.replace(/\s/g, '')), 0);
      assert.equal(sum, ACCEPTED + REFUSED + 1);
      await auditPage.screenshot({ path: join(artifacts, 'audit-chart-1280.png'), fullPage: true });
      if (DOCS) await section.screenshot({ path: join(docsImages, 'audit-chart.png') });
    });

    await step('no script error and nothing refused by the Content-Security-Policy', async () => {
      assert.deepEqual(problems, []);
    });
  } finally {
    await browser.close();
    await service.stop();
  }
  const count = (s) => results.filter((r) => r === s).length;
  console.log(`browser (usage): ${count('passed')} passed, ${count('failed')} failed${count('skipped') ? `, ${count('skipped')} skipped` : ''}`);
  if (count('failed') > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  console.log('browser (usage): 0 passed, 1 failed');
  process.exit(1);
});

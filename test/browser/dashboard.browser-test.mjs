// Browser tests of the token dashboard: the built service (dist/, as `npm start`
// runs it) on its own embedded PostgreSQL, driven through Debian's Chromium
// by playwright-core. Screenshots of every page at 1280 px and 375 px go to
// test/artifacts/. Run with `npm run test:browser` (which builds first).
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium).
// Flag: --docs-screenshot also writes docs/dashboard-tokens.png and docs/images/dashboard-token-allowlist.png
// for the README.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
// The shared harness, compiled by `npm run build` (see test/support/harness.ts).
import { call, createToken, freePort, login, register, startService as startBuiltService } from '../../dist/test/support/harness.js';
import { testGovernance } from './governance.browser-steps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = join(root, 'test', 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ADMIN = { email: 'admin@chu-test.fr', password: 'a long admin passphrase for tests' };
const USER = { email: 'marie.curie@chu-test.fr', password: 'correct horse battery staple', firstname: 'Marie', surname: 'Curie' };
const AUDITOR = { email: 'ada.lovelace@chu-test.fr', password: 'another long passphrase', firstname: 'Ada', surname: 'Lovelace' };
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const TOKEN_NAME = 'Serveur FastMCP des urgences';

// ---------------------------------------------------------------- the service

/** Starts `node dist/src/main.js` on a free port with a fresh data folder (embedded PostgreSQL). */
async function startService() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'hospiai-browser-'));
  const env = { ...process.env, NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  delete env.JWT_SECRET;
  env.ADMIN_EMAIL = ADMIN.email;
  env.ADMIN_PASSWORD = ADMIN.password;
  const service = await startBuiltService({ port, dataDir, env, readyPath: '/api/health/ready', timeoutMs: 120_000, intervalMs: 250 });
  return {
    base: service.base,
    async stop() {
      await service.stop(30_000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const validate = (base, token) => call(base, 'POST', '/api/mcp/validate', { token });

// ---------------------------------------------------------------- the runner

const results = [];
let stopped = false;

/** Runs one step; after a failure the later steps (which build on it) are reported as not run. */
async function step(name, fn) {
  if (stopped) {
    results.push({ name, status: 'skipped' });
    console.log(`  - ${name} (not run: an earlier step failed)`);
    return;
  }
  const started = Date.now();
  try {
    const note = await fn();
    results.push({ name, status: 'passed' });
    console.log(`  ✓ ${name} (${Date.now() - started} ms)${typeof note === 'string' ? ` — ${note}` : ''}`);
  } catch (err) {
    results.push({ name, status: 'failed' });
    stopped = true;
    console.log(`  ✗ ${name}\n${String(err?.stack ?? err).replace(/^/gm, '      ')}`);
  }
}

const VIEWPORTS = [
  { width: 1280, height: 900 },
  { width: 375, height: 812 },
];

/** Full-page screenshots at 1280 px and 375 px, then back to the desktop size. */
async function screenshots(page, name) {
  for (const viewport of VIEWPORTS) {
    await page.setViewportSize(viewport);
    await page.evaluate(() => document.fonts.ready);
    await page.screenshot({ path: join(artifacts, `${name}-${viewport.width}.png`), fullPage: true });
  }
  await page.setViewportSize(VIEWPORTS[0]);
}

/** No horizontal scrolling at this width. */
async function fitsWidth(page, width) {
  await page.setViewportSize({ width, height: 800 });
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.setViewportSize(VIEWPORTS[0]);
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth} px wide at a ${width} px viewport`);
}

function watchConsole(page, problems) {
  page.on('pageerror', (err) => problems.push(`${page.url()}: uncaught ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    // Failed requests are part of the tests (401, 400, 403) and are checked where they happen.
    if (msg.type() === 'error' && !text.startsWith('Failed to load resource')) problems.push(`${page.url()}: ${text}`);
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`${page.url()}: ${text}`);
  });
}

/** Clicks "Filtrer" on the audit page and waits for the new events to be shown. */
async function applyFilters(page) {
  await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/audit/events'),
    page.getByRole('button', { name: 'Filtrer' }).click(),
  ]);
  await page.locator('#events-table[aria-busy="false"]').waitFor({ state: 'attached' });
}

// ---------------------------------------------------------------- the tests

/** Starts the built service on an embedded PostgreSQL and Chromium, saying so. */
async function startServiceAndBrowser() {
  mkdirSync(artifacts, { recursive: true });
  const started = Date.now();
  console.log('browser: starting the built service on an embedded PostgreSQL');
  const service = await startService();
  console.log(`browser: service ready at ${service.base} (${Date.now() - started} ms); Chromium ${CHROMIUM}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  console.log(`browser: Chromium ${browser.version()}`);
  return { service, browser };
}

/** The user and the auditor, through the API (the auditor promoted by the admin). */
async function createAccounts(base) {
  await register(base, USER);
  const { user: auditor } = await register(base, AUDITOR);
  const admin = await login(base, ADMIN);
  const promoted = await call(base, 'PATCH', `/api/users/${auditor.id}`, { token: admin.accessToken, body: { role: 'auditor' } });
  assert.equal(promoted.status, 200, promoted.text);
}

/** A French browser context at the desktop size, and its page, whose script errors go to `problems`. */
async function openPage(browser, problems, clipboardOrigin) {
  const context = await browser.newContext({
    viewport: VIEWPORTS[0],
    locale: 'fr-FR',
    timezoneId: 'Europe/Paris',
    acceptDownloads: true,
  });
  if (clipboardOrigin) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: clipboardOrigin });
  const page = await context.newPage();
  watchConsole(page, problems);
  return { context, page };
}

/** The login page, then the user logs in. */
async function testLogin(base, page, context) {
  await step('an unauthenticated visit to /dashboard/tokens lands on /dashboard/login', async () => {
    await page.goto(`${base}/dashboard/tokens`);
    await page.waitForURL(/\/dashboard\/login\?/);
    assert.equal(new URL(page.url()).searchParams.get('next'), '/dashboard/tokens');
    await page.getByRole('heading', { name: 'Connexion' }).waitFor();
  });

  await step('every page is served with the CSP, nosniff and no-referrer, and has no inline script or style', async () => {
    for (const path of ['/dashboard/login', '/dashboard/tokens', '/dashboard/audit']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      const html = await res.text();
      for (const m of html.matchAll(/<script\b([^>]*)>/gi)) assert.match(m[1], /\bsrc=/, `${path}: inline <script>`);
      assert.doesNotMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i, `${path}: inline style or handler`);
      assert.match(html, /<html lang="fr">/);
    }
  });

  await step('login page: screenshots at 1280 and 375 px, fits 320 px', async () => {
    await screenshots(page, 'login');
    await fitsWidth(page, 320);
  });

  await step('a wrong password shows a French error', async () => {
    await page.getByLabel('Adresse e-mail').fill(USER.email);
    await page.getByLabel('Mot de passe').fill('not the password at all');
    await page.getByLabel('Mot de passe').press('Enter');
    await page.locator('#login-error', { hasText: 'Adresse e-mail ou mot de passe incorrect.' }).waitFor();
  });

  await step('a refusal for too many attempts says, in French, how long to wait (Retry-After)', async () => {
    // The lockout's answer, as the service words it, for one request.
    await page.route('**/api/auth/login', (route) =>
      route.fulfill({
        status: 429,
        headers: { 'Content-Type': 'application/json', 'Retry-After': '900' },
        body: JSON.stringify({
          error: 'Too many requests: try again later',
          code: 'too_many_requests',
          requestId: 'req-test',
          retryAfter: 900,
        }),
      }),
    );
    await page.getByLabel('Mot de passe').press('Enter');
    await page.locator('#login-error', { hasText: 'Trop de demandes. Réessayez dans 15 minutes.' }).waitFor();
    await page.unroute('**/api/auth/login');
  });

  await step('logging in with the keyboard sets an HttpOnly SameSite=Strict session cookie that scripts cannot read', async () => {
    await page.getByLabel('Mot de passe').fill(USER.password);
    await page.getByLabel('Mot de passe').press('Enter');
    await page.waitForURL(`${base}/dashboard/tokens`);
    await page.getByRole('heading', { name: 'Mes tokens', level: 1 }).waitFor();
    await page.locator('#user-name', { hasText: 'Marie Curie' }).waitFor();
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === 'hospiai_session');
    const csrf = cookies.find((c) => c.name === 'hospiai_csrf');
    assert.ok(session && csrf, 'both cookies are set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.path, '/');
    assert.equal(csrf.httpOnly, false);
    assert.equal(csrf.sameSite, 'Strict');
    const visible = await page.evaluate(() => document.cookie);
    assert.ok(!visible.includes('hospiai_session'), 'document.cookie does not show the session');
    assert.ok(!visible.includes(session.value));
    const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
    assert.equal(stored, 0, 'nothing in web storage');
    // The audit link is for auditors and admins only.
    assert.equal(await page.getByRole('link', { name: 'Journal d’audit' }).count(), 0);
  });
}

/** The tokens page: create, validate, rotate and revoke a token. Returns the first token and its id. */
async function testTokens(base, page) {
  let token;
  let tokenId;
  let rotated;
  let rotatedId;

  await step('the scopes are checkboxes with their descriptions from GET /api/tokens/scopes', async () => {
    const scopes = await call(base, 'GET', '/api/tokens/scopes', { token: (await login(base, USER)).accessToken });
    for (const { scope, description } of scopes.body) {
      const box = page.getByRole('checkbox', { name: scope });
      await box.waitFor();
      const describedBy = await box.getAttribute('aria-describedby');
      assert.equal((await page.locator(`#${describedBy}`).textContent()).trim(), description);
    }
  });

  await step('server-side errors show next to their fields, in French', async () => {
    await page.getByLabel('Nom', { exact: true }).fill('   ');
    await page.getByLabel('Durée de validité, en jours').fill('400');
    await page.getByRole('button', { name: 'Créer le token' }).click();
    await page.locator('#name-error', { hasText: 'Donnez un nom au token : de 1 à 100 caractères.' }).waitFor();
    await page.locator('#scopes-error', { hasText: 'Cochez au moins une portée.' }).waitFor();
    await page.locator('#duration-error', { hasText: 'La durée doit être un nombre entier de jours, de 1 à 365.' }).waitFor();
    assert.equal(await page.getByLabel('Nom', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.match(await page.getByLabel('Durée de validité, en jours').getAttribute('aria-describedby'), /duration-error/);
    // The first field in error has the focus.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'name');
    await screenshots(page, 'tokens-errors');

    // A plain user may not grant read:audit: the server says so next to the scopes.
    await page.getByLabel('Nom', { exact: true }).fill('Essai');
    await page.getByRole('checkbox', { name: 'read:audit' }).check();
    await page.getByRole('button', { name: '30 jours' }).click();
    await page.getByRole('button', { name: 'Créer le token' }).click();
    await page.locator('#scopes-error', { hasText: 'Seuls les auditeurs et les administrateurs peuvent accorder read:audit.' }).waitFor();
    assert.ok(await page.locator('#name-error').isHidden());
    await page.getByRole('checkbox', { name: 'read:audit' }).uncheck();
  });

  await step('"Nouveau Token" creates a token shown once, read-only, with a warning and a copy button', async () => {
    await page.getByLabel('Nom', { exact: true }).fill(TOKEN_NAME);
    await page.getByRole('checkbox', { name: 'read:data' }).check();
    await page.getByRole('checkbox', { name: 'write:bookings' }).check();
    await page.getByRole('button', { name: '365 jours' }).click();
    await page.getByRole('button', { name: '30 jours' }).click();
    assert.equal(await page.getByLabel('Durée de validité, en jours').inputValue(), '30');
    assert.equal(await page.getByRole('button', { name: '30 jours' }).getAttribute('aria-pressed'), 'true');
    await page.getByRole('button', { name: 'Créer le token' }).click();
    const panel = page.locator('#secret-panel');
    await panel.waitFor({ state: 'visible' });
    await panel.getByText('Copiez-le maintenant : il ne sera plus jamais affiché.').waitFor();
    const field = page.getByRole('textbox', { name: `Token « ${TOKEN_NAME} »`, exact: true });
    assert.equal(await field.getAttribute('readonly'), '');
    token = await field.inputValue();
    assert.match(token, JWT);
    await page.getByRole('button', { name: 'Copier' }).click();
    await page.locator('#copy-status', { hasText: 'Token copié dans le presse-papiers.' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    const row = page.locator('#tokens-body tr', { hasText: TOKEN_NAME });
    await row.waitFor();
    tokenId = await row.getAttribute('data-token-id');
    assert.ok(tokenId);
    await screenshots(page, 'tokens-created');
  });

  await step('the token read from the page validates at POST /api/mcp/validate (200)', async () => {
    const res = await validate(base, token);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.valid, true);
    assert.equal(res.body.token.id, tokenId);
    assert.equal(res.body.token.name, TOKEN_NAME);
    assert.deepEqual([...res.body.scopes].sort(), ['read:data', 'write:bookings']);
    assert.equal(res.body.user.email, USER.email);
    const days = (Date.parse(res.body.token.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
  });

  await step('after a reload the token text is gone; the list shows it active, last used from 127.0.0.1', async () => {
    await page.reload();
    const row = page.locator(`#tokens-body tr[data-token-id="${tokenId}"]`);
    await row.waitFor();
    assert.ok(!(await page.content()).includes(token), 'the token is not in the page');
    assert.ok(await page.locator('#secret-panel').isHidden());
    await row.locator('.status', { hasText: 'Actif' }).waitFor();
    await row.getByText('depuis 127.0.0.1').waitFor();
    assert.match(await row.locator('[data-label="Portées"]').innerText(), /read:data[\s\S]*write:bookings/);
  });

  await step('rotate (with confirmation) shows the new token once; the old one is refused', async () => {
    await page.getByRole('button', { name: `Renouveler le token ${TOKEN_NAME}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Renouveler le token « Serveur FastMCP des urgences » \?/);
    await dialog.getByRole('button', { name: 'Renouveler' }).click();
    const field = page.getByRole('textbox', { name: `Token « ${TOKEN_NAME} »`, exact: true });
    await field.waitFor();
    rotated = await field.inputValue();
    assert.match(rotated, JWT);
    assert.notEqual(rotated, token);
    const fresh = await validate(base, rotated);
    assert.equal(fresh.status, 200, fresh.text);
    rotatedId = fresh.body.token.id;
    const old = await validate(base, token);
    assert.equal(old.status, 401);
    assert.equal(old.body.error, 'Token révoqué ou inexistant');
    await page.locator(`#tokens-body tr[data-token-id="${tokenId}"] .status`, { hasText: 'Révoqué' }).waitFor();
    await page.getByRole('button', { name: 'J’ai copié le token : le masquer' }).click();
    assert.equal(await page.locator('#secret-value').inputValue(), '');
  });

  await step('revoke asks for confirmation (Annuler keeps the token), then revokes: "Token révoqué ou inexistant"', async () => {
    const revoke = page.getByRole('button', { name: `Révoquer le token ${TOKEN_NAME}` });
    await revoke.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Annuler' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await validate(base, rotated)).status, 200, 'cancelled: still valid');
    await revoke.click();
    await dialog.getByRole('button', { name: 'Révoquer' }).click();
    await page.locator(`#tokens-body tr[data-token-id="${rotatedId}"] .status`, { hasText: 'Révoqué' }).waitFor();
    await page.locator('#list-status', { hasText: `Token « ${TOKEN_NAME} » révoqué.` }).waitFor();
    const res = await validate(base, rotated);
    assert.equal(res.status, 401);
    assert.deepEqual(res.body, { error: 'Token révoqué ou inexistant', code: 'token_revoked' });
  });

  await step('after a reload neither token is anywhere in the page', async () => {
    await page.reload();
    await page.locator(`#tokens-body tr[data-token-id="${rotatedId}"]`).waitFor();
    const html = await page.content();
    assert.ok(!html.includes(token) && !html.includes(rotated));
    const text = await page.evaluate(
      () => document.body.innerText + [...document.querySelectorAll('input, textarea')].map((e) => e.value).join(''),
    );
    assert.ok(!text.includes(rotated));
  });

  await step('a cookie-authenticated POST without X-CSRF-Token is refused (403 csrf_failed)', async () => {
    const answer = await page.evaluate(async () => {
      const res = await fetch('/api/tokens', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'forgé', scopes: ['read:data'], durationDays: 1 }),
      });
      return { status: res.status, body: await res.json() };
    });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, 'csrf_failed');
  });

  await step('keyboard: the skip link comes first and the focus is visible', async () => {
    await page.goto(`${base}/dashboard/tokens`);
    await page.locator('#tokens-body tr').first().waitFor();
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { text: el.textContent, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.equal(first.text, 'Aller au contenu');
    assert.notEqual(first.outline, 'none');
    assert.ok(first.width >= 2);
    await page.getByLabel('Nom', { exact: true }).focus();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none');
  });

  await step('tokens page: screenshots at 1280 and 375 px, fits 320 px', async () => {
    // A few tokens in every state for the pictures.
    const session = (await login(base, USER)).accessToken;
    for (const [name, scopes, durationDays] of [
      ['Agent de planification des blocs', ['read:bookings', 'write:bookings'], 90],
      ['Export nocturne des séjours', ['read:data'], 365],
    ]) {
      const created = await createToken(base, session, { name, scopes, durationDays });
      if (name.startsWith('Agent')) assert.equal((await validate(base, created.token)).status, 200);
    }
    await page.reload();
    await page.locator('#tokens-body tr').nth(3).waitFor();
    await screenshots(page, 'tokens');
    await fitsWidth(page, 320);
    if (process.argv.includes('--docs-screenshot')) {
      await page.setViewportSize({ width: 1024, height: 768 });
      await page.screenshot({ path: join(root, 'docs', 'dashboard-tokens.png'), fullPage: true });
      await page.setViewportSize(VIEWPORTS[0]);
    }
  });
  return { token, tokenId };
}

/** What a user who is not an auditor may not see; logging out. */
async function testUserLimits(base, page, context) {
  await step('a user who is not an auditor sees "Accès réservé" on /dashboard/audit', async () => {
    await page.goto(`${base}/dashboard/audit`);
    await page.getByRole('heading', { name: 'Accès réservé' }).waitFor();
    assert.equal(await page.locator('#events-table').count(), 0);
    await screenshots(page, 'audit-denied');
  });

  await step('logout clears both cookies; the dashboard then sends back to the login page', async () => {
    await page.goto(`${base}/dashboard/tokens`);
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await page.waitForURL(/\/dashboard\/login\?raison=logout/);
    await page.getByText('Vous êtes déconnecté.').waitFor();
    const names = (await context.cookies(base)).map((c) => c.name);
    assert.ok(!names.includes('hospiai_session') && !names.includes('hospiai_csrf'), `cookies left: ${names}`);
    await page.goto(`${base}/dashboard/tokens`);
    await page.waitForURL(/\/dashboard\/login\?/);
  });
}

/** The audit page, as an auditor: the token's validations, filters, the CSV export. */
async function testAudit(base, auditPage, { token, tokenId }) {
  await step('an auditor logs in and sees the validation of the token in /dashboard/audit', async () => {
    await auditPage.goto(`${base}/dashboard/audit`);
    await auditPage.waitForURL(/\/dashboard\/login\?/);
    await auditPage.getByLabel('Adresse e-mail').fill(AUDITOR.email);
    await auditPage.getByLabel('Mot de passe').fill(AUDITOR.password);
    await auditPage.getByRole('button', { name: 'Se connecter' }).click();
    await auditPage.waitForURL(`${base}/dashboard/audit`);
    await auditPage.getByRole('heading', { name: 'Journal d’audit', level: 1 }).waitFor();
    await auditPage.locator(`#events-body tr[data-type="token.validate"]`).first().waitFor();
    await auditPage.getByLabel('Token (identifiant)').fill(tokenId);
    await auditPage.getByLabel('Type').selectOption('token.validate');
    await applyFilters(auditPage);
    const rows = auditPage.locator('#events-body tr');
    await auditPage.locator('#events-body tr[data-outcome="revoked"]').waitFor();
    const outcomes = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-outcome')));
    // Newest first: refused after the rotation, accepted before it.
    assert.deepEqual(outcomes, ['revoked', 'valid'], `outcomes: ${outcomes}`);
    const valid = auditPage.locator('#events-body tr[data-outcome="valid"]');
    await valid.getByText('Valide').waitFor();
    await valid.getByText('127.0.0.1').waitFor();
    assert.equal(await valid.locator('[data-label="Token"] code').getAttribute('title'), tokenId);
    await auditPage.getByLabel('Résultat').selectOption('valid');
    await applyFilters(auditPage);
    await auditPage.locator('#events-status', { hasText: '1 événement affiché' }).waitFor();
    // A filter the API refuses is explained next to it, in French.
    await auditPage.getByLabel('Adresse IP').fill('pas-une-ip');
    await applyFilters(auditPage);
    await auditPage.locator('#ip-error', { hasText: 'Saisissez une adresse IPv4 ou IPv6 complète' }).waitFor();
    assert.equal(await auditPage.getByLabel('Adresse IP').getAttribute('aria-invalid'), 'true');
    await auditPage.getByLabel('Adresse IP').fill('127.0.0.1');
    await applyFilters(auditPage);
    await auditPage.locator('#events-status', { hasText: '1 événement affiché' }).waitFor();
    assert.ok(await auditPage.locator('#ip-error').isHidden());
  });

  await step('the auditor exports the filtered events as CSV', async () => {
    const [download] = await Promise.all([
      auditPage.waitForEvent('download'),
      auditPage.getByRole('link', { name: 'Exporter en CSV' }).click(),
    ]);
    const file = await download.path();
    const csv = readFileSync(file, 'utf8');
    writeFileSync(join(artifacts, 'audit-export.csv'), csv);
    assert.match(download.suggestedFilename(), /\.csv$/);
    assert.ok(csv.includes(tokenId), 'the export names the token');
    assert.ok(csv.includes('token.validate'));
    assert.ok(!csv.includes(token), 'the export never holds the token');
  });

  await step('an export the API would refuse is explained on the page, in French, and nothing is downloaded', async () => {
    await auditPage.getByLabel('Période', { exact: true }).selectOption('custom');
    await auditPage.getByLabel('Du').fill('2026-11-27T12:00');
    await auditPage.getByLabel('Au').fill('2026-11-26T12:00');
    let downloads = 0;
    auditPage.on('download', () => (downloads += 1));
    await auditPage.getByRole('link', { name: 'Exporter en CSV' }).click();
    await auditPage.locator('#period-error', { hasText: 'La date de début doit précéder la date de fin.' }).waitFor();
    await auditPage.waitForTimeout(500);
    assert.equal(downloads, 0, 'no JSON error saved as a file');
    await auditPage.getByLabel('Période', { exact: true }).selectOption('');
  });

  await step('every event type and outcome the API knows can be filtered on, with a French name', async () => {
    const types = await auditPage.locator('#type option').evaluateAll((l) => l.map((o) => o.value).filter(Boolean));
    const outcomes = await auditPage.locator('#outcome option').evaluateAll((l) => l.map((o) => o.value).filter(Boolean));
    // The service's own lists (dist/, built with the dashboard).
    const { AUDIT_TYPES, AUDIT_OUTCOMES } = await import(new URL('../../dist/src/audit/audit.types.js', import.meta.url).href);
    assert.deepEqual([...types].sort(), [...AUDIT_TYPES].sort(), 'the type filter offers exactly the types');
    assert.deepEqual([...outcomes].sort(), [...AUDIT_OUTCOMES].sort(), 'the outcome filter offers exactly the outcomes');
  });

  await step('audit page: screenshots at 1280 and 375 px, fits 320 px', async () => {
    await auditPage.getByRole('button', { name: 'Réinitialiser' }).click();
    await applyFilters(auditPage);
    await auditPage.locator('#events-body tr').nth(5).waitFor();
    await screenshots(auditPage, 'audit');
    await fitsWidth(auditPage, 320);
  });
}

/** Over the whole run: script errors in the pages; the sizes of the pages. */
async function testWholeRun(base, problems) {
  await step('no script error and no Content-Security-Policy violation in any page', async () => {
    assert.deepEqual(problems, []);
  });

  await step('sizes of the pages as served (bytes; brotli as sent to browsers)', async () => {
    const rows = [];
    for (const path of [
      '/dashboard/login',
      '/dashboard/tokens',
      '/dashboard/audit',
      ...['common', 'login', 'tokens', 'audit'].map((n) => `/dashboard/assets/${n}.js`),
      '/dashboard/assets/dashboard.css',
    ]) {
      const plain = await fetch(base + path, { headers: { 'accept-encoding': 'identity' } });
      const br = await fetch(base + path, { headers: { 'accept-encoding': 'br, gzip' } });
      const gz = await fetch(base + path, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(br.headers.get('content-encoding'), 'br');
      rows.push(
        `${path.padEnd(32)} ${plain.headers.get('content-length').padStart(6)}  br ${br.headers.get('content-length').padStart(5)}  gzip ${gz.headers.get('content-length').padStart(5)}`,
      );
      await Promise.all([plain.arrayBuffer(), br.arrayBuffer(), gz.arrayBuffer()]);
    }
    console.log(rows.map((r) => `      ${r}`).join('\n'));
  });
}

/** The closing lines (CI counts the last one). */
function printSummary() {
  const count = (s) => results.filter((r) => r.status === s).length;
  const skipped = count('skipped');
  console.log(`browser: screenshots in ${artifacts}`);
  console.log(`browser: ${count('passed')} passed, ${count('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (count('failed') > 0) process.exitCode = 1;
}

async function main() {
  const { service, browser } = await startServiceAndBrowser();
  const { base } = service;
  const problems = [];
  try {
    await createAccounts(base);
    const { context, page } = await openPage(browser, problems, base);
    await testLogin(base, page, context);
    const created = await testTokens(base, page);
    const { page: adminPage } = await openPage(browser, problems);
    await testGovernance(base, page, adminPage, {
      step,
      screenshots,
      fitsWidth,
      root,
      USER,
      ADMIN,
      docsScreenshot: process.argv.includes('--docs-screenshot'),
    });
    await testUserLimits(base, page, context);
    const { page: auditPage } = await openPage(browser, problems);
    await testAudit(base, auditPage, created);
    await testWholeRun(base, problems);
  } finally {
    await browser.close();
    await service.stop();
  }
  printSummary();
}

main().catch((err) => {
  console.error(err);
  console.log('browser: 0 passed, 1 failed');
  process.exit(1);
});

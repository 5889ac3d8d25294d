// Browser steps of token governance (docs/governance.md), run by dashboard.browser-test.mjs with
// its runner: a token created with an IP allowlist on /dashboard/tokens, listed, then edited;
// the token policy page for admins.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { call, login } from '../../dist/test/support/harness.js';

const ALLOWLISTED = 'Serveur MCP de la pharmacie';

/**
 * `page` is the user's tokens page (logged in); `adminPage` a fresh page for the admin.
 * `h` gives the runner's helpers: step, screenshots, fitsWidth, root, docsScreenshot and the accounts.
 */
export async function testGovernance(base, page, adminPage, h) {
  const { step, screenshots, fitsWidth, root, USER, ADMIN } = h;
  let token;
  let tokenId;

  await step('a token created with an IP allowlist is listed with its entries in canonical form', async () => {
    await page.goto(`${base}/dashboard/tokens`);
    await page.getByLabel('Nom', { exact: true }).fill(ALLOWLISTED);
    await page.getByRole('checkbox', { name: 'read:data' }).check();
    await page.getByRole('button', { name: '30 jours' }).click();
    await page.getByLabel('Adresses IP autorisées (facultatif)').fill('10.20.30.40/16\n2001:DB8:0::/32');
    await page.getByRole('button', { name: 'Créer le token' }).click();
    const field = page.getByRole('textbox', { name: `Token « ${ALLOWLISTED} »`, exact: true });
    await field.waitFor();
    token = await field.inputValue();
    await page.getByRole('button', { name: 'J’ai copié le token : le masquer' }).click();
    const row = page.locator('#tokens-body tr', { hasText: ALLOWLISTED });
    await row.waitFor();
    tokenId = await row.getAttribute('data-token-id');
    const listed = await row.locator('[data-label="Adresses autorisées"] li').allInnerTexts();
    assert.deepEqual(listed, ['10.20.0.0/16', '2001:db8::/32']);
  });

  await step('validate from outside the list (loopback) is 403 ip_not_allowed', async () => {
    const res = await call(base, 'POST', '/api/mcp/validate', { token });
    assert.equal(res.status, 403, res.text);
    assert.deepEqual(res.body, { error: 'Adresse IP non autorisée', code: 'ip_not_allowed' });
  });

  await step('"Modifier" refuses an entry that is not an address, then saves the name and the list; validate is then 200', async () => {
    await page.getByRole('button', { name: `Modifier le token ${ALLOWLISTED}` }).click();
    const dialog = page.getByRole('dialog', { name: `Modifier le token « ${ALLOWLISTED} »` });
    await dialog.waitFor();
    await dialog.getByLabel('Adresses IP autorisées').fill('10.20.0.0/16\nintranet');
    await dialog.getByRole('button', { name: 'Enregistrer' }).click();
    await page.locator('#edit-allowed-ips-error', { hasText: '"intranet" n’est ni une adresse IPv4 ou IPv6 ni une plage CIDR' }).waitFor();
    await dialog.getByLabel('Nom du token').fill(`${ALLOWLISTED} (poste local)`);
    await dialog.getByLabel('Adresses IP autorisées').fill('10.20.0.0/16\n127.0.0.1\n::1');
    await dialog.getByRole('button', { name: 'Enregistrer' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const row = page.locator(`#tokens-body tr[data-token-id="${tokenId}"]`);
    await row.getByText(`${ALLOWLISTED} (poste local)`).waitFor();
    assert.deepEqual(await row.locator('[data-label="Adresses autorisées"] li').allInnerTexts(), ['10.20.0.0/16', '127.0.0.1', '::1']);
    const res = await call(base, 'POST', '/api/mcp/validate', { token });
    assert.equal(res.status, 200, res.text);
  });

  await step('tokens page with allowlists: screenshots at 1280 and 375 px, fits 320 px; the picture of docs/images', async () => {
    await page.reload();
    await page.locator(`#tokens-body tr[data-token-id="${tokenId}"]`).waitFor();
    await screenshots(page, 'tokens-allowlist');
    await fitsWidth(page, 320);
    if (h.docsScreenshot) {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.screenshot({ path: join(root, 'docs', 'images', 'dashboard-token-allowlist.png'), fullPage: true });
    }
  });

  await step('a user sees no policy link, and "Accès réservé" on /dashboard/policies', async () => {
    assert.ok(await page.getByRole('link', { name: 'Politique des tokens' }).isHidden());
    await page.goto(`${base}/dashboard/policies`);
    await page.getByRole('heading', { name: 'Accès réservé' }).waitFor();
    assert.ok(await page.locator('#policy-content').isHidden());
    await page.goto(`${base}/dashboard/tokens`);
  });

  await step('an admin sets a maximum lifetime on /dashboard/policies; a longer token is then refused', async () => {
    await adminPage.goto(`${base}/dashboard/policies`);
    await adminPage.waitForURL(/\/dashboard\/login\?/);
    await adminPage.getByLabel('Adresse e-mail').fill(ADMIN.email);
    await adminPage.getByLabel('Mot de passe').fill(ADMIN.password);
    await adminPage.getByRole('button', { name: 'Se connecter' }).click();
    await adminPage.waitForURL(/\/dashboard\/(tokens|policies)/);
    await adminPage.goto(`${base}/dashboard/policies`);
    await adminPage.getByRole('heading', { name: 'Règles pour les nouveaux tokens' }).waitFor();
    await adminPage.getByLabel('Durée de validité maximale, en jours').fill('90');
    await adminPage.getByLabel('Utilisateur peut accorder write:data').uncheck();
    await adminPage.getByRole('button', { name: 'Enregistrer la politique' }).click();
    await adminPage.locator('#policy-status', { hasText: 'Politique enregistrée' }).waitFor();
    await screenshots(adminPage, 'policies');
    await fitsWidth(adminPage, 320);

    const session = (await login(base, USER)).accessToken;
    const tooLong = await call(base, 'POST', '/api/tokens', { token: session, body: { name: 'long', scopes: ['read:data'], durationDays: 365 } });
    assert.equal(tooLong.status, 400, tooLong.text);
    assert.equal(tooLong.body.code, 'policy_max_lifetime');
    const restricted = await call(base, 'POST', '/api/tokens', { token: session, body: { name: 'écriture', scopes: ['write:data'], durationDays: 30 } });
    assert.equal(restricted.status, 403, restricted.text);
    assert.equal(restricted.body.code, 'policy_scope_restricted');

    // Back to the defaults for the steps that follow.
    await adminPage.getByLabel('Durée de validité maximale, en jours').fill('365');
    await adminPage.getByLabel('Utilisateur peut accorder write:data').check();
    await adminPage.getByRole('button', { name: 'Enregistrer la politique' }).click();
    await adminPage.locator('#policy-status', { hasText: 'Politique enregistrée' }).waitFor();
    const policy = await call(base, 'GET', '/api/admin/policies', { token: (await login(base, ADMIN)).accessToken });
    assert.equal(policy.body.maxLifetimeDays, 365);
    assert.deepEqual(policy.body.restrictedScopes, {});
  });
}

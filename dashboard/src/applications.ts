// /dashboard/applications: the applications (OAuth clients) the person authorized, and their revocation.
import { announce, api, byId, confirmAction, currentUser, frenchError, h, setupHeader, showText, timeElement } from './common.js';

interface Grant {
  id: string;
  clientId: string;
  clientName: string;
  resource: string;
  serverName: string | null;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
}

async function load(): Promise<void> {
  const { grants } = await api<{ grants: Grant[] }>('GET', '/api/oauth/grants');
  const body = byId('grants-body');
  body.replaceChildren(
    ...grants.map((g) =>
      h(
        'tr',
        {},
        h('td', { 'data-label': 'Application' }, h('strong', {}, g.clientName), h('br'), h('small', {}, g.clientId)),
        h('td', { 'data-label': 'Serveur MCP' }, g.serverName ?? '(serveur retiré)', h('br'), h('small', {}, h('code', {}, g.resource))),
        h('td', { 'data-label': 'Portées' }, ...g.scopes.map((s) => h('code', { class: 'scope' }, s))),
        h('td', { 'data-label': 'Autorisée le' }, timeElement(g.createdAt)),
        h(
          'td',
          { 'data-label': 'Actions' },
          h('button', { type: 'button', class: 'danger', 'data-grant': g.id, 'data-name': g.clientName }, 'Retirer'),
        ),
      ),
    ),
  );
  byId('grants-table').hidden = grants.length === 0;
  byId('grants-empty').hidden = grants.length !== 0;
}

async function revoke(id: string, name: string): Promise<void> {
  const ok = await confirmAction(
    `Retirer l’autorisation de « ${name} » ?`,
    'L’application ne pourra plus agir en votre nom : ses tokens sont révoqués immédiatement.',
    'Retirer',
  );
  if (!ok) return;
  await api('DELETE', `/api/oauth/grants/${encodeURIComponent(id)}`);
  announce(`Autorisation de ${name} retirée.`);
  await load();
}

async function main(): Promise<void> {
  const user = await currentUser();
  setupHeader(user);
  byId('grants-body').addEventListener('click', (event) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-grant]');
    if (!button) return;
    void revoke(button.dataset.grant!, button.dataset.name ?? '').catch((err: unknown) => showText(byId('page-error'), frenchError(err)));
  });
  await load();
}

void main().catch((err: unknown) => showText(byId('page-error'), frenchError(err)));

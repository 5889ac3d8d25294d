// /dashboard/tokens: the caller's tokens; create (shown once), rename or change the IP allowlist, rotate, revoke.
import {
  announce,
  api,
  ApiError,
  byId,
  confirmAction,
  currentUser,
  frenchError,
  h,
  setupHeader,
  showText,
  timeElement,
  type FieldError,
} from './common.js';
import { allowlistCell, allowlistMessage, allowlistOf, editToken } from './token-allowlist.js';

type Status = 'active' | 'expired' | 'revoked';

interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokedReason: 'revoked' | 'rotated' | 'owner_disabled' | 'policy' | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  allowedIps: string[] | null;
  status: Status;
  /** The MCP server (resource URI) the token is bound to, or null. */
  audience?: string | null;
  /** The OAuth client the token was issued to, or null for a token made by hand. */
  viaClient?: { clientId: string; name: string } | null;
}

interface CreatedToken {
  id: string;
  name: string;
  scopes: string[];
  expiresAt: string;
  token: string;
}

interface ScopeView {
  scope: string;
  description: string;
}

const STATUS: Record<Status, { label: string; icon: string }> = {
  active: { label: 'Actif', icon: '✓' },
  expired: { label: 'Expiré', icon: '⌛' },
  revoked: { label: 'Révoqué', icon: '✕' },
};

/** The form's fields, by the name the API gives them in `fields`. */
const FIELDS = { name: 'name', scopes: 'scopes', durationDays: 'duration', allowedIps: 'allowed-ips' } as const;
type FieldName = keyof typeof FIELDS;

/** A French message for a field the API refused. */
function fieldMessage(err: ApiError, f: FieldError): string {
  // The token policy's refusals are worded in French by the service.
  if (err.code.startsWith('policy_')) return f.message;
  if (f.field === 'allowedIps') return allowlistMessage(f);
  if (f.field === 'name') return 'Donnez un nom au token : de 1 à 100 caractères.';
  if (f.field === 'scopes') {
    if (err.code === 'scope_not_allowed') {
      const refused = f.message.split(' may only')[0];
      return `Seuls les auditeurs et les administrateurs peuvent accorder ${refused}.`;
    }
    if (/empty/.test(f.message)) return 'Cochez au moins une portée.';
    if (/duplicate/.test(f.message)) return 'Chaque portée ne peut être cochée qu’une fois.';
    return 'Une des portées cochées n’existe pas : rechargez la page.';
  }
  if (f.field === 'durationDays') return 'La durée doit être un nombre entier de jours, de 1 à 365.';
  return `Champ « ${f.field} » refusé.`;
}

function isField(name: string): name is FieldName {
  return Object.hasOwn(FIELDS, name);
}

function clearFieldErrors(): void {
  for (const id of Object.values(FIELDS)) {
    showText(byId(`${id}-error`), '');
    byId(id === 'scopes' ? 'scopes-field' : id).removeAttribute('aria-invalid');
  }
  showText(byId('create-error'), '');
}

/** Shows each refused field's message next to it and focuses the first; false when no field is named. */
function showFieldErrors(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  const fields = err.fields.filter((f) => isField(f.field));
  if (fields.length === 0) return false;
  const seen = new Set<string>();
  for (const f of fields) {
    const id = FIELDS[f.field as FieldName];
    if (seen.has(id)) continue;
    seen.add(id);
    showText(byId(`${id}-error`), fieldMessage(err, f));
    byId(id === 'scopes' ? 'scopes-field' : id).setAttribute('aria-invalid', 'true');
  }
  const first = FIELDS[fields[0].field as FieldName];
  if (first === 'scopes') byId('scopes-list').querySelector<HTMLInputElement>('input')?.focus();
  else byId(first).focus();
  return true;
}

/** Why a token was revoked, as the list shows it under its status. */
const REVOKED_REASON: Record<string, string> = {
  revoked: 'révoqué à la demande',
  rotated: 'remplacé par un nouveau token',
  owner_disabled: 'compte désactivé',
  policy: 'révoqué par la politique des tokens',
};

function statusBadge(status: Status, reason: string | null = null): HTMLElement {
  const s = STATUS[status] ?? { label: status, icon: '?' };
  const badge = h('span', { class: `status status-${status}` }, h('span', { 'aria-hidden': 'true', class: 'status-icon' }, s.icon), ` ${s.label}`);
  if (status !== 'revoked' || !reason) return badge;
  return h('span', {}, badge, h('span', { class: 'muted revoked-reason', 'data-reason': reason }, ` (${REVOKED_REASON[reason] ?? reason})`));
}

function lastUse(t: TokenView): HTMLElement {
  if (!t.lastUsedAt) return h('span', { class: 'muted' }, 'Jamais');
  return h('span', {}, timeElement(t.lastUsedAt), t.lastUsedIp ? h('span', { class: 'ip' }, ` depuis ${t.lastUsedIp}`) : null);
}

function cell(label: string, ...content: (Node | string | null)[]): HTMLTableCellElement {
  return h('td', { 'data-label': label }, ...content);
}

function tokenRow(
  t: TokenView,
  actions: { edit: (t: TokenView) => void; rotate: (t: TokenView) => void; revoke: (t: TokenView) => void },
): HTMLTableRowElement {
  const buttons = h('div', { class: 'row-actions' });
  if (t.status !== 'revoked') {
    buttons.append(
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Modifier le token ${t.name}`, onClick: () => actions.edit(t) }, 'Modifier'),
    );
    buttons.append(
      h(
        'button',
        { type: 'button', class: 'secondary', 'aria-label': `Renouveler le token ${t.name}`, onClick: () => actions.rotate(t) },
        'Renouveler',
      ),
    );
  }
  if (t.status === 'active') {
    buttons.append(
      h(
        'button',
        { type: 'button', class: 'danger', 'aria-label': `Révoquer le token ${t.name}`, onClick: () => actions.revoke(t) },
        'Révoquer',
      ),
    );
  }
  return h(
    'tr',
    { 'data-token-id': t.id, 'data-status': t.status },
    h(
      'th',
      { scope: 'row', 'data-label': 'Nom' },
      t.name,
      t.viaClient ? h('span', { class: 'via' }, ` via ${t.viaClient.name}`) : null,
      t.audience ? h('span', { class: 'audience' }, ` (pour ${t.audience})`) : null,
    ),
    cell('Portées', h('ul', { class: 'scopes-inline' }, ...t.scopes.map((s) => h('li', {}, h('code', {}, s))))),
    cell('Créé le', timeElement(t.createdAt)),
    cell('Expire le', timeElement(t.expiresAt)),
    cell('Dernière utilisation', lastUse(t)),
    cell('Adresses autorisées', allowlistCell(t)),
    cell('Statut', statusBadge(t.status, t.revokedReason)),
    cell('Actions', buttons.childElementCount > 0 ? buttons : h('span', { class: 'muted' }, '—')),
  );
}

class TokensPage {
  private readonly form = byId<HTMLFormElement>('create-form');
  private readonly duration = byId<HTMLInputElement>('duration');
  private readonly secretPanel = byId('secret-panel');
  private readonly secretValue = byId<HTMLTextAreaElement>('secret-value');

  async start(): Promise<void> {
    const user = await currentUser();
    setupHeader(user);
    this.wireForm();
    this.wireSecretPanel();
    await Promise.all([this.loadScopes(), this.loadTokens()]);
  }

  private async loadScopes(): Promise<void> {
    const list = byId('scopes-list');
    try {
      const scopes = await api<ScopeView[]>('GET', '/api/tokens/scopes');
      list.replaceChildren(
        ...scopes.map((s, i) => {
          const id = `scope-${i}`;
          return h(
            'div',
            { class: 'scope' },
            h('input', { type: 'checkbox', id, name: 'scopes', value: s.scope, 'aria-describedby': `${id}-desc` }),
            h('label', { htmlFor: id }, h('code', {}, s.scope)),
            h('p', { id: `${id}-desc`, class: 'hint' }, s.description),
          );
        }),
      );
    } catch (err) {
      list.replaceChildren(h('p', { class: 'field-error' }, frenchError(err)));
    }
  }

  private async loadTokens(): Promise<void> {
    const body = byId('tokens-body');
    try {
      const { items } = await api<{ items: TokenView[] }>('GET', '/api/tokens');
      const actions = {
        edit: (t: TokenView) => editToken(t, () => this.loadTokens()),
        rotate: (t: TokenView) => void this.rotate(t),
        revoke: (t: TokenView) => void this.revoke(t),
      };
      body.replaceChildren(...items.map((t) => tokenRow(t, actions)));
      byId('tokens-table').hidden = items.length === 0;
      byId('list-empty').hidden = items.length !== 0;
      byId('list-count').textContent = items.length === 0 ? '' : `${items.length} token${items.length > 1 ? 's' : ''}`;
    } catch (err) {
      showText(byId('page-error'), frenchError(err));
    }
  }

  private wireForm(): void {
    const presets = [...document.querySelectorAll<HTMLButtonElement>('[data-days]')];
    const syncPresets = (): void => {
      for (const b of presets) b.setAttribute('aria-pressed', String(b.dataset.days === this.duration.value));
    };
    for (const b of presets) {
      b.addEventListener('click', () => {
        this.duration.value = b.dataset.days ?? '';
        syncPresets();
      });
    }
    this.duration.addEventListener('input', syncPresets);
    syncPresets();

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.create();
    });
  }

  private async create(): Promise<void> {
    clearFieldErrors();
    const name = byId<HTMLInputElement>('name').value;
    const scopes = [...this.form.querySelectorAll<HTMLInputElement>('input[name="scopes"]:checked')].map((c) => c.value);
    const raw = this.duration.value.trim();
    const durationDays = raw === '' ? null : Number(raw);
    const allowedIps = allowlistOf(byId<HTMLTextAreaElement>('allowed-ips').value);
    const submit = this.form.querySelector<HTMLButtonElement>('button[type="submit"]');
    if (submit) submit.disabled = true;
    try {
      const created = await api<CreatedToken>('POST', '/api/tokens', { body: { name, scopes, durationDays, allowedIps } });
      this.form.reset();
      this.duration.dispatchEvent(new Event('input'));
      this.showSecret(created, `Token « ${created.name} » créé.`);
      await this.loadTokens();
    } catch (err) {
      if (!showFieldErrors(err)) showText(byId('create-error'), frenchError(err));
    } finally {
      if (submit) submit.disabled = false;
    }
  }

  private async rotate(t: TokenView): Promise<void> {
    const ok = await confirmAction(
      `Renouveler le token « ${t.name} » ?`,
      'Un nouveau token est créé avec le même nom et les mêmes portées, et celui-ci est révoqué tout de suite : ' +
        'les serveurs qui l’utilisent seront refusés jusqu’à ce qu’ils reçoivent le nouveau.',
      'Renouveler',
    );
    if (!ok) return;
    const release = this.busyRow(t.id);
    showText(byId('page-error'), '');
    try {
      const created = await api<CreatedToken>('POST', `/api/tokens/${encodeURIComponent(t.id)}/rotate`, { body: {} });
      this.showSecret(created, `Token « ${created.name} » renouvelé : l’ancien est révoqué.`);
    } catch (err) {
      showText(byId('page-error'), frenchError(err));
    } finally {
      release();
    }
    await this.loadTokens();
  }

  /** Disables a row's buttons while its request is under way, so that it is not sent twice. */
  private busyRow(id: string): () => void {
    const row = byId('tokens-body').querySelector<HTMLTableRowElement>(`tr[data-token-id="${CSS.escape(id)}"]`);
    const buttons = row ? [...row.querySelectorAll<HTMLButtonElement>('button')] : [];
    for (const b of buttons) b.disabled = true;
    row?.setAttribute('aria-busy', 'true');
    return () => {
      for (const b of buttons) b.disabled = false;
      row?.removeAttribute('aria-busy');
    };
  }

  private async revoke(t: TokenView): Promise<void> {
    const ok = await confirmAction(
      `Révoquer le token « ${t.name} » ?`,
      'Les serveurs qui l’utilisent seront refusés dès leur prochaine requête. Cette action est définitive.',
      'Révoquer',
    );
    if (!ok) return;
    const release = this.busyRow(t.id);
    try {
      await api('DELETE', `/api/tokens/${encodeURIComponent(t.id)}`);
      showText(byId('page-error'), '');
      announce(`Token « ${t.name} » révoqué.`);
      byId('list-status').textContent = `Token « ${t.name} » révoqué.`;
    } catch (err) {
      showText(byId('page-error'), frenchError(err));
    } finally {
      release();
    }
    await this.loadTokens();
    byId('list-title').focus();
  }

  private showSecret(created: CreatedToken, message: string): void {
    byId('secret-name').textContent = created.name;
    this.secretValue.value = created.token;
    showText(byId('copy-status'), '');
    byId('secret-message').textContent = message;
    this.secretPanel.hidden = false;
    this.secretPanel.focus();
    announce(`${message} Copiez-le maintenant : il ne sera plus affiché.`);
  }

  private hideSecret(): void {
    this.secretValue.value = '';
    this.secretPanel.hidden = true;
    byId('name').focus();
  }

  private wireSecretPanel(): void {
    byId('copy').addEventListener('click', () => {
      void (async () => {
        const status = byId('copy-status');
        try {
          await navigator.clipboard.writeText(this.secretValue.value);
          showText(status, 'Token copié dans le presse-papiers.');
        } catch {
          this.secretValue.focus();
          this.secretValue.select();
          showText(status, 'Copie automatique impossible : le token est sélectionné, copiez-le avec Ctrl+C (⌘+C sur Mac).');
        }
      })();
    });
    this.secretValue.addEventListener('focus', () => this.secretValue.select());
    byId('secret-done').addEventListener('click', () => this.hideSecret());
  }
}

void new TokensPage().start().catch((err: unknown) => {
  if (err instanceof ApiError && err.status === 401) return;
  showText(byId('page-error'), frenchError(err));
});

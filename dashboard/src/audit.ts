// /dashboard/audit: the latest audit events, filtered, with a CSV export (auditors and admins).
import { api, ApiError, byId, canReadAudit, currentUser, frenchError, h, setupHeader, showText, timeElement } from './common.js';

interface AuditEvent {
  id: string;
  occurredAt: string;
  type: string;
  outcome: string;
  actorUserId: string | null;
  tokenId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  latencyMs: number | null;
  details: Record<string, unknown>;
}

const PAGE_SIZE = 100;

const TYPE_NAMES: Record<string, string> = {
  'token.validate': 'Validation de token',
  'token.create': 'Création de token',
  'token.revoke': 'Révocation de token',
  'token.rotate': 'Renouvellement de token',
  'auth.login': 'Connexion',
  'auth.register': 'Inscription',
  'auth.logout': 'Déconnexion (authentification unique)',
  'user.update': 'Modification de compte',
  'audit.prune': 'Purge du journal',
  'token.introspect': 'Introspection de token (OAuth)',
  'mcp_client.create': 'Enregistrement d’un serveur MCP',
  'mcp_client.revoke': 'Révocation d’un serveur MCP',
  'mcp_client.update': 'Modification d’un serveur MCP',
  'webhook.create': 'Enregistrement d’un webhook',
  'webhook.update': 'Modification d’un webhook',
  'webhook.delete': 'Suppression d’un webhook',
  'oauth.authorize': 'Demande d’autorisation (OAuth)',
  'oauth.consent': 'Consentement (OAuth)',
  'oauth.code_exchange': 'Échange de code (OAuth)',
  'oauth.refresh': 'Renouvellement de token (OAuth)',
  'oauth.refresh_replay': 'Réutilisation d’un refresh token (OAuth)',
  'oauth.client_register': 'Enregistrement d’un client (OAuth)',
  'oauth.client_document': 'Document de métadonnées d’un client (OAuth)',
  'oauth.revoke': 'Révocation (OAuth)',
  'oauth.grant_revoke': 'Retrait d’une autorisation (OAuth)',
};

const OUTCOME_NAMES: Record<string, string> = {
  valid: 'Valide',
  invalid: 'Invalide',
  expired: 'Expiré',
  revoked: 'Révoqué',
  insufficient_scope: 'Scope insuffisant',
  ip_not_allowed: 'Adresse IP non autorisée',
  error: 'Erreur',
  success: 'Succès',
  failure: 'Échec',
  already_revoked: 'Déjà révoqué',
  invalid_client: 'Serveur MCP non reconnu',
  throttled: 'Refusés par la limite (comptés par minute)',
};

/** Outcomes that went well, went badly, or neither; shown with a word and a symbol, not colour alone. */
const GOOD = new Set(['valid', 'success']);
const BAD = new Set(['invalid', 'expired', 'revoked', 'insufficient_scope', 'ip_not_allowed', 'error', 'failure', 'invalid_client', 'throttled']);

/** Filters the API may refuse: where to say so, and what. */
const FILTER_ERRORS: Record<string, { id: string; input: string; message: string }> = {
  tokenId: {
    id: 'token-error',
    input: 'token',
    message: 'Saisissez l’identifiant complet d’un token (un UUID, comme dans la colonne « Token »).',
  },
  ip: { id: 'ip-error', input: 'ip', message: 'Saisissez une adresse IPv4 ou IPv6 complète, par exemple 10.0.4.12.' },
  from: { id: 'period-error', input: 'from', message: 'La date de début doit précéder la date de fin.' },
  to: { id: 'period-error', input: 'to', message: 'La date de fin est invalide.' },
};

const PERIODS: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7j': 7 * 86_400_000, '30j': 30 * 86_400_000 };

/** A datetime-local value (local time) as ISO-8601 UTC; an unreadable value is sent as typed, for the API to refuse. */
function isoOf(local: string): string {
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

function outcomeBadge(outcome: string): HTMLElement {
  const kind = GOOD.has(outcome) ? 'good' : BAD.has(outcome) ? 'bad' : 'neutral';
  const icon = kind === 'good' ? '✓' : kind === 'bad' ? '✕' : '•';
  return h(
    'span',
    { class: `status outcome-${kind}` },
    h('span', { 'aria-hidden': 'true', class: 'status-icon' }, icon),
    ` ${OUTCOME_NAMES[outcome] ?? outcome}`,
  );
}

function detailsText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([k, v]) => {
      // A SHA-256 fingerprint is recognised by its first characters; the export has it whole.
      const text = typeof v === 'string' ? (k === 'fingerprint' && v.length > 16 ? `${v.slice(0, 12)}…` : v) : JSON.stringify(v);
      return `${k}: ${text}`;
    })
    .join(' · ');
}

function idCell(label: string, value: string | null): HTMLTableCellElement {
  return h('td', { 'data-label': label }, value ? h('code', { class: 'id', title: value }, value) : h('span', { class: 'muted' }, '—'));
}

function eventRow(e: AuditEvent): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-event-id': e.id, 'data-type': e.type, 'data-outcome': e.outcome },
    h('td', { 'data-label': 'Date' }, timeElement(e.occurredAt, true)),
    h('td', { 'data-label': 'Type' }, TYPE_NAMES[e.type] ?? e.type),
    h('td', { 'data-label': 'Résultat' }, outcomeBadge(e.outcome)),
    idCell('Utilisateur', e.actorUserId),
    idCell('Token', e.tokenId),
    h('td', { 'data-label': 'IP' }, e.ip ?? '—'),
    h('td', { 'data-label': 'Détails', class: 'details' }, detailsText(e.details ?? {}) || '—'),
  );
}

class AuditPage {
  private readonly form = byId<HTMLFormElement>('filters');
  private nextCursor: string | null = null;
  /** The filters of the listing shown: "Afficher plus" continues it, whatever the form says since. */
  private shown = new URLSearchParams();
  private loading = false;
  private exportChecked = false;

  async start(): Promise<void> {
    const user = await currentUser();
    setupHeader(user);
    if (!canReadAudit(user)) {
      this.deny();
      return;
    }
    byId('audit-content').hidden = false;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.load(false);
    });
    this.form.addEventListener('reset', () => setTimeout(() => this.syncPeriod(), 0));
    this.form.addEventListener('change', () => {
      this.syncPeriod();
      this.updateExportLink();
    });
    byId('more').addEventListener('click', () => void this.load(true));
    byId<HTMLAnchorElement>('export').addEventListener('click', (event) => void this.checkExport(event));
    this.syncPeriod();
    await this.load(false);
  }

  private deny(): void {
    byId('denied').hidden = false;
    byId('audit-content').remove();
  }

  private syncPeriod(): void {
    const custom = byId<HTMLSelectElement>('period').value === 'custom';
    byId('custom-period').hidden = !custom;
  }

  /** The filters as API query parameters. */
  private filters(): URLSearchParams {
    const q = new URLSearchParams();
    const value = (id: string): string => byId<HTMLInputElement | HTMLSelectElement>(id).value.trim();
    if (value('outcome')) q.set('outcome', value('outcome'));
    if (value('type')) q.set('type', value('type'));
    if (value('token')) q.set('tokenId', value('token'));
    if (value('ip')) q.set('ip', value('ip'));
    const period = value('period');
    if (PERIODS[period]) q.set('from', new Date(Date.now() - PERIODS[period]).toISOString());
    if (period === 'custom') {
      const from = value('from');
      const to = value('to');
      if (from) q.set('from', isoOf(from));
      if (to) q.set('to', isoOf(to));
    }
    return q;
  }

  private updateExportLink(): void {
    const q = this.filters();
    q.set('format', 'csv');
    byId<HTMLAnchorElement>('export').href = `/api/audit/events/export?${q.toString()}`;
  }

  private clearFilterErrors(): void {
    for (const f of Object.values(FILTER_ERRORS)) {
      showText(byId(f.id), '');
      byId(f.input).removeAttribute('aria-invalid');
    }
  }

  /** Shows the API's refusal of a filter next to it; false when no known filter is named. */
  private showFilterErrors(err: ApiError): boolean {
    const known = err.fields.filter((f) => Object.hasOwn(FILTER_ERRORS, f.field));
    for (const f of known) {
      const target = FILTER_ERRORS[f.field];
      showText(byId(target.id), target.message);
      byId(target.input).setAttribute('aria-invalid', 'true');
    }
    if (known.length > 0) byId(FILTER_ERRORS[known[0].field].input).focus();
    return known.length > 0;
  }

  /**
   * Before the browser downloads the export, asks the listing with the same filters (one event):
   * a refused filter, an expired session or an unavailable service is then said on the page, in
   * French, rather than saved as a JSON file or a failed download.
   */
  private async checkExport(event: MouseEvent): Promise<void> {
    const link = byId<HTMLAnchorElement>('export');
    if (this.exportChecked) {
      this.exportChecked = false;
      return;
    }
    event.preventDefault();
    showText(byId('audit-error'), '');
    this.clearFilterErrors();
    this.updateExportLink();
    const q = this.filters();
    q.set('limit', '1');
    link.setAttribute('aria-disabled', 'true');
    try {
      await api('GET', `/api/audit/events?${q.toString()}`);
      this.exportChecked = true;
      link.click();
    } catch (err) {
      if (err instanceof ApiError && err.fields.length > 0 && this.showFilterErrors(err)) return;
      showText(byId('audit-error'), frenchError(err));
    } finally {
      link.removeAttribute('aria-disabled');
    }
  }

  private async load(more: boolean): Promise<void> {
    if (this.loading) return;
    const body = byId('events-body');
    const status = byId('events-status');
    showText(byId('audit-error'), '');
    this.clearFilterErrors();
    this.updateExportLink();
    const q = more ? new URLSearchParams(this.shown) : this.filters();
    const filters = new URLSearchParams(q);
    q.set('limit', String(PAGE_SIZE));
    if (more && this.nextCursor) q.set('cursor', this.nextCursor);
    status.textContent = 'Chargement…';
    const table = byId('events-table');
    const buttons = [byId<HTMLButtonElement>('more'), ...this.form.querySelectorAll<HTMLButtonElement>('button')];
    this.loading = true;
    for (const b of buttons) b.disabled = true;
    table.setAttribute('aria-busy', 'true');
    try {
      const page = await api<{ items: AuditEvent[]; nextCursor: string | null }>('GET', `/api/audit/events?${q.toString()}`);
      const rows = page.items.map(eventRow);
      if (more) body.append(...rows);
      else body.replaceChildren(...rows);
      this.shown = filters;
      this.nextCursor = page.nextCursor;
      byId('more').hidden = !page.nextCursor;
      const count = body.childElementCount;
      byId('events-table').hidden = count === 0;
      status.textContent =
        count === 0
          ? 'Aucun événement ne correspond à ces filtres.'
          : `${count} événement${count > 1 ? 's' : ''} affiché${count > 1 ? 's' : ''}, du plus récent au plus ancien.`;
    } catch (err) {
      status.textContent = '';
      if (err instanceof ApiError && err.status === 403 && err.code !== 'csrf_failed') {
        this.deny();
        return;
      }
      if (err instanceof ApiError && err.fields.length > 0 && this.showFilterErrors(err)) return;
      showText(byId('audit-error'), frenchError(err));
    } finally {
      this.loading = false;
      for (const b of buttons) b.disabled = false;
      table.setAttribute('aria-busy', 'false');
    }
  }
}

void new AuditPage().start().catch((err: unknown) => {
  if (err instanceof ApiError && err.status === 401) return;
  showText(byId('audit-error'), frenchError(err));
});

// /dashboard/policies (admins): the token policy (GET/PUT /api/admin/policies): maximum lifetime,
// the roles that may grant each scope, an allowlist required for write scopes, and "appliquer aux
// tokens existants".
import {
  announce,
  api,
  ApiError,
  byId,
  confirmAction,
  currentUser,
  formatDate,
  frenchError,
  h,
  setupHeader,
  showText,
  type Role,
} from './common.js';

interface Policy {
  maxLifetimeDays: number;
  restrictedScopes: Record<string, Role[]>;
  allowlistRequiredForWrite: boolean;
  writeScopes: string[];
  updatedAt: string;
  updatedBy: string | null;
}

interface ScopeView {
  scope: string;
  description: string;
}

const ROLES: readonly Role[] = ['user', 'auditor', 'admin'];
const ROLE_LABELS: Record<Role, string> = { user: 'Utilisateur', auditor: 'Auditeur', admin: 'Administrateur' };

class PoliciesPage {
  private readonly form = byId<HTMLFormElement>('policy-form');
  private scopes: ScopeView[] = [];

  async start(): Promise<void> {
    const user = await currentUser();
    setupHeader(user);
    if (user.role !== 'admin') {
      byId('denied').hidden = false;
      return;
    }
    const [policy, scopes] = await Promise.all([api<Policy>('GET', '/api/admin/policies'), api<ScopeView[]>('GET', '/api/tokens/scopes')]);
    this.scopes = scopes;
    this.show(policy);
    byId('policy-content').hidden = false;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.save();
    });
  }

  private show(p: Policy): void {
    byId<HTMLInputElement>('max-lifetime').value = String(p.maxLifetimeDays);
    byId<HTMLInputElement>('allowlist-required').checked = p.allowlistRequiredForWrite;
    byId<HTMLInputElement>('apply-existing').checked = false;
    byId('write-scopes').textContent = p.writeScopes.join(', ');
    byId('policy-updated').textContent = p.updatedBy ? `Modifiée le ${formatDate(p.updatedAt)}.` : 'Règles par défaut.';
    byId('restricted-body').replaceChildren(
      ...this.scopes.map((s, i) =>
        h(
          'tr',
          { 'data-scope': s.scope },
          h('th', { scope: 'row', 'data-label': 'Portée' }, h('code', {}, s.scope)),
          ...ROLES.map((role) => {
            const id = `restrict-${i}-${role}`;
            const allowed = p.restrictedScopes[s.scope]?.includes(role) ?? true;
            return h(
              'td',
              { 'data-label': ROLE_LABELS[role] },
              h('input', { type: 'checkbox', id, 'data-role': role, checked: allowed }),
              h('label', { htmlFor: id, class: 'visually-hidden' }, `${ROLE_LABELS[role]} peut accorder ${s.scope}`),
            );
          }),
        ),
      ),
    );
  }

  /** The map scope → roles of the table: only the scopes with a role unchecked. */
  private restricted(): Record<string, Role[]> {
    const map: Record<string, Role[]> = {};
    for (const row of byId('restricted-body').querySelectorAll<HTMLTableRowElement>('tr[data-scope]')) {
      const roles = [...row.querySelectorAll<HTMLInputElement>('input[data-role]')]
        .filter((c) => c.checked)
        .map((c) => c.dataset.role as Role);
      if (roles.length < ROLES.length) map[row.dataset.scope ?? ''] = roles;
    }
    return map;
  }

  private async save(): Promise<void> {
    for (const id of ['max-lifetime-error', 'restricted-error', 'policy-error']) showText(byId(id), '');
    const restrictedScopes = this.restricted();
    const empty = Object.entries(restrictedScopes).find(([, roles]) => roles.length === 0);
    if (empty) {
      showText(byId('restricted-error'), `Laissez au moins un rôle autorisé à accorder ${empty[0]}.`);
      return;
    }
    const applyToExisting = byId<HTMLInputElement>('apply-existing').checked;
    if (
      applyToExisting &&
      !(await confirmAction(
        'Appliquer la politique aux tokens existants ?',
        'Les tokens actifs qui ne respectent pas ces règles seront révoqués tout de suite. Cette action est définitive.',
        'Appliquer et révoquer',
      ))
    ) {
      return;
    }
    const raw = byId<HTMLInputElement>('max-lifetime').value.trim();
    const body = {
      maxLifetimeDays: raw === '' ? null : Number(raw),
      restrictedScopes,
      allowlistRequiredForWrite: byId<HTMLInputElement>('allowlist-required').checked,
      applyToExisting,
    };
    const submit = this.form.querySelector<HTMLButtonElement>('button[type="submit"]');
    if (submit) submit.disabled = true;
    try {
      const saved = await api<Policy & { revokedTokens: number }>('PUT', '/api/admin/policies', { body });
      this.show(saved);
      const message = applyToExisting
        ? `Politique enregistrée et appliquée : ${saved.revokedTokens} token${saved.revokedTokens > 1 ? 's' : ''} révoqué${saved.revokedTokens > 1 ? 's' : ''}.`
        : 'Politique enregistrée : elle s’applique aux nouveaux tokens.';
      byId('policy-status').textContent = message;
      announce(message);
    } catch (err) {
      const fields = err instanceof ApiError ? err.fields : [];
      if (fields.some((f) => f.field === 'maxLifetimeDays'))
        showText(byId('max-lifetime-error'), 'La durée maximale doit être un nombre entier de jours, de 1 à 365.');
      else showText(byId('policy-error'), frenchError(err));
    } finally {
      if (submit) submit.disabled = false;
    }
  }
}

void new PoliciesPage().start().catch((err: unknown) => {
  if (err instanceof ApiError && err.status === 401) return;
  showText(byId('page-error'), frenchError(err));
});

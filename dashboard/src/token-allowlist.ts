// The IP allowlist of a token on /dashboard/tokens: the list as shown, the text of the form's
// field (one address or CIDR range a line), and the dialog that renames a token or changes its list
// (PATCH /api/tokens/{id}; the scopes and the lifetime never change).
import { announce, api, ApiError, byId, frenchError, h, showText, type FieldError } from './common.js';

export interface EditableToken {
  id: string;
  name: string;
  allowedIps: string[] | null;
}

/** The entries of the field's text: one a line (commas and spaces also separate them); none when empty. */
export function allowlistOf(text: string): string[] | null {
  const entries = text
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter((e) => e !== '');
  return entries.length > 0 ? entries : null;
}

/** The list in the table: each entry, or "Toutes" for a token without one. */
export function allowlistCell(t: EditableToken): HTMLElement {
  if (!t.allowedIps || t.allowedIps.length === 0) return h('span', { class: 'muted' }, 'Toutes');
  return h(
    'ul',
    { class: 'scopes-inline allowlist', 'aria-label': `Adresses autorisées pour ${t.name}` },
    ...t.allowedIps.map((ip) => h('li', {}, h('code', {}, ip))),
  );
}

/** A French message for an allowlist the API refused (the service's own messages are French). */
export function allowlistMessage(f: FieldError): string {
  if (/^allowedIps :|politique|au plus/.test(f.message)) return f.message.replace(/^allowedIps : /, '');
  return 'Chaque ligne doit être une adresse IPv4 ou IPv6, ou une plage CIDR (par exemple 10.0.0.0/8), 50 au plus.';
}

/** Opens the edit dialog for `t`; `saved` is called after a successful change. */
export function editToken(t: EditableToken, saved: (updated: EditableToken) => Promise<void>): void {
  const dialog = byId<HTMLDialogElement>('edit-token');
  const form = byId<HTMLFormElement>('edit-form');
  const name = byId<HTMLInputElement>('edit-name');
  const ips = byId<HTMLTextAreaElement>('edit-allowed-ips');
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  byId('edit-title').textContent = `Modifier le token « ${t.name} »`;
  name.value = t.name;
  ips.value = (t.allowedIps ?? []).join('\n');
  for (const id of ['edit-name-error', 'edit-allowed-ips-error', 'edit-error']) showText(byId(id), '');

  const close = (): void => {
    form.removeEventListener('submit', onSubmit);
    byId('edit-cancel').removeEventListener('click', close);
    dialog.close();
    opener?.focus();
  };
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    void (async () => {
      const save = byId<HTMLButtonElement>('edit-save');
      save.disabled = true;
      try {
        const updated = await api<EditableToken>('PATCH', `/api/tokens/${encodeURIComponent(t.id)}`, {
          body: { name: name.value, allowedIps: allowlistOf(ips.value) },
        });
        close();
        announce(`Token « ${updated.name} » modifié.`);
        await saved(updated);
      } catch (err) {
        const fields = err instanceof ApiError ? err.fields : [];
        const nameError = fields.find((f) => f.field === 'name');
        const ipsError = fields.find((f) => f.field === 'allowedIps');
        if (nameError) showText(byId('edit-name-error'), 'Donnez un nom au token : de 1 à 100 caractères.');
        if (ipsError) showText(byId('edit-allowed-ips-error'), allowlistMessage(ipsError));
        if (!nameError && !ipsError) showText(byId('edit-error'), frenchError(err));
        (nameError ? name : ips).focus();
      } finally {
        save.disabled = false;
      }
    })();
  };
  form.addEventListener('submit', onSubmit);
  byId('edit-cancel').addEventListener('click', close);
  dialog.addEventListener('cancel', () => close(), { once: true });
  dialog.showModal();
  name.focus();
}

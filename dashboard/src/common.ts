// Shared by the dashboard pages: calls to the API with the cookie session and
// its CSRF token, French messages, dates, and a few DOM helpers. Nothing here
// writes HTML from strings: text goes in with textContent only.

export type Role = 'user' | 'auditor' | 'admin';

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface FieldError {
  field: string;
  message: string;
}

/** An error answer of the API ({error, code, requestId, fields}), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
    readonly requestId?: string,
    /** Seconds to wait, from the Retry-After header of a 429 or a 503. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

const CSRF_COOKIE = 'hospiai_csrf';
/** Set once this page has been answered as logged in: a later 401 means the session ran out. */
let sessionSeen = false;
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function csrfToken(): string {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === CSRF_COOKIE) return rest.join('=');
  }
  return '';
}

/** Sends the browser to the login page, coming back here afterwards. */
export function goToLogin(reason?: 'expired' | 'logout'): void {
  const next = location.pathname + location.search;
  const params = new URLSearchParams();
  if (next.startsWith('/dashboard/') && !next.startsWith('/dashboard/login')) params.set('next', next);
  if (reason) params.set('raison', reason);
  const query = params.toString();
  location.assign(`/dashboard/login${query ? `?${query}` : ''}`);
}

export interface ApiOptions {
  body?: unknown;
  /** On 401, throw instead of going to the login page. */
  keepOn401?: boolean;
}

/**
 * Calls the API with the session cookie (same origin); state-changing calls
 * carry the CSRF token. A 401 means the session is over: back to the login page.
 */
export async function api<T>(method: string, path: string, options: ApiOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method)) headers['X-CSRF-Token'] = csrfToken();
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'network error');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok) return body as T;
  const b = (body ?? {}) as { error?: unknown; code?: unknown; fields?: unknown; requestId?: unknown };
  const err = new ApiError(
    res.status,
    typeof b.code === 'string' ? b.code : `http_${res.status}`,
    typeof b.error === 'string' ? b.error : res.statusText,
    Array.isArray(b.fields) ? (b.fields as FieldError[]) : [],
    typeof b.requestId === 'string' ? b.requestId : undefined,
    retryAfterOf(res.headers.get('Retry-After')),
  );
  if (res.status === 401 && !options.keepOn401) goToLogin(sessionSeen ? 'expired' : undefined);
  throw err;
}

/** Retry-After in seconds (RFC 9110: a number of seconds; a date is not sent by this API). */
function retryAfterOf(header: string | null): number | undefined {
  return header !== null && /^\d+$/.test(header.trim()) ? Number(header.trim()) : undefined;
}

/** "dans 30 secondes", "dans 15 minutes": how long to wait, in words; undefined for a moment or unknown. */
function waitInWords(seconds: number | undefined): string | undefined {
  if (seconds === undefined || seconds <= 5) return undefined;
  if (seconds < 120) return `dans ${seconds} secondes`;
  return `dans ${Math.ceil(seconds / 60)} minutes`;
}

/** The message to show a person for an error that no field explains. */
export function frenchError(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Une erreur inattendue est survenue. Rechargez la page.';
  const ref = err.requestId ? ` (référence : ${err.requestId})` : '';
  switch (err.code) {
    case 'network':
      return 'Le service ne répond pas. Vérifiez votre connexion, puis réessayez.';
    case 'csrf_failed':
      return 'La page n’est plus à jour avec votre session. Rechargez la page, puis réessayez.';
    case 'unauthorized':
      return 'Votre session a expiré. Reconnectez-vous.';
    case 'invalid_credentials':
      return 'Adresse e-mail ou mot de passe incorrect.';
    case 'forbidden':
      return 'Vous n’avez pas le droit de faire cela.';
    case 'not_found':
      return 'Introuvable : il a peut-être été supprimé. Rechargez la page.';
    case 'token_revoked':
      return 'Ce token est déjà révoqué : créez-en un nouveau.';
    case 'scope_not_allowed':
      return 'Ce token a une portée que votre rôle ne permet plus d’accorder (read:audit) : créez-en un nouveau avec d’autres portées.';
    case 'too_many_requests': {
      const wait = waitInWords(err.retryAfter);
      return wait ? `Trop de demandes. Réessayez ${wait}.` : 'Trop de demandes. Patientez un instant, puis réessayez.';
    }
    case 'service_unavailable':
      return `Le service est momentanément indisponible. Réessayez dans quelques instants${ref}.`;
  }
  if (err.status >= 500) return `Erreur du serveur. Réessayez plus tard${ref}.`;
  if (err.status === 400) return `La demande a été refusée : vérifiez les champs${ref}.`;
  return `La demande a échoué (${err.status})${ref}.`;
}

const dateFormat = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium', timeStyle: 'short' });
const preciseFormat = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'medium' });

export function formatDate(iso: string | null | undefined, precise = false): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : (precise ? preciseFormat : dateFormat).format(d);
}

/** `<time datetime=…>` with the French date as text. */
export function timeElement(iso: string | null | undefined, precise = false): HTMLElement {
  if (!iso) return h('span', {}, '—');
  return h('time', { dateTime: iso }, formatDate(iso, precise));
}

type Props = Record<string, string | boolean | number | undefined | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

/** Creates an element: properties and `on…` listeners from `props`, text and nodes as children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') node.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === 'class') node.className = String(value);
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role') node.setAttribute(key, String(value));
    else if (key in node) (node as unknown as Record<string, unknown>)[key] = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
}

/** Shows a message in an element (or hides it when empty). */
export function showText(node: HTMLElement, text: string): void {
  node.textContent = text;
  node.hidden = text === '';
}

/** Says something to screen-reader users without moving the focus. */
export function announce(text: string): void {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  // A change of content after a tick is announced even when the text repeats.
  setTimeout(() => (live.textContent = text), 50);
}

/** The logged-in user, or off to the login page. */
export async function currentUser(): Promise<User> {
  const answer = await api<{ user: User }>('GET', '/api/users/me');
  sessionSeen = true;
  return answer.user;
}

export function canReadAudit(user: User): boolean {
  return user.role === 'auditor' || user.role === 'admin';
}

const ROLE_NAMES: Record<Role, string> = { user: 'utilisateur', auditor: 'auditeur', admin: 'administrateur' };

/** Fills the page header: who is logged in, the audit and policy links for those who may see them, logout. */
export function setupHeader(user: User): void {
  const who = document.getElementById('user-name');
  if (who) who.textContent = `${user.name || user.email} (${ROLE_NAMES[user.role] ?? user.role})`;
  for (const link of document.querySelectorAll<HTMLElement>('[data-needs="audit"]')) link.hidden = !canReadAudit(user);
  for (const link of document.querySelectorAll<HTMLElement>('[data-needs="admin"]')) link.hidden = user.role !== 'admin';
  const logout = document.getElementById('logout');
  logout?.addEventListener('click', () => {
    void (async () => {
      try {
        await api('POST', '/api/auth/logout', { keepOn401: true });
      } catch {
        // An expired session is logged out already.
      }
      location.assign('/dashboard/login?raison=logout');
    })();
  });
  document.body.classList.add('ready');
}

/** A confirmation in the page's <dialog id="confirm">: resolves true when confirmed. */
export function confirmAction(title: string, text: string, confirmLabel: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm');
  byId('confirm-title').textContent = title;
  byId('confirm-text').textContent = text;
  byId('confirm-ok').textContent = confirmLabel;
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        opener?.focus();
        resolve(dialog.returnValue === 'ok');
      },
      { once: true },
    );
    dialog.showModal();
    byId('confirm-cancel').focus();
  });
}

// /dashboard/login: email and password; the answer sets the session cookies.
import { api, ApiError, byId, csrfToken, frenchError, showText } from './common.js';
import { setupSso } from './sso.js';

const FIELD_MESSAGES: Record<string, string> = {
  email: 'Saisissez votre adresse e-mail.',
  password: 'Saisissez votre mot de passe.',
};

/** Where to go after logging in: a dashboard page only, never another site. */
function nextPage(): string {
  const next = new URLSearchParams(location.search).get('next') ?? '';
  return /^\/dashboard\/[a-z]+(\?[^\s]*)?$/.test(next) && !next.startsWith('/dashboard/login') ? next : '/dashboard/tokens';
}

function showNotice(): void {
  const reason = new URLSearchParams(location.search).get('raison');
  const notice = byId('notice');
  if (reason === 'logout') showText(notice, 'Vous êtes déconnecté.');
  else if (reason === 'expired') showText(notice, 'Votre session a expiré : reconnectez-vous pour continuer.');
}

function clearErrors(): void {
  for (const name of ['email', 'password']) {
    showText(byId(`${name}-error`), '');
    byId(name).removeAttribute('aria-invalid');
  }
  showText(byId('login-error'), '');
}

/** A session whose CSRF cookie is still there may still be valid: then skip the form. */
async function alreadyLoggedIn(): Promise<boolean> {
  if (csrfToken() === '') return false;
  try {
    await api('GET', '/api/users/me', { keepOn401: true });
    return true;
  } catch {
    return false;
  }
}

function main(): void {
  showNotice();
  void setupSso(nextPage());
  const form = byId<HTMLFormElement>('login-form');
  const submit = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  void alreadyLoggedIn().then((yes) => {
    if (yes) location.replace(nextPage());
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors();
    const email = byId<HTMLInputElement>('email').value.trim();
    const password = byId<HTMLInputElement>('password').value;
    const missing = [!email && 'email', !password && 'password'].filter((x): x is string => typeof x === 'string');
    if (missing.length > 0) {
      for (const name of missing) {
        showText(byId(`${name}-error`), FIELD_MESSAGES[name]);
        byId(name).setAttribute('aria-invalid', 'true');
      }
      byId(missing[0]).focus();
      return;
    }
    if (submit) submit.disabled = true;
    void api('POST', '/api/auth/login', { body: { email, password }, keepOn401: true })
      .then(() => location.assign(nextPage()))
      .catch((err: unknown) => {
        if (submit) submit.disabled = false;
        if (err instanceof ApiError && err.fields.length > 0) {
          for (const f of err.fields) {
            const target = FIELD_MESSAGES[f.field] ? f.field : 'email';
            showText(byId(`${target}-error`), target === 'email' ? 'Adresse e-mail invalide.' : 'Mot de passe invalide.');
            byId(target).setAttribute('aria-invalid', 'true');
          }
          return;
        }
        showText(byId('login-error'), frenchError(err));
        byId<HTMLInputElement>('password').select();
      });
  });
}

main();

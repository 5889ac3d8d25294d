// Single sign-on on the login page: one « Se connecter avec … » button per identity provider the
// service is configured with (GET /api/auth/oidc/providers), and the reason of a refused login
// (/dashboard/login?sso=<reason>, set by the callback), in French.
import { api, byId, h, showText } from './common.js';

interface SsoButton {
  id: string;
  name: string;
  label: string;
  loginUrl: string;
}

/** The messages of src/sso/claims.ts (REFUSAL_MESSAGES), for the reasons the callback gives. */
const REFUSALS: Record<string, string> = {
  domain: 'Connexion refusée : votre adresse e-mail n’appartient pas à un domaine autorisé.',
  group: 'Connexion refusée : votre compte n’appartient pas au groupe autorisé à utiliser HospiAI.',
  no_role: 'Connexion refusée : aucun rôle HospiAI ne correspond à vos groupes.',
  no_email: 'Connexion refusée : le fournisseur d’identité n’a pas transmis d’adresse e-mail.',
  email_in_use: 'Connexion refusée : un compte existe déjà avec cette adresse e-mail ; un administrateur doit le relier à votre identité.',
  disabled: 'Connexion refusée : ce compte est désactivé.',
  last_admin: 'Connexion refusée : le dernier administrateur actif ne peut pas perdre son rôle.',
  invalid_response: 'Connexion refusée : la réponse du fournisseur d’identité n’a pas pu être vérifiée.',
  provider_error: 'Connexion refusée par le fournisseur d’identité.',
  expired: 'La connexion a expiré ou a été ouverte dans un autre onglet : recommencez.',
};

/** Shows the buttons (after `next`, the page to come back to) and a refused login's reason. */
export async function setupSso(next: string): Promise<void> {
  const reason = new URLSearchParams(location.search).get('sso');
  if (reason) showText(byId('sso-error'), REFUSALS[reason] ?? 'Connexion refusée.');
  let providers: SsoButton[] = [];
  let ssoOnly = false;
  try {
    ({ providers, ssoOnly } = await api<{ providers: SsoButton[]; ssoOnly: boolean }>('GET', '/api/auth/oidc/providers', { keepOn401: true }));
  } catch {
    return;
  }
  if (providers.length === 0) return;
  const list = byId('sso-buttons');
  for (const p of providers) {
    const url = new URL(p.loginUrl, location.origin);
    if (next !== '/dashboard/tokens') url.searchParams.set('next', next);
    list.append(h('li', {}, h('a', { class: 'button primary', href: url.pathname + url.search, 'data-provider': p.id }, p.label)));
  }
  byId('sso').hidden = false;
  if (ssoOnly) showText(byId('sso-only'), 'La connexion par mot de passe est réservée au compte administrateur de secours.');
}

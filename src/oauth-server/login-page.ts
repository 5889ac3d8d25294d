import { escapeHtml, page } from './html.js';

/** What the login page of an authorization shows. */
export interface LoginPageInput {
  /** The interaction's id: the form posts to /oauth/interaction/<uid>/login. */
  uid: string;
  /** The application that asks (the client's name). */
  clientName: string;
  /** The email typed last time, shown again after a failure. */
  email?: string;
  /** Why the last attempt failed, in French. */
  error?: string;
  /**
   * Other ways to sign in, each a button that posts to its `action` (single sign-on providers):
   * shown under the form. None today.
   */
  alternatives?: readonly { label: string; action: string }[];
}

/**
 * The login page of an authorization (the one place it is rendered): staff sign in with their
 * HospiAI account; the form posts without any script.
 */
export function renderLoginPage(input: LoginPageInput): string {
  const error = input.error ? `<p class="alert error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const alternatives = (input.alternatives ?? [])
    .map((a) => `<form method="post" action="${escapeHtml(a.action)}"><button type="submit" class="secondary">${escapeHtml(a.label)}</button></form>`)
    .join('\n');
  return page(
    'Connexion',
    `    <h1>Connexion</h1>
    <p class="lead">L’application <strong>${escapeHtml(input.clientName)}</strong> demande l’accès à un serveur MCP de l’hôpital en votre nom.
      Connectez-vous avec votre compte HospiAI pour continuer.</p>
    ${error}
    <form class="card" method="post" action="/oauth/interaction/${escapeHtml(input.uid)}/login">
      <div class="field">
        <label for="email">Adresse e-mail</label>
        <input id="email" name="email" type="email" autocomplete="username" required spellcheck="false" value="${escapeHtml(input.email ?? '')}"${input.email ? '' : ' autofocus'}>
      </div>
      <div class="field">
        <label for="password">Mot de passe</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required${input.email ? ' autofocus' : ''}>
      </div>
      <button type="submit">Se connecter</button>
    </form>
    ${alternatives}
    <form method="post" action="/oauth/interaction/${escapeHtml(input.uid)}/abort">
      <button type="submit" class="secondary">Annuler</button>
    </form>`,
  );
}

import { SCOPES, type Scope } from '../../libs/scopes/src/index.js';
import { escapeHtml, page } from './html.js';

export interface ConsentPageInput {
  uid: string;
  clientName: string;
  /** The client's id: for a Client ID Metadata Document, the URL of its document. */
  clientId: string;
  /** The host the client redirects to once done. */
  redirectHost: string;
  serverName: string;
  resource: string;
  /** Scopes asked that the user may grant. */
  grantable: readonly Scope[];
  /** Scopes asked that cannot be granted (the user's role may not hold them, or the MCP server does not accept them). */
  refused: readonly string[];
  /** Who is signed in. */
  userEmail: string;
}

function describe(scope: string): string {
  return SCOPES.find((s) => s.scope === scope)?.description ?? 'Permission inconnue';
}

/** The consent page: who asks, for which MCP server, which scopes; Autoriser / Refuser. */
export function renderConsentPage(input: ConsentPageInput): string {
  const grantable = input.grantable
    .map((s) => `<li><code>${escapeHtml(s)}</code> — ${escapeHtml(describe(s))}</li>`)
    .join('\n        ');
  const refused =
    input.refused.length === 0
      ? ''
      : `<p>Ces permissions, demandées, ne peuvent pas être accordées (votre rôle ne les permet pas, ou le serveur MCP ne les accepte pas) :</p>
      <ul class="refused-scopes">
        ${input.refused.map((s) => `<li><code>${escapeHtml(s)}</code> — ${escapeHtml(describe(s))}</li>`).join('\n        ')}
      </ul>`;
  const none = input.grantable.length === 0 ? '<p class="alert error" role="alert">Aucune des permissions demandées ne peut être accordée : refusez la demande.</p>' : '';
  return page(
    'Autoriser une application',
    `    <h1>Autoriser <span class="client-name">${escapeHtml(input.clientName)}</span> ?</h1>
    <section class="card" aria-labelledby="who">
      <h2 id="who">La demande</h2>
      <dl>
        <dt>Application</dt><dd>${escapeHtml(input.clientName)} <small>(${escapeHtml(input.clientId)})</small></dd>
        <dt>Redirige vers</dt><dd><code>${escapeHtml(input.redirectHost)}</code></dd>
        <dt>Serveur MCP</dt><dd>${escapeHtml(input.serverName)} <small>(<code>${escapeHtml(input.resource)}</code>)</small></dd>
        <dt>Compte</dt><dd>${escapeHtml(input.userEmail)}</dd>
      </dl>
      ${input.grantable.length > 0 ? `<p>Elle pourra, sur ce serveur MCP seulement, en votre nom :</p>
      <ul class="granted-scopes">
        ${grantable}
      </ul>` : ''}
      ${refused}
      ${none}
    </section>
    <form method="post" action="/oauth/interaction/${escapeHtml(input.uid)}/consent" class="actions">
      <button type="submit" name="decision" value="allow"${input.grantable.length === 0 ? ' disabled' : ''}>Autoriser</button>
      <button type="submit" name="decision" value="deny" class="secondary">Refuser</button>
    </form>
    <p><small>Vous pourrez retirer cette autorisation à tout moment sur la page « Applications autorisées » du tableau de bord.</small></p>`,
  );
}

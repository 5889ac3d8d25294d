/** Escapes text for HTML content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * The pages of the authorization server: server-rendered, French, no script at all, the dashboard's
 * stylesheet. Their Content-Security-Policy (pageCsp) allows forms to post here and to redirect to the
 * client's redirect URI, nothing else.
 */
export function page(title: string, main: string): string {
  return `<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>${escapeHtml(title)} — HospiAI</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head>
<body class="login-page">
  <a class="skip" href="#main">Aller au contenu</a>
  <header class="top">
    <p class="brand">HospiAI <span>tokens</span></p>
  </header>
  <main id="main" tabindex="-1" class="narrow">
${main}
  </main>
</body>
</html>
`;
}

/** The policy of the login and consent pages: the stylesheet, and forms that post here then redirect to `redirectOrigin`. */
export function pageCsp(redirectOrigin: string | undefined): string {
  const formAction = ["'self'", redirectOrigin].filter(Boolean).join(' ');
  return `default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action ${formAction}`;
}

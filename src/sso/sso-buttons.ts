import type { SsoConfig } from '../config/config.js';

/** A login button: « Se connecter avec <name> », leading to `loginUrl`. */
export interface SsoButton {
  /** The provider's id. */
  id: string;
  /** The provider's display name (OIDC_DISPLAY_NAME). */
  name: string;
  /** Text of the button. */
  label: string;
  /** Where the button leads: the start of the login at this provider (a path of this service). */
  loginUrl: string;
}

/** The path that starts a login at a provider; `next` is a dashboard page to land on afterwards. */
export function ssoLoginPath(providerId: string, next?: string): string {
  const path = `/api/auth/oidc/${encodeURIComponent(providerId)}/login`;
  return next ? `${path}?next=${encodeURIComponent(next)}` : path;
}

/**
 * The configured providers' login buttons, in configuration order: for every page where a person
 * logs in (the dashboard's login page, an authorization server's login page).
 */
export function ssoButtons(sso: Pick<SsoConfig, 'providers'>, next?: string): SsoButton[] {
  return sso.providers.map((p) => ({
    id: p.id,
    name: p.displayName,
    label: `Se connecter avec ${p.displayName}`,
    loginUrl: ssoLoginPath(p.id, next),
  }));
}

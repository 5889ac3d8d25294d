import { isPlainText } from '../common/plain-text.js';
import type { OidcProviderConfig, SsoRole } from '../config/config.js';

/** The claims of a login: the ID token's, completed by the UserInfo endpoint's (docs/sso.md). */
export type Claims = Record<string, unknown>;

/** Why a login is refused, as its audit event says (`details.reason`) and the login page explains it. */
export type RefusalReason =
  | 'domain'
  | 'group'
  | 'no_role'
  | 'no_email'
  | 'email_in_use'
  | 'disabled'
  | 'last_admin'
  | 'invalid_response'
  | 'provider_error'
  | 'expired';

/** The French message of each refusal (the login page shows the same words). */
export const REFUSAL_MESSAGES: Record<RefusalReason, string> = {
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

/** The refusals that are the provider's or the account's decision (403); the others are protocol failures (400). */
export const POLICY_REFUSALS: ReadonlySet<RefusalReason> = new Set([
  'domain',
  'group',
  'no_role',
  'no_email',
  'email_in_use',
  'disabled',
  'last_admin',
]);

const RANK: Record<SsoRole, number> = { user: 0, auditor: 1, admin: 2 };

/** The value of a claim, following a dotted path (`realm_access.roles`) when the name itself is not a claim. */
export function claimAt(claims: Claims, path: string): unknown {
  if (path in claims) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The values of a claim as strings: an array's strings, a string (space- or comma-separated lists split), nothing else. */
export function claimValues(claims: Claims, path: string): string[] {
  const value = claimAt(claims, path);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return value.split(/[\s,]+/).filter((v) => v !== '');
  return [];
}

/** A claim as one short string (a professional identifier), or undefined. */
export function claimText(claims: Claims, path: string | undefined, max = 100): string | undefined {
  if (!path) return undefined;
  const value = claimAt(claims, path);
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  return text && text.length <= max && isPlainText(text) ? text : undefined;
}

/** The role the claim gives: the highest role mapped from its values, else the provider's default (null: none). */
export function roleFromClaims(
  provider: Pick<OidcProviderConfig, 'roleClaim' | 'roleMap' | 'defaultRole'>,
  claims: Claims,
): SsoRole | null {
  let best: SsoRole | null = null;
  for (const v of claimValues(claims, provider.roleClaim)) {
    const role = Object.prototype.hasOwnProperty.call(provider.roleMap, v) ? provider.roleMap[v] : undefined;
    if (role && (best === null || RANK[role] > RANK[best])) best = role;
  }
  return best ?? provider.defaultRole;
}

export function emailDomain(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}

/** The email claim, lower-cased, when it is an email address. */
export function emailOf(claims: Claims): string | undefined {
  const e = claims.email;
  if (typeof e !== 'string') return undefined;
  const email = e.trim().toLowerCase().normalize('NFC');
  return email.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? email : undefined;
}

export interface Admission {
  email: string;
  role: SsoRole;
}

/**
 * Whether the provider's claims let the person in: an email (in an allowed domain when the provider
 * has a list), the required group when there is one, and a role. Gives the refusal's reason otherwise.
 */
export function admit(provider: OidcProviderConfig, claims: Claims): Admission | { refused: RefusalReason } {
  const email = emailOf(claims);
  if (!email) return { refused: 'no_email' };
  if (provider.allowedDomains.length > 0 && !provider.allowedDomains.includes(emailDomain(email))) return { refused: 'domain' };
  if (provider.requiredGroup !== undefined && !claimValues(claims, provider.roleClaim).includes(provider.requiredGroup)) {
    return { refused: 'group' };
  }
  const role = roleFromClaims(provider, claims);
  if (role === null) return { refused: 'no_role' };
  return { email, role };
}

/** Whether the provider may take over a local account with this email: its domain is trusted and the provider says the address is verified. */
export function trustedForEmail(provider: OidcProviderConfig, claims: Claims, email: string): boolean {
  return provider.trustedEmailDomains.includes(emailDomain(email)) && claims.email_verified !== false && claims.email_verified !== 'false';
}

/** Names for a new account: given_name/family_name, else `name` split at its first space, cut to the columns' 100 characters. */
export function namesOf(claims: Claims, email: string): { firstname: string; surname: string } {
  const clean = (v: unknown): string =>
    typeof v === 'string'
      ? v
          .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '')
          .trim()
          .normalize('NFC')
          .slice(0, 100)
      : '';
  let firstname = clean(claims.given_name);
  let surname = clean(claims.family_name);
  if (!firstname && !surname) {
    const name = clean(claims.name);
    const space = name.indexOf(' ');
    firstname = space > 0 ? name.slice(0, space) : name;
    surname = space > 0 ? name.slice(space + 1).trim() : '';
  }
  if (!firstname) firstname = email.slice(0, email.indexOf('@')).slice(0, 100);
  if (!surname) surname = '-';
  return { firstname, surname };
}

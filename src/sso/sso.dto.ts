import { IsIn, IsOptional, IsString, Length, MaxLength } from 'class-validator';
import { PlainText } from '../common/plain-text.js';

export class SsoButtonView {
  /** @example "chu" */
  id: string;
  /** @example "CHU Exemple" */
  name: string;
  /** @example "Se connecter avec CHU Exemple" */
  label: string;
  /** @example "/api/auth/oidc/chu/login" */
  loginUrl: string;
}

export class SsoProvidersAnswer {
  /** The configured identity providers, in configuration order (none when SSO is not configured). */
  providers: SsoButtonView[];
  /**
   * Whether password logins are turned off (SSO_ONLY), except for the break-glass admin.
   * @example false
   */
  ssoOnly: boolean;
}

export class SsoLoginQuery {
  /**
   * The dashboard page to land on after the login (a `/dashboard/…` path; anything else lands on `/dashboard/tokens`).
   * @example "/dashboard/tokens"
   */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  next?: string;

  /**
   * `json`: the callback answers the session as JSON (`{accessToken, tokenType, expiresIn, user}`)
   * instead of redirecting to the dashboard (the API flow).
   * @example "json"
   */
  @IsOptional()
  @IsIn(['json'])
  mode?: 'json';
}

export class SsoLogoutAnswer {
  /**
   * The provider's end-session URL, where the browser goes next to log out there too (then back to
   * the login page); null when the provider has none.
   * @example "https://sso.chu-exemple.fr/realms/chu/protocol/openid-connect/logout?client_id=hospiai&post_logout_redirect_uri=https%3A%2F%2Fhospiai.chu-exemple.fr%2Fdashboard%2Flogin%3Fraison%3Dlogout"
   */
  endSessionUrl: string | null;
}

export class IdentityView {
  /** @example "0b9a6c1e-2f3d-4e5f-8a7b-6c5d4e3f2a1b" */
  id: string;
  /** @example "psc" */
  provider: string;
  /** @example "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet" */
  issuer: string;
  /** @example "f:550e8400-e29b:810012345678" */
  subject: string;
  /**
   * The professional identifier the provider gives (Pro Santé Connect: SubjectNameID, the RPPS number).
   * @example "810012345678"
   */
  professionalId: string | null;
  /**
   * The admin who linked the account to this identity; null when a login created or linked it.
   * @example null
   */
  linkedBy: string | null;
  /** @example "2026-11-26T08:30:00.000Z" */
  createdAt: string;
  /** @example "2026-11-27T07:58:12.000Z" */
  lastLoginAt: string | null;
}

export class IdentityList {
  items: IdentityView[];
}

export class IdentityEnvelope {
  identity: IdentityView;
}

export class LinkIdentityDto {
  /**
   * The configured provider's id.
   * @example "chu"
   */
  @IsString()
  @Length(1, 32)
  provider: string;

  /**
   * The person's `sub` at that provider.
   * @example "8f14e45f-ceea-467f-a8f6-0b5a4f0e6c2d"
   */
  @IsString()
  @Length(1, 255)
  @PlainText()
  subject: string;
}

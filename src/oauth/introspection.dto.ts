/** The form of `POST /api/oauth/introspect` (RFC 7662 §2.1), sent as application/x-www-form-urlencoded. */
export class IntrospectRequestDto {
  /**
   * The API token to look at.
   * @example "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9.eyJ0b2tlbl91c2UiOiJhcGkifQ.c2lnbmF0dXJl"
   */
  token: string;
  /**
   * Accepted and ignored: HospiAI has one kind of token.
   * @example "access_token"
   */
  token_type_hint?: string;
  /**
   * For `client_secret_post` only: the MCP server's client id (otherwise use HTTP Basic).
   * @example "mcp_Q2hVZ0x3bWJkR1px"
   */
  client_id?: string;
  /**
   * For `client_secret_post` only: the MCP server's secret.
   * @example "mcps_pW3q8R1v0yXo2bN5kLd7Jt4Hs9Gf6Ea1Zc3Vb8Nm0Qw"
   */
  client_secret?: string;
}

/** The answer for a token that validation would accept (RFC 7662 §2.2). */
export class IntrospectActiveDto {
  /** @example true */
  active: boolean;
  /**
   * The scopes the token grants now, space-separated: read:audit only while its owner is an auditor or an admin.
   * @example "read:data write:bookings"
   */
  scope: string;
  /**
   * The API token's id, as `jti`: in HospiAI the token is the credential of one program.
   * @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b"
   */
  client_id: string;
  /**
   * The owner's user id.
   * @example "6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6"
   */
  sub: string;
  /**
   * The owner's email.
   * @example "marie.curie@chu-exemple.fr"
   */
  username: string;
  /** @example "Bearer" */
  token_type: string;
  /**
   * Expiry, epoch seconds.
   * @example 1803456000
   */
  exp: number;
  /**
   * Issue time, epoch seconds.
   * @example 1795680000
   */
  iat: number;
  /**
   * The token id.
   * @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b"
   */
  jti: string;
  /** @example "hospiai" */
  iss: string;
  /**
   * The token's audience: `hospiai:api`, then for a token bound to an MCP server its resource URI
   * (always the calling server's own: a token bound to another is inactive).
   * @example ["hospiai:api", "https://mcp-rdv.chu-exemple.fr/mcp"]
   */
  aud: string[];
}

/** The answer for any other token: malformed, unknown, expired, revoked, owner disabled. Nothing more is said. */
export class IntrospectInactiveDto {
  /** @example false */
  active: boolean;
}

/** An OAuth error answer (RFC 6749 §5.2). */
export class OAuthErrorDto {
  /** @example "invalid_client" */
  error: string;
  /** @example "Client authentication failed" */
  error_description?: string;
}

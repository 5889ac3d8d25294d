import { ApiHideProperty, ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import {
  Allow,
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  registerDecorator,
  ValidateIf,
} from 'class-validator';
import { SCOPE_NAMES, type Scope } from '../../libs/scopes/src/index.js';
import { PlainText } from '../common/plain-text.js';
import { FitsColumn } from '../common/text-length.js';
import { Trim } from '../common/transforms.js';
import { REVOKED_REASONS, type RevokedReason, type TokenStatus } from './api-token.entity.js';
import { MAX_ALLOWED_IPS, parseAllowlist } from './ip-allowlist.js';

/** null, or a list parseAllowlist accepts; the refusal names the entry at fault. */
function IsAllowlist(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isAllowlist',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown) => parseAllowlist(value).ok,
        defaultMessage: (args) => {
          const parsed = parseAllowlist(args?.value);
          return parsed.ok ? 'allowedIps is invalid' : parsed.message;
        },
      },
    });
}

const ALLOWED_IPS_SCHEMA: ApiPropertyOptions = {
  type: [String],
  nullable: true,
  required: false,
  maxItems: MAX_ALLOWED_IPS,
  example: ['10.20.0.0/16', '192.0.2.7', '2001:db8::/32'],
};

export class CreateTokenDto {
  /**
   * A name to recognise the token by, 1–100 characters, without control or invisible characters
   * (line breaks, tabs, escapes, bidirectional controls, zero-width characters).
   * @example "Serveur FastMCP production"
   */
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  @PlainText()
  name: string;

  /**
   * Scopes from GET /api/tokens/scopes; `read:audit` only for auditors and admins.
   * @example ["read:data", "write:bookings"]
   */
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique({ message: 'scopes must not contain duplicates' })
  @ArrayMaxSize(SCOPE_NAMES.length)
  @IsIn(SCOPE_NAMES, { each: true, message: `each value in scopes must be one of: ${SCOPE_NAMES.join(', ')}` })
  scopes: Scope[];

  /**
   * Lifetime in whole days, 1–365.
   * @example 90
   */
  @ApiProperty({ type: 'integer' })
  @IsInt()
  @Min(1)
  @Max(365)
  durationDays: number;

  /**
   * Optional: binds the token to one MCP server, the canonical resource URI of a registered active
   * server (GET /api/mcp/clients, `resourceUri`). Such a token is accepted only by that server (it
   * sends the same `resource` to POST /api/mcp/validate); without one the token is accepted by every server.
   * @example "https://mcp-rdv.chu-exemple.fr/mcp"
   */
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  audience?: string;

  /**
   * The IP allowlist: at most 50 IPv4/IPv6 addresses and CIDR ranges the token may be used from
   * (the address of the MCP server that calls validate or introspection), stored in canonical form
   * (`10.1.2.3/8` becomes `10.0.0.0/8`). Absent, null or `[]`: any address.
   */
  @ApiProperty(ALLOWED_IPS_SCHEMA)
  @IsOptional()
  @IsAllowlist()
  allowedIps?: string[] | null;
}

/** The fields PATCH refuses: what the token's text carries (its scopes and lifetime) never changes. */
export const IMMUTABLE_TOKEN_FIELDS = ['scopes', 'durationDays', 'expiresAt', 'createdAt'] as const;

export class UpdateTokenDto {
  /**
   * A new name, with the rules of creation.
   * @example "Serveur FastMCP production (Lyon)"
   */
  @ValidateIf((_o, v) => v !== undefined)
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  @PlainText()
  name?: string;

  /**
   * The new IP allowlist, replacing the old one (rules of creation); null or `[]` removes it.
   * Absent: unchanged.
   */
  @ApiProperty(ALLOWED_IPS_SCHEMA)
  @IsOptional()
  @IsAllowlist()
  allowedIps?: string[] | null;

  // Accepted by validation only to be refused with a clear message (IMMUTABLE_TOKEN_FIELDS).
  @ApiHideProperty()
  @Allow()
  scopes?: unknown;

  @ApiHideProperty()
  @Allow()
  durationDays?: unknown;

  @ApiHideProperty()
  @Allow()
  expiresAt?: unknown;

  @ApiHideProperty()
  @Allow()
  createdAt?: unknown;
}

export class RotateTokenDto {
  /**
   * Lifetime of the new token in whole days, 1–365; by default that of the old one.
   * @example 90
   */
  @ApiProperty({ type: 'integer', required: false })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(365)
  durationDays?: number;
}

export class ScopeView {
  /** @example "read:data" */
  scope: Scope;
  /** @example "Lire les données patients et hospitalières" */
  description: string;
}

export class TokenView {
  /**
   * The token id: the JWT's `jti`.
   * @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b"
   */
  id: string;
  /** @example "Serveur FastMCP production" */
  name: string;
  /** @example ["read:data", "write:bookings"] */
  scopes: Scope[];
  /** @example "2026-11-26T09:00:00.000Z" */
  createdAt: string;
  /** @example "2027-02-24T09:00:00.000Z" */
  expiresAt: string;
  /** @example null */
  revokedAt: string | null;
  /**
   * Why the token was revoked, null while it is not: `revoked` (DELETE), `rotated`,
   * `owner_disabled` (its owner's account was disabled; enabling it again does not bring the token back),
   * or `policy` (an admin applied a token policy it did not comply with to the existing tokens).
   * @example null
   */
  @IsIn(REVOKED_REASONS)
  revokedReason: RevokedReason | null;
  /**
   * The last valid use, exact to the minute (a use from another address is recorded at once); the
   * audit log holds every use.
   * @example "2026-11-26T10:15:00.000Z"
   */
  lastUsedAt: string | null;
  /**
   * The address of the last valid use.
   * @example "10.0.4.12"
   */
  lastUsedIp: string | null;
  /**
   * The IP allowlist in canonical form; null when the token may be used from any address.
   * @example ["10.20.0.0/16", "2001:db8::/32"]
   */
  allowedIps: string[] | null;
  /** @example "active" */
  @IsIn(['active', 'expired', 'revoked'])
  status: TokenStatus;
  /**
   * The resource URI of the one MCP server the token is for; null: accepted by every server.
   * @example "https://mcp-rdv.chu-exemple.fr/mcp"
   */
  audience: string | null;
  /**
   * For a token issued through OAuth, the client that asked for it (shown as "via <client>"); null for a token made by hand.
   * @example null
   */
  viaClient: TokenViaClientView | null;
}

export class TokenViaClientView {
  /**
   * The OAuth client id (for a Client ID Metadata Document, its URL).
   * @example "https://agent.example.org/oauth/client.json"
   */
  clientId: string;
  /** @example "Agent de planification" */
  name: string;
}

export class CreatedTokenView {
  /** @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b" */
  id: string;
  /** @example "Serveur FastMCP production" */
  name: string;
  /** @example ["read:data", "write:bookings"] */
  scopes: Scope[];
  /** @example "2026-11-26T09:00:00.000Z" */
  createdAt: string;
  /** @example "2027-02-24T09:00:00.000Z" */
  expiresAt: string;
  /**
   * The resource URI the token is bound to, or null.
   * @example null
   */
  audience: string | null;

  /**
   * The IP allowlist in canonical form; null when none.
   * @example null
   */
  allowedIps: string[] | null;
  /**
   * The API token. Shown this once: only its id and a SHA-256 fingerprint are kept.
   * @example "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9.eyJ0b2tlbl91c2UiOiJhcGkifQ.c2lnbmF0dXJl"
   */
  token: string;
}

export class TokenList {
  /** The caller's tokens, newest first. */
  items: TokenView[];
}

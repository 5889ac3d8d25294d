import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsOptional, IsString, Length, ValidateIf } from 'class-validator';
import { SCOPE_NAMES, type Scope } from '../../libs/scopes/src/index.js';
import { FitsColumn } from '../common/text-length.js';
import { Trim } from '../common/transforms.js';

export class CreateMcpClientDto {
  /**
   * What the MCP server is, 1–100 characters.
   * @example "Serveur FastMCP rendez-vous (production)"
   */
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  name: string;

  /**
   * The server's canonical resource URI (RFC 8707; docs/api.md, "Audience binding"): an absolute https
   * URL (http only on loopback), without fragment, unique among active servers. Stored in canonical
   * form (scheme and host in lower case, no trailing slash unless the path is just "/"). Optional:
   * a server without one introspects unbound tokens only.
   * @example "https://mcp-rdv.chu-exemple.fr/mcp"
   */
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  resourceUri?: string;

  /**
   * The scopes a token for this server may carry; by default every scope of the catalogue.
   * @example ["read:bookings", "write:bookings"]
   */
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique({ message: 'acceptedScopes must not contain duplicates' })
  @ArrayMaxSize(SCOPE_NAMES.length)
  @IsIn(SCOPE_NAMES, { each: true, message: `each value in acceptedScopes must be one of: ${SCOPE_NAMES.join(', ')}` })
  acceptedScopes?: Scope[];
}

export class UpdateMcpClientDto {
  /**
   * A new name, 1–100 characters.
   * @example "Serveur FastMCP rendez-vous (production)"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  name?: string;

  /**
   * A new canonical resource URI (as on creation), or null to remove it. Tokens already bound to
   * the old one stay bound to it.
   * @example "https://mcp-rdv.chu-exemple.fr/mcp"
   */
  @ApiProperty({ type: String, nullable: true, required: false })
  @ValidateIf((_o, v) => v !== null && v !== undefined)
  @IsString()
  @Length(1, 2048)
  resourceUri?: string | null;

  /**
   * The scopes a token for this server may carry.
   * @example ["read:bookings", "write:bookings"]
   */
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique({ message: 'acceptedScopes must not contain duplicates' })
  @ArrayMaxSize(SCOPE_NAMES.length)
  @IsIn(SCOPE_NAMES, { each: true, message: `each value in acceptedScopes must be one of: ${SCOPE_NAMES.join(', ')}` })
  acceptedScopes?: Scope[];
}

export class McpClientView {
  /**
   * Internal id, used in `DELETE /api/mcp/clients/{id}`.
   * @example "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
   */
  id: string;
  /**
   * The client id the MCP server authenticates with (HTTP Basic user name, or `client_id`).
   * @example "mcp_Q2hVZ0x3bWJkR1px"
   */
  clientId: string;
  /** @example "Serveur FastMCP rendez-vous (production)" */
  name: string;
  /**
   * The admin who registered it (null once that account is deleted).
   * @example "6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6"
   */
  createdBy: string | null;
  /** @example "2026-11-26T09:00:00.000Z" */
  createdAt: string;
  /** @example null */
  revokedAt: string | null;
  /**
   * Last successful authentication (to the minute).
   * @example "2026-11-26T10:15:00.000Z"
   */
  lastUsedAt: string | null;
  /** @example "active" */
  status: 'active' | 'revoked';
  /**
   * Its canonical resource URI, null if none was given: tokens bound to it are accepted by this server only.
   * @example "https://mcp-rdv.chu-exemple.fr/mcp"
   */
  resourceUri: string | null;
  /**
   * The scopes a token for this server may carry.
   * @example ["read:data", "write:data", "read:bookings", "write:bookings", "read:audit"]
   */
  acceptedScopes: string[];
}

export class CreatedMcpClientView extends McpClientView {
  /**
   * The secret, shown in this answer only: only its SHA-256 is kept.
   * @example "mcps_pW3q8R1v0yXo2bN5kLd7Jt4Hs9Gf6Ea1Zc3Vb8Nm0Qw"
   */
  clientSecret: string;
}

export class McpClientList {
  /** Every registered MCP server, newest first (never a secret). */
  items: McpClientView[];
}

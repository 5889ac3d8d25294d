import { IsString, Length } from 'class-validator';
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

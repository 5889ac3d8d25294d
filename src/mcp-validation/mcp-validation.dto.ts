import { ApiProperty } from '@nestjs/swagger';
import type { Scope } from '../../libs/scopes/src/index.js';

export class ValidateRequestDto {
  /**
   * Scopes the token must all hold; otherwise the answer is 403 insufficient_scope. Names as in
   * GET /api/tokens/scopes: any other name is accepted and never held. At most 20 names of at most
   * 100 characters, else 400.
   * @example ["write:bookings"]
   */
  @ApiProperty({ required: false, type: [String], maxItems: 20 })
  requiredScopes?: string[];

  /**
   * The calling MCP server's own resource URI (docs/api.md, "Audience binding"). A token bound to an
   * MCP server is accepted only when this names that server (after canonicalisation); a bound token
   * checked without it is refused too (401 invalid_token, audited as wrong_audience). Unbound tokens
   * ignore it. 1–2048 characters, else 400.
   * @example "https://mcp-rdv.chu-exemple.fr/mcp"
   */
  @ApiProperty({ required: false, type: String, minLength: 1, maxLength: 2048 })
  resource?: string;
}

export class ValidatedUserDto {
  /** @example "6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6" */
  id: string;
  /** @example "marie.curie@chu-exemple.fr" */
  email: string;
  /** @example "Marie" */
  firstname: string;
  /** @example "Curie" */
  surname: string;
  /** @example "Marie Curie" */
  name: string;
  /** @example "+33 1 23 45 67 89" */
  phoneNumber: string | null;
  /** @example "2026-11-26T08:30:00.000Z" */
  profileCompletedAt: string | null;
}

export class ValidatedTokenDto {
  /** @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b" */
  id: string;
  /** @example "Serveur FastMCP production" */
  name: string;
  /**
   * The scopes the token grants now: read:audit only while its owner is an auditor or an admin.
   * @example ["read:data", "write:bookings"]
   */
  scopes: Scope[];
  /** @example "2027-02-24T09:00:00.000Z" */
  expiresAt: string;
}

export class ValidateAnswerDto {
  /** @example true */
  valid: true;
  user: ValidatedUserDto;
  token: ValidatedTokenDto;
  /**
   * The scopes the token grants now (as token.scopes), those requiredScopes are checked against.
   * @example ["read:data", "write:bookings"]
   */
  scopes: Scope[];
  /**
   * Expiry of the token, epoch seconds.
   * @example 1803456000
   */
  exp: number;
}

export class ValidateErrorDto {
  /** @example "Token invalide" */
  error: string;
  /** @example "invalid_token" */
  code?: string;
  /** With insufficient_scope: the scopes asked for. */
  requiredScopes?: string[];
  /** With insufficient_scope: the scopes the token grants now. */
  scopes?: string[];
}

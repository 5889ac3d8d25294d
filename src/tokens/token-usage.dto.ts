import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export const MAX_USAGE_DAYS = 90;

export class TokenUsageQuery {
  /**
   * How many UTC days, today's included, 1–90 (default 30).
   * @example 30
   */
  @ApiProperty({ type: 'integer', required: false })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_USAGE_DAYS)
  days?: number;
}

export class TokenUsageDayView {
  /** @example "2026-11-26" */
  day: string;
  /**
   * Validations and introspections that accepted the token.
   * @example 412
   */
  ok: number;
  /**
   * Validations and introspections that refused it (expired, revoked, insufficient scope…).
   * @example 3
   */
  refused: number;
}

export class TokenUsageAddressView {
  /**
   * The caller's address (the MCP server's); empty when none was known.
   * @example "10.0.4.12"
   */
  ip: string;
  /** @example 400 */
  ok: number;
  /** @example 1 */
  refused: number;
  /**
   * The last use from this address in the period.
   * @example "2026-11-26T10:15:03.120Z"
   */
  lastAt: string;
}

export class TokenUsageView {
  /** @example "0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b" */
  tokenId: string;
  /**
   * First day of the period (UTC).
   * @example "2026-10-28"
   */
  from: string;
  /**
   * Last day of the period (UTC, today).
   * @example "2026-11-26"
   */
  to: string;
  /** Every day of the period, oldest first, zeros included. */
  days: TokenUsageDayView[];
  /** @example 12034 */
  totalOk: number;
  /** @example 17 */
  totalRefused: number;
  /**
   * The last valid use, exact to the minute.
   * @example "2026-11-26T10:15:00.000Z"
   */
  lastUsedAt: string | null;
  /** @example "10.0.4.12" */
  lastUsedIp: string | null;
  /** The 10 addresses with the most uses in the period, most first. */
  topAddresses: TokenUsageAddressView[];
}

import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { PlainText } from '../common/plain-text.js';
import { FitsColumn } from '../common/text-length.js';
import { Trim } from '../common/transforms.js';
import { ROLES, type Role } from '../access/role.js';

/** Optional, but not nullable: `null` is validated (and refused) rather than skipped. */
const IsOptionalNotNull = (): PropertyDecorator => ValidateIf((_o, v) => v !== undefined);

/** Digits, spaces and + ( ) . - ; 6 to 32 characters (the column is varchar(32)), a leading + included. */
export const PHONE_PATTERN = /^(?=.{6,32}$)\+?[0-9][0-9 ().-]{4,30}[0-9]$/;
export const PHONE_MESSAGE = 'phoneNumber must be a phone number of 6 to 32 characters (digits, spaces, + ( ) . -)';

export class UpdateProfileDto {
  /** @example "Marie" */
  @IsOptionalNotNull()
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  @PlainText()
  firstname?: string;

  /** @example "Curie" */
  @IsOptionalNotNull()
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  @PlainText()
  surname?: string;

  /**
   * A phone number: an optional +, then 6 to 32 characters (31 after a +) of digits, spaces and ( ) . -,
   * the first and the last a digit. Surrounding spaces are trimmed first.
   * @example "+33 1 23 45 67 89"
   */
  @IsOptionalNotNull()
  @Trim()
  @IsString()
  @Matches(PHONE_PATTERN, { message: PHONE_MESSAGE })
  phoneNumber?: string;
}

export class AdminUpdateUserDto {
  /** @example "auditor" */
  @IsOptionalNotNull()
  @IsIn(ROLES)
  role?: Role;

  /** @example false */
  @IsOptionalNotNull()
  @IsBoolean()
  disabled?: boolean;
}

export class ListUsersQuery {
  /** Page size, 1–200 (default 50). */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  /** `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, MaxLength, Min } from 'class-validator';
import { Trim } from '../common/transforms.js';
import { ROLES, type Role } from './user.entity.js';

/** Digits, spaces and + ( ) . - ; 6 to 32 characters. */
export const PHONE_PATTERN = /^\+?[0-9][0-9 ().-]{4,30}[0-9]$/;

export class UpdateProfileDto {
  /** @example "Marie" */
  @IsOptional()
  @Trim()
  @IsString()
  @Length(1, 100)
  firstname?: string;

  /** @example "Curie" */
  @IsOptional()
  @Trim()
  @IsString()
  @Length(1, 100)
  surname?: string;

  /** @example "+33 1 23 45 67 89" */
  @IsOptional()
  @Trim()
  @IsString()
  @Matches(PHONE_PATTERN, { message: 'phoneNumber must be a phone number (digits, spaces, + ( ) . -)' })
  phoneNumber?: string;
}

export class AdminUpdateUserDto {
  /** @example "auditor" */
  @IsOptional()
  @IsIn(ROLES)
  role?: Role;

  /** @example false */
  @IsOptional()
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

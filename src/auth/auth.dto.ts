import { IsEmail, isEmail, IsOptional, IsString, Length, Matches, MaxLength, MinLength } from 'class-validator';
import { isPlainText, PlainText } from '../common/plain-text.js';
import { FitsColumn } from '../common/text-length.js';
import { Trim, TrimLower } from '../common/transforms.js';
import { PHONE_MESSAGE, PHONE_PATTERN } from '../users/users.dto.js';
import { UserView } from '../users/user.view.js';

/** Whether `value` is an email address register accepts: RegisterDto.email's checks (IsEmail with its default options, at most 254 characters, plain text). */
export function isWellFormedEmail(value: string): boolean {
  return value.length <= 254 && isEmail(value) && isPlainText(value);
}

export class RegisterDto {
  /** @example "marie.curie@chu-exemple.fr" */
  @TrimLower()
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  @PlainText()
  email: string;

  /**
   * At least 12 characters.
   * @example "correct horse battery staple"
   */
  @IsString()
  @MinLength(12)
  @MaxLength(256)
  password: string;

  /** @example "Marie" */
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  @PlainText()
  firstname: string;

  /** @example "Curie" */
  @Trim()
  @IsString()
  @Length(1, 100)
  @FitsColumn(100)
  @PlainText()
  surname: string;

  /**
   * A phone number: an optional +, then 6 to 32 characters (31 after a +) of digits, spaces and ( ) . -,
   * the first and the last a digit. Surrounding spaces are trimmed first.
   * @example "+33 1 23 45 67 89"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @Matches(PHONE_PATTERN, { message: PHONE_MESSAGE })
  phoneNumber?: string;
}

export class LoginDto {
  /** @example "marie.curie@chu-exemple.fr" */
  @TrimLower()
  @IsString()
  @MaxLength(254)
  email: string;

  /** @example "correct horse battery staple" */
  @IsString()
  @MaxLength(256)
  password: string;
}

export class LoginAnswer {
  /**
   * A session JWT, to send as `Authorization: Bearer …`. Not accepted by `/api/mcp/validate`.
   * @example "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl"
   */
  accessToken: string;
  /** @example "Bearer" */
  tokenType: 'Bearer';
  /**
   * Seconds until the session expires.
   * @example 3600
   */
  expiresIn: number;
  user: UserView;
}

import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min, registerDecorator, type ValidationOptions } from 'class-validator';
import { isScope, type Scope } from '../../libs/scopes/src/index.js';
import { ROLES, type Role } from '../access/role.js';

const MAP_MESSAGE = `restrictedScopes doit associer des portées à des listes non vides de rôles (${ROLES.join(', ')}), par exemple {"write:data": ["admin"]}`;

/** An object whose keys are scopes and whose values are non-empty lists of distinct roles. */
function IsScopeRoleMap(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isScopeRoleMap',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: MAP_MESSAGE, ...options },
      validator: {
        validate(value: unknown): boolean {
          if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
          return Object.entries(value).every(
            ([scope, roles]) =>
              isScope(scope) &&
              Array.isArray(roles) &&
              roles.length > 0 &&
              new Set(roles).size === roles.length &&
              roles.every((r) => (ROLES as readonly unknown[]).includes(r)),
          );
        },
      },
    });
}

const ROLE_MAP_SCHEMA: ApiPropertyOptions = {
  type: 'object',
  additionalProperties: { type: 'array', items: { type: 'string', enum: [...ROLES] } },
  example: { 'write:data': ['admin'], 'write:bookings': ['auditor', 'admin'] },
};

export class UpdatePolicyDto {
  /**
   * The longest lifetime of a new token (created or rotated), in whole days, 1–365.
   * @example 90
   */
  @ApiProperty({ type: 'integer' })
  @IsInt()
  @Min(1)
  @Max(365)
  maxLifetimeDays: number;

  /**
   * Scopes that only the roles named may put on a token: scope → roles (`user`, `auditor`, `admin`).
   * A scope not named stays open to every role that may hold it. `{}`: none.
   */
  @ApiProperty(ROLE_MAP_SCHEMA)
  @IsScopeRoleMap()
  restrictedScopes: Partial<Record<Scope, Role[]>>;

  /**
   * Whether a token with a write scope (`write:data`, `write:bookings`) must have an IP allowlist.
   * @example true
   */
  @IsBoolean()
  allowlistRequiredForWrite: boolean;

  /**
   * "Appliquer aux tokens existants": revoke now (reason `policy`) the active tokens that do not
   * comply. Without it, they keep working until they expire.
   * @example false
   */
  @ApiProperty({ required: false })
  @IsOptional()
  @IsBoolean()
  applyToExisting?: boolean;
}

export class PolicyView {
  /** @example 90 */
  @ApiProperty({ type: 'integer' })
  maxLifetimeDays: number;

  /** Scope → the only roles that may grant it. */
  @ApiProperty(ROLE_MAP_SCHEMA)
  restrictedScopes: Partial<Record<Scope, Role[]>>;

  /** @example true */
  allowlistRequiredForWrite: boolean;

  /**
   * The scopes `allowlistRequiredForWrite` is about.
   * @example ["write:data", "write:bookings"]
   */
  writeScopes: Scope[];

  /** @example "2026-12-07T22:25:00.000Z" */
  updatedAt: string;

  /**
   * The admin who last changed it; null for the defaults.
   * @example "1af758ff-3b4d-4c5e-9f60-718293a4b5c6"
   */
  updatedBy: string | null;
}

export class PolicyChangeView extends PolicyView {
  /**
   * Tokens revoked because they did not comply (only with `applyToExisting`).
   * @example 3
   */
  @ApiProperty({ type: 'integer' })
  revokedTokens: number;
}

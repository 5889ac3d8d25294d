import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, type Relation } from 'typeorm';
import type { Scope } from '../../libs/scopes/src/index.js';
import { User } from '../users/user.entity.js';

export type TokenStatus = 'active' | 'expired' | 'revoked';
/**
 * Why a token was revoked: by DELETE, by rotation, because its owner's account was disabled, or by
 * an admin policy applied to the existing tokens.
 */
export const REVOKED_REASONS = ['revoked', 'rotated', 'owner_disabled', 'policy'] as const;
export type RevokedReason = (typeof REVOKED_REASONS)[number];

/** An API token as stored: its id (the JWT's jti) and a SHA-256 fingerprint, never the token itself. */
@Entity({ name: 'api_tokens' })
export class ApiToken {
  @PrimaryColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'text', array: true })
  scopes: Scope[];

  @Column({ type: 'char', length: 64 })
  fingerprint: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @Column({ name: 'revoked_reason', type: 'varchar', length: 32, nullable: true })
  revokedReason: RevokedReason | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @Column({ name: 'last_used_ip', type: 'varchar', length: 45, nullable: true })
  lastUsedIp: string | null;

  /** The IP allowlist: addresses and CIDR ranges in canonical form; null when the token has none. */
  @Column({ name: 'allowed_ips', type: 'varchar', length: 43, array: true, nullable: true })
  allowedIps: string[] | null;

  @Column({ name: 'replaced_by', type: 'uuid', nullable: true })
  replacedBy: string | null;

  /** The canonical resource URI of the one MCP server the token is for; null: any (unbound). */
  @Column({ type: 'text', nullable: true })
  audience: string | null;

  /** For a token issued through OAuth: the client's id (a URL for a Client ID Metadata Document) and name. */
  @Column({ name: 'via_client_id', type: 'text', nullable: true })
  viaClientId: string | null;

  @Column({ name: 'via_client_name', type: 'text', nullable: true })
  viaClientName: string | null;

  /** Creation order (several tokens can share a created_at second). */
  @Column({ type: 'bigint', insert: false, update: false, select: false })
  seq?: string;
}

export function tokenStatus(t: Pick<ApiToken, 'revokedAt' | 'expiresAt'>, now = Date.now()): TokenStatus {
  if (t.revokedAt) return 'revoked';
  return t.expiresAt.getTime() <= now ? 'expired' : 'active';
}

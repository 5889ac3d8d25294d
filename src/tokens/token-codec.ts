import { createHmac, hash, type KeyObject, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { isScope, type Scope } from '../../libs/scopes/src/index.js';
import { KeyRing } from '../auth/key-ring.js';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { CANONICAL_UUID_PATTERN } from '../common/uuid.js';

export const API_TOKEN_AUDIENCE = 'hospiai:api';
/** The claim that marks an API token (sessions carry `token_use: session` and another audience). */
export const API_TOKEN_USE = 'api';
/** Longer bearer values are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;
const CLOCK_TOLERANCE_SECONDS = 5;
/** Tokens remembered as verified (see TokenCodec.inspect). */
const MAX_VERIFIED = 10_000;

export interface ApiTokenClaims {
  iss: string;
  sub: string;
  jti: string;
  scopes: Scope[];
  iat: number;
  exp: number;
}

export type VerifyResult =
  | { ok: true; claims: ApiTokenClaims }
  | { ok: false; outcome: 'invalid'; reason: string }
  | { ok: false; outcome: 'expired'; reason: 'expired'; claims: ApiTokenClaims };

/** A token's verification and its SHA-256 fingerprint (compared with the stored one, named in audit events). */
export interface Inspected {
  result: VerifyResult;
  fingerprint: string;
}

export function fingerprintOf(token: string): string {
  return hash('sha256', token, 'hex');
}

function claimsOf(payload: unknown): ApiTokenClaims | undefined {
  if (!payload || typeof payload !== 'object') return undefined;
  const p = payload as Record<string, unknown>;
  if (p.token_use !== API_TOKEN_USE) return undefined;
  if (typeof p.sub !== 'string' || !CANONICAL_UUID_PATTERN.test(p.sub)) return undefined;
  if (typeof p.jti !== 'string' || !CANONICAL_UUID_PATTERN.test(p.jti)) return undefined;
  if (typeof p.iss !== 'string' || !Number.isSafeInteger(p.iat) || !Number.isSafeInteger(p.exp)) return undefined;
  if (!Array.isArray(p.scopes) || p.scopes.length === 0 || !p.scopes.every(isScope)) return undefined;
  return { iss: p.iss, sub: p.sub, jti: p.jti, scopes: p.scopes as Scope[], iat: p.iat as number, exp: p.exp as number };
}

function signatureMatches(key: KeyObject, signingInput: string, signature: string): boolean {
  const expected = Buffer.from(createHmac('sha256', key).update(signingInput).digest('base64url'));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Signs and verifies API tokens: HS256 only, `kid` naming the key, issuer,
 * audience and `token_use` checked, no leeway beyond a few seconds. Never
 * throws: every malformed input is an `invalid` result. Signing goes through
 * @nestjs/jwt; verification, on every validate call, is done here with Node's
 * crypto and the key objects the KeyRing imported once.
 */
@Injectable()
export class TokenCodec {
  constructor(
    private readonly jwt: JwtService,
    private readonly keys: KeyRing,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * The tokens that verified, by their exact text: an MCP server presents the same token on every
   * call, and the signature, the claims and the fingerprint of a given text never change. Only
   * the expiry depends on the time; it is checked again on every use. Bounded: the oldest goes first.
   */
  private readonly verified = new Map<string, { claims: ApiTokenClaims; fingerprint: string }>();

  get canVerify(): boolean {
    return this.keys.usable;
  }

  /** verify() and the fingerprint, remembered for tokens that verified (never for the others). */
  inspect(token: string): Inspected {
    const known = token.length <= MAX_TOKEN_LENGTH ? this.verified.get(token) : undefined;
    if (known) {
      if (Math.floor(Date.now() / 1000) < known.claims.exp + CLOCK_TOLERANCE_SECONDS) {
        return { result: { ok: true, claims: known.claims }, fingerprint: known.fingerprint };
      }
      this.verified.delete(token);
      return { result: { ok: false, outcome: 'expired', reason: 'expired', claims: known.claims }, fingerprint: known.fingerprint };
    }
    const result = this.verify(token);
    const fingerprint = fingerprintOf(token);
    if (result.ok) {
      if (this.verified.size >= MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value as string);
      Object.freeze(result.claims.scopes);
      this.verified.set(token, { claims: Object.freeze(result.claims), fingerprint });
    }
    return { result, fingerprint };
  }

  /**
   * A bound token (`audience` set) carries `aud: ["hospiai:api", <resource>]`: every check of
   * `hospiai:api` still holds, and validation decides on the row's audience, not on this claim.
   */
  sign(input: { userId: string; tokenId: string; scopes: readonly Scope[]; issuedAt: Date; expiresAt: Date; audience?: string | null }): string {
    const signing = this.keys.signing;
    if (!signing) throw new Error('no signing key');
    return this.jwt.sign(
      {
        token_use: API_TOKEN_USE,
        scopes: [...input.scopes],
        iat: Math.floor(input.issuedAt.getTime() / 1000),
        exp: Math.floor(input.expiresAt.getTime() / 1000),
      },
      {
        secret: signing.key as never,
        algorithm: 'HS256',
        header: { alg: 'HS256', typ: 'JWT', kid: signing.kid },
        issuer: this.config.jwt.issuer,
        audience: input.audience ? [API_TOKEN_AUDIENCE, input.audience] : API_TOKEN_AUDIENCE,
        subject: input.userId,
        jwtid: input.tokenId,
      },
    );
  }

  verify(token: string): VerifyResult {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return { ok: false, outcome: 'invalid', reason: 'length' };
    const parts = token.split('.');
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return { ok: false, outcome: 'invalid', reason: 'malformed' };
    let header: unknown;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    } catch {
      return { ok: false, outcome: 'invalid', reason: 'malformed' };
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) return { ok: false, outcome: 'invalid', reason: 'malformed' };
    const h = header as Record<string, unknown>;
    if (h.alg !== 'HS256') return { ok: false, outcome: 'invalid', reason: 'algorithm' };
    if (h.typ !== undefined && h.typ !== 'JWT') return { ok: false, outcome: 'invalid', reason: 'typ' };
    // No extension is understood, so a token that marks one as critical is refused (RFC 7515 §4.1.11).
    if (h.crit !== undefined) return { ok: false, outcome: 'invalid', reason: 'crit' };
    const key = this.keys.verificationKey(h.kid);
    if (!key) {
      return {
        ok: false,
        outcome: 'invalid',
        reason: typeof h.kid === 'string' && h.kid.startsWith('session-') ? 'session_token' : 'unknown_kid',
      };
    }
    // HMAC-SHA256 over the signing input, compared in constant time with the signature as sent
    // (its exact base64url text: another encoding of the same bytes is not accepted).
    if (!signatureMatches(key, token.slice(0, parts[0].length + 1 + parts[1].length), parts[2])) {
      return { ok: false, outcome: 'invalid', reason: 'signature_or_claims' };
    }
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return { ok: false, outcome: 'invalid', reason: 'signature_or_claims' };
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload))
      return { ok: false, outcome: 'invalid', reason: 'signature_or_claims' };
    const p = payload as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    // The registered claims, as RFC 7519 §4.1 defines them: numeric times, our issuer, our audience.
    if (p.nbf !== undefined && (typeof p.nbf !== 'number' || p.nbf > now + CLOCK_TOLERANCE_SECONDS)) {
      return { ok: false, outcome: 'invalid', reason: 'signature_or_claims' };
    }
    if ((p.iat !== undefined && typeof p.iat !== 'number') || (p.exp !== undefined && typeof p.exp !== 'number')) {
      return { ok: false, outcome: 'invalid', reason: 'signature_or_claims' };
    }
    const audiences = Array.isArray(p.aud) ? p.aud : [p.aud];
    if (!audiences.includes(API_TOKEN_AUDIENCE) || p.iss !== this.config.jwt.issuer) {
      return { ok: false, outcome: 'invalid', reason: 'signature_or_claims' };
    }
    if (typeof p.exp === 'number' && now >= p.exp + CLOCK_TOLERANCE_SECONDS) {
      // Only a token that passes every other check is "expired"; anything else is invalid.
      const claims = claimsOf(payload);
      return claims
        ? { ok: false, outcome: 'expired', reason: 'expired', claims }
        : { ok: false, outcome: 'invalid', reason: 'signature_or_claims' };
    }
    const claims = claimsOf(payload);
    if (!claims) return { ok: false, outcome: 'invalid', reason: 'claims' };
    return { ok: true, claims };
  }
}

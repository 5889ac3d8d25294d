// Reading and forging JWTs in tests, with node:crypto only: what an attacker
// (or a careless client) could send, built byte by byte.
import { createHash, createHmac } from 'node:crypto';

export interface DecodedJwt {
  header: Record<string, any>;
  payload: Record<string, any>;
  signature: string;
}

export function base64url(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** Splits a compact JWT without checking anything. */
export function decodeJwt(token: string): DecodedJwt {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature: s,
  };
}

/** The HMAC signature of `header.payload` (base64url), with SHA-256 unless told otherwise. */
export function hmac(signingInput: string, secret: string | Buffer, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): string {
  return createHmac(hash, secret).update(signingInput).digest('base64url');
}

/** A compact JWT with exactly this header and payload, signed with HMAC. */
export function signJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  secret: string | Buffer,
  hash: 'sha256' | 'sha384' | 'sha512' = 'sha256',
): string {
  const input = `${base64url(header)}.${base64url(payload)}`;
  return `${input}.${hmac(input, secret, hash)}`;
}

/** True when the token's signature is HMAC-SHA256 of its first two parts under `secret`. */
export function signedWith(token: string, secret: string | Buffer): boolean {
  const dot = token.lastIndexOf('.');
  return hmac(token.slice(0, dot), secret) === token.slice(dot + 1);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The claims of an API token as the service issues them, for forging look-alikes. */
export function apiClaims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    token_use: 'api',
    scopes: ['read:data'],
    iat: now,
    exp: now + 3600,
    iss: 'hospiai',
    aud: 'hospiai:api',
    sub: '00000000-0000-4000-8000-000000000000',
    jti: '00000000-0000-4000-8000-000000000001',
    ...over,
  };
}

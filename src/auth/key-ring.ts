import { createHash, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import type { AppConfig } from '../config/config.js';

export interface VerificationKey {
  kid: string;
  key: KeyObject;
}

/** A key id derived from the key itself, so that several keys can coexist during a rotation. */
export function keyIdOf(secret: Buffer): string {
  return createHash('sha256').update('hospiai-kid:').update(secret).digest('base64url').slice(0, 16);
}

/**
 * The HMAC keys of the service, imported once as KeyObjects (verifying with a
 * string secret is an order of magnitude slower).
 *
 * - API tokens are signed with JWT_SECRET and verified with it or any of
 *   JWT_PREVIOUS_SECRETS, chosen by the `kid` header.
 * - Sessions use a key derived from JWT_SECRET with HKDF, so that a session
 *   can never verify as an API token (and the reverse), whatever its claims.
 * - The dashboard's CSRF tokens are HMACs of the session under a third derived key.
 */
export class KeyRing {
  readonly signing: VerificationKey | undefined;
  readonly session: KeyObject | undefined;
  readonly csrf: KeyObject | undefined;
  private readonly byKid = new Map<string, KeyObject>();

  constructor(current: Buffer | undefined, previous: readonly Buffer[] = []) {
    if (current && current.length > 0) {
      this.signing = { kid: keyIdOf(current), key: createSecretKey(current) };
      this.byKid.set(this.signing.kid, this.signing.key);
      this.session = createSecretKey(Buffer.from(hkdfSync('sha256', current, 'hospiai', 'session-jwt-v1', 32)));
      this.csrf = createSecretKey(Buffer.from(hkdfSync('sha256', current, 'hospiai', 'csrf-token-v1', 32)));
    }
    for (const p of previous) {
      const kid = keyIdOf(p);
      if (!this.byKid.has(kid)) this.byKid.set(kid, createSecretKey(p));
    }
  }

  static fromConfig(config: AppConfig): KeyRing {
    return new KeyRing(config.jwt.secret, config.jwt.previousSecrets);
  }

  /** The key for a token's `kid`, or undefined when the kid is unknown. */
  verificationKey(kid: unknown): KeyObject | undefined {
    return typeof kid === 'string' ? this.byKid.get(kid) : undefined;
  }

  get usable(): boolean {
    return this.signing !== undefined && this.byKid.size > 0;
  }
}

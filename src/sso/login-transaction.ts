import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** The login in progress, between the redirect to the provider and its answer: in an encrypted cookie, never in the URL. */
export interface LoginTransaction {
  /** The provider's id. */
  p: string;
  state: string;
  nonce: string;
  /** PKCE code verifier (RFC 7636). */
  verifier: string;
  /** The dashboard page to land on, or `json` for the API flow (the callback answers the session as JSON). */
  next: string;
  /** Expiry, epoch seconds. */
  exp: number;
}

export const TRANSACTION_COOKIE = 'hospiai_oidc';
/** Ten minutes to log in at the provider. */
export const TRANSACTION_TTL_SECONDS = 600;
/** Sent back only to the callback routes. */
export const TRANSACTION_COOKIE_PATH = '/api/auth/oidc/';

/**
 * Seals and opens login transactions with AES-256-GCM under a key derived from JWT_SECRET (HKDF,
 * its own label): the browser holds the state, nonce and PKCE verifier but can neither read nor
 * change them, and a cookie of another deployment (another secret) does not open.
 */
export class TransactionSealer {
  private readonly key: Buffer;

  constructor(secret: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'hospiai', 'oidc-login-transaction-v1', 32));
  }

  seal(t: LoginTransaction): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(t), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The transaction, if the cookie opens under this key and has not expired. */
  open(sealed: string | undefined, nowSeconds = Math.floor(Date.now() / 1000)): LoginTransaction | undefined {
    if (!sealed || sealed.length > 4096) return undefined;
    try {
      const raw = Buffer.from(sealed, 'base64url');
      if (raw.length < 29) return undefined;
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const t = JSON.parse(text) as LoginTransaction;
      if (typeof t.exp !== 'number' || t.exp < nowSeconds) return undefined;
      return t;
    } catch {
      return undefined;
    }
  }
}

/** The transaction cookie: HttpOnly, SameSite=Lax (the provider's redirect back is a cross-site top-level GET), scoped to the OIDC routes. */
export function transactionCookie(value: string, secure: boolean, maxAgeSeconds: number): string {
  const parts = [
    `${TRANSACTION_COOKIE}=${value}`,
    `Path=${TRANSACTION_COOKIE_PATH}`,
    `Max-Age=${maxAgeSeconds}`,
    'SameSite=Lax',
    'HttpOnly',
  ];
  if (maxAgeSeconds <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

import { JwtService } from '@nestjs/jwt';
import { jest } from '@jest/globals';
import { KeyRing } from '../auth/key-ring.js';
import type { AppConfig } from '../config/config.js';
import { fingerprintOf, TokenCodec } from './token-codec.js';

const KEY = Buffer.from('token-codec-unit-test-key-0123456789abcdefghij');
const config = { jwt: { issuer: 'hospiai-test' } } as unknown as AppConfig;
const USER = '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6';
const TOKEN_ID = '0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b';

function codec(): TokenCodec {
  return new TokenCodec(new JwtService(), new KeyRing(KEY), config);
}

function issue(c: TokenCodec, lifetimeSeconds: number, now = Date.now()): string {
  return c.sign({
    userId: USER,
    tokenId: TOKEN_ID,
    scopes: ['read:data'],
    issuedAt: new Date(now),
    expiresAt: new Date(now + lifetimeSeconds * 1000),
  });
}

describe('TokenCodec.inspect', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('gives the same answer and fingerprint as verify(), the first time and the next ones', () => {
    const c = codec();
    const token = issue(c, 3600);
    const direct = c.verify(token);
    expect(direct.ok).toBe(true);
    for (let i = 0; i < 3; i++) {
      const inspected = c.inspect(token);
      expect(inspected.result).toEqual(direct);
      expect(inspected.fingerprint).toBe(fingerprintOf(token));
    }
  });

  it('a remembered token still expires: its expiry is checked on every use', () => {
    const start = Date.now();
    jest.useFakeTimers({ now: start });
    const c = codec();
    const token = issue(c, 60, start);
    expect(c.inspect(token).result.ok).toBe(true);
    jest.setSystemTime(start + 64_000); // within the 5 s tolerance
    expect(c.inspect(token).result.ok).toBe(true);
    jest.setSystemTime(start + 66_000);
    const late = c.inspect(token);
    expect(late.result).toMatchObject({ ok: false, outcome: 'expired', reason: 'expired', claims: { jti: TOKEN_ID, sub: USER } });
    expect(late.fingerprint).toBe(fingerprintOf(token));
    // And again (no longer remembered): the full check says the same.
    expect(c.inspect(token).result).toMatchObject({ ok: false, outcome: 'expired' });
    expect(c.verify(token)).toMatchObject({ ok: false, outcome: 'expired' });
  });

  it('only the exact text is remembered: the genuine token verified first does not vouch for an altered one', () => {
    const c = codec();
    const token = issue(c, 3600);
    expect(c.inspect(token).result.ok).toBe(true);
    const [h, p, sig] = token.split('.');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBytes = `${sig.slice(0, -1)}${alphabet[alphabet.indexOf(sig[sig.length - 1]) ^ 1]}`;
    for (const altered of [`${h}.${p}.${sameBytes}`, `${h}.${p}.${sig}x`, `${h}.${p}X.${sig}`, ` ${token}`]) {
      expect(c.inspect(altered).result).toMatchObject({ ok: false, outcome: 'invalid' });
    }
  });

  it('a token signed with another key is invalid, however often it is presented', () => {
    const other = new TokenCodec(new JwtService(), new KeyRing(Buffer.from('another-key-entirely-0123456789abcdefghijklmn')), config);
    const foreign = issue(other, 3600);
    const c = codec();
    for (let i = 0; i < 3; i++) expect(c.inspect(foreign).result).toMatchObject({ ok: false, outcome: 'invalid', reason: 'unknown_kid' });
  });

  it('remembered claims cannot be changed by a caller', () => {
    const c = codec();
    const token = issue(c, 3600);
    const first = c.inspect(token).result;
    if (!first.ok) throw new Error('expected a valid token');
    expect(() => (first.claims.scopes as string[]).push('read:audit')).toThrow(TypeError);
    expect(c.inspect(token).result).toMatchObject({ ok: true, claims: { scopes: ['read:data'] } });
  });
});

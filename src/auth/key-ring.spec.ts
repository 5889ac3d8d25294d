import { createHmac, type KeyObject } from 'node:crypto';
import type { AppConfig } from '../config/config.js';
import { KeyRing, keyIdOf } from './key-ring.js';

const CURRENT = Buffer.from('current-key-for-unit-tests-0123456789abcdef');
const OLD_1 = Buffer.from('old-key-number-one-for-unit-tests-0123456789');
const OLD_2 = Buffer.from('old-key-number-two-for-unit-tests-0123456789');

const bytes = (k: KeyObject | undefined): Buffer => {
  if (!k) throw new Error('no key');
  return k.export();
};
const hmac = (k: KeyObject | Buffer, data = 'header.payload'): string => createHmac('sha256', k).update(data).digest('base64url');

describe('keyIdOf', () => {
  it('is stable for a key', () => {
    expect(keyIdOf(CURRENT)).toBe(keyIdOf(Buffer.from(CURRENT)));
  });

  it('differs between keys', () => {
    const kids = new Set([CURRENT, OLD_1, OLD_2, Buffer.from('current-key-for-unit-tests-0123456789abcdeF')].map(keyIdOf));
    expect(kids.size).toBe(4);
  });

  it('is a short base64url string that does not reveal the key', () => {
    const kid = keyIdOf(CURRENT);
    expect(kid).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(CURRENT.toString('base64url')).not.toContain(kid);
    expect(CURRENT.toString()).not.toContain(kid);
  });
});

describe('KeyRing', () => {
  it('signs with the current key, named by its kid', () => {
    const ring = new KeyRing(CURRENT, [OLD_1, OLD_2]);
    expect(ring.signing?.kid).toBe(keyIdOf(CURRENT));
    expect(bytes(ring.signing?.key).equals(CURRENT)).toBe(true);
    expect(ring.verificationKey(keyIdOf(CURRENT))).toBe(ring.signing?.key);
    expect(ring.usable).toBe(true);
  });

  it('keeps previous secrets for verification only', () => {
    const ring = new KeyRing(CURRENT, [OLD_1, OLD_2]);
    expect(bytes(ring.verificationKey(keyIdOf(OLD_1))).equals(OLD_1)).toBe(true);
    expect(bytes(ring.verificationKey(keyIdOf(OLD_2))).equals(OLD_2)).toBe(true);
    // The signing key stays the current one, and the session key derives from it alone.
    expect(bytes(ring.signing?.key).equals(CURRENT)).toBe(true);
    expect(bytes(ring.session).equals(bytes(new KeyRing(CURRENT).session))).toBe(true);
    expect(bytes(ring.session).equals(bytes(new KeyRing(OLD_1).session))).toBe(false);
  });

  it('does not let a previous secret shadow the current key', () => {
    const ring = new KeyRing(CURRENT, [CURRENT, OLD_1]);
    expect(ring.verificationKey(keyIdOf(CURRENT))).toBe(ring.signing?.key);
  });

  it('knows no other kid', () => {
    const ring = new KeyRing(CURRENT, [OLD_1]);
    expect(ring.verificationKey(keyIdOf(OLD_2))).toBeUndefined();
    expect(ring.verificationKey('')).toBeUndefined();
    expect(ring.verificationKey(undefined)).toBeUndefined();
    expect(ring.verificationKey(42)).toBeUndefined();
    expect(ring.verificationKey(['x'])).toBeUndefined();
    expect(ring.verificationKey('__proto__')).toBeUndefined();
  });

  it('uses a session key that differs from the signing key and from every verification key', () => {
    const ring = new KeyRing(CURRENT, [OLD_1]);
    const session = bytes(ring.session);
    expect(session.length).toBe(32);
    expect(session.equals(CURRENT)).toBe(false);
    expect(session.equals(OLD_1)).toBe(false);
    expect(ring.verificationKey(keyIdOf(session))).toBeUndefined();
    // What one key signs, the other does not verify.
    expect(hmac(ring.session as KeyObject)).not.toBe(hmac(ring.signing?.key as KeyObject));
  });

  it('derives the same session key from the same secret, and another from another', () => {
    expect(bytes(new KeyRing(CURRENT).session).equals(bytes(new KeyRing(Buffer.from(CURRENT)).session))).toBe(true);
    expect(bytes(new KeyRing(CURRENT).session).equals(bytes(new KeyRing(OLD_1).session))).toBe(false);
  });

  it('is not usable without a current key', () => {
    for (const ring of [new KeyRing(undefined), new KeyRing(Buffer.alloc(0), [OLD_1])]) {
      expect(ring.signing).toBeUndefined();
      expect(ring.session).toBeUndefined();
      expect(ring.usable).toBe(false);
    }
  });

  it('is built from the configuration', () => {
    const config = { jwt: { secret: CURRENT, previousSecrets: [OLD_1] } } as unknown as AppConfig;
    const ring = KeyRing.fromConfig(config);
    expect(ring.signing?.kid).toBe(keyIdOf(CURRENT));
    expect(bytes(ring.verificationKey(keyIdOf(OLD_1))).equals(OLD_1)).toBe(true);
  });
});

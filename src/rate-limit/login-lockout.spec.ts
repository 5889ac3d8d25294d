import type { AppConfig } from '../config/config.js';
import { LoginLockout } from './login-lockout.js';

const EMAIL = 'marie@chu-exemple.fr';
const IP = '192.0.2.7';

function lockout(after = 3, base = 30, max = 120): LoginLockout {
  const rateLimits = { lockoutAfterFailures: after, lockoutBaseSeconds: base, lockoutMaxSeconds: max };
  return new LoginLockout({ rateLimits } as unknown as AppConfig);
}

/** One whole attempt: begun, then ended with its outcome. Returns what begin answered. */
function attempt(l: LoginLockout, outcome: 'failure' | 'success' | 'error', now: number, ip = IP): number {
  const refused = l.begin(EMAIL, ip, now);
  if (refused === 0) l.end(EMAIL, ip, outcome, now);
  return refused;
}

describe('LoginLockout', () => {
  it('locks after the set number of consecutive failures, doubling each further one up to the cap', () => {
    const l = lockout(3, 30, 120);
    let now = 1_000_000;
    expect([attempt(l, 'failure', now), attempt(l, 'failure', now), attempt(l, 'failure', now)]).toEqual([0, 0, 0]);
    expect(l.begin(EMAIL, IP, now)).toBe(30);
    const locks: number[] = [];
    for (let i = 0; i < 4; i++) {
      now += 1_000_000;
      expect(attempt(l, 'failure', now)).toBe(0);
      locks.push(l.lockedFor(EMAIL, IP, now));
    }
    expect(locks).toEqual([60, 120, 120, 120]);
  });

  it('counts attempts under way as failures: parallel guesses get no more checks than sequential ones', () => {
    const l = lockout(3, 30, 120);
    const now = 1_000_000;
    // Ten guesses begun before any has ended: three are let through, the others refused with
    // the lock the three would set if they all failed.
    const answers = Array.from({ length: 10 }, () => l.begin(EMAIL, IP, now));
    expect(answers).toEqual([0, 0, 0, 30, 30, 30, 30, 30, 30, 30]);
    for (let i = 0; i < 3; i++) l.end(EMAIL, IP, 'failure', now);
    expect(l.lockedFor(EMAIL, IP, now)).toBe(30);
  });

  it('frees the place of an attempt that ends without a verdict, or with a success', () => {
    const l = lockout(2, 30, 120);
    const now = 1_000_000;
    expect(attempt(l, 'failure', now)).toBe(0);
    // One failure, one attempt under way: a third would be refused.
    expect(l.begin(EMAIL, IP, now)).toBe(0);
    expect(l.begin(EMAIL, IP, now)).toBe(30);
    l.end(EMAIL, IP, 'error', now);
    // The error did not count: one more attempt may be checked, and its success clears the count.
    expect(attempt(l, 'success', now)).toBe(0);
    expect(attempt(l, 'failure', now)).toBe(0);
    expect(attempt(l, 'failure', now)).toBe(0);
    expect(l.lockedFor(EMAIL, IP, now)).toBe(30);
  });

  it('a success while other attempts are under way clears the failures but keeps counting those attempts', () => {
    const l = lockout(2, 30, 120);
    const now = 1_000_000;
    expect(attempt(l, 'failure', now)).toBe(0);
    expect(l.begin(EMAIL, IP, now)).toBe(0); // will succeed
    l.end(EMAIL, IP, 'success', now);
    expect(l.begin(EMAIL, IP, now)).toBe(0);
    expect(l.begin(EMAIL, IP, now)).toBe(0);
    expect(l.begin(EMAIL, IP, now)).toBe(30);
  });

  it('while locked, attempts are refused and do not extend the lock; the lock expires', () => {
    const l = lockout(1, 10, 60);
    const now = 1_000_000;
    expect(attempt(l, 'failure', now)).toBe(0);
    expect(l.begin(EMAIL, IP, now + 5_000)).toBe(5);
    expect(l.begin(EMAIL, IP, now + 9_500)).toBe(1);
    expect(attempt(l, 'success', now + 10_000)).toBe(0);
  });

  it('once a lock expires, one attempt at a time is checked, and its failure locks for twice as long', () => {
    const l = lockout(2, 10, 60);
    const now = 1_000_000;
    expect([attempt(l, 'failure', now), attempt(l, 'failure', now)]).toEqual([0, 0]);
    const later = now + 10_000;
    expect(l.begin(EMAIL, IP, later)).toBe(0);
    expect(l.begin(EMAIL, IP, later)).toBe(20);
    l.end(EMAIL, IP, 'failure', later);
    expect(l.lockedFor(EMAIL, IP, later)).toBe(20);
  });

  it('is per address: failures from one address do not lock the account from another', () => {
    const l = lockout(1, 10, 60);
    expect(attempt(l, 'failure', 1_000_000)).toBe(0);
    expect(l.begin(EMAIL, IP, 1_000_000)).toBe(10);
    expect(l.begin(EMAIL, '198.51.100.4', 1_000_000)).toBe(0);
    expect(l.begin(EMAIL.toUpperCase(), IP, 1_000_000)).toBe(10);
  });

  it('forgets failures after an hour without one', () => {
    const l = lockout(2, 10, 60);
    const now = 1_000_000;
    expect(attempt(l, 'failure', now)).toBe(0);
    expect(attempt(l, 'failure', now + 3_600_001)).toBe(0);
    expect(l.lockedFor(EMAIL, IP, now + 3_600_001)).toBe(0);
    expect(attempt(l, 'failure', now + 3_600_002)).toBe(0);
    expect(l.lockedFor(EMAIL, IP, now + 3_600_002)).toBe(10);
  });

  it('does nothing when turned off', () => {
    const l = lockout(0);
    for (let i = 0; i < 20; i++) expect(l.begin(EMAIL, IP, 1_000_000)).toBe(0);
    for (let i = 0; i < 20; i++) l.end(EMAIL, IP, 'failure', 1_000_000);
    expect(l.lockedFor(EMAIL, IP, 1_000_000)).toBe(0);
  });
});

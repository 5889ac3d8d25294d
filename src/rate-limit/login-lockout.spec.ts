import type { AppConfig } from '../config/config.js';
import { LoginLockout } from './login-lockout.js';

const EMAIL = 'marie@chu-exemple.fr';
const IP = '192.0.2.7';

function lockout(after = 3, base = 30, max = 120, perAccount = 0): LoginLockout {
  const rateLimits = { lockoutAfterFailures: after, lockoutBaseSeconds: base, lockoutMaxSeconds: max, loginPerAccountPerMinute: perAccount };
  return new LoginLockout({ rateLimits } as unknown as AppConfig);
}

/** One whole attempt: begun, then ended with its outcome. Returns what begin answered. */
function attempt(l: LoginLockout, outcome: 'failure' | 'success' | 'error', now: number, ip = IP): number {
  const refused = l.begin(EMAIL, ip, now).refusedFor;
  if (refused === 0) l.end(EMAIL, ip, outcome, now);
  return refused;
}

describe('LoginLockout', () => {
  it('locks after the set number of consecutive failures, doubling each further one up to the cap', () => {
    const l = lockout(3, 30, 120);
    let now = 1_000_000;
    expect([attempt(l, 'failure', now), attempt(l, 'failure', now), attempt(l, 'failure', now)]).toEqual([0, 0, 0]);
    expect(l.begin(EMAIL, IP, now).refusedFor).toBe(30);
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
    const answers = Array.from({ length: 10 }, () => l.begin(EMAIL, IP, now).refusedFor);
    expect(answers).toEqual([0, 0, 0, 30, 30, 30, 30, 30, 30, 30]);
    for (let i = 0; i < 3; i++) l.end(EMAIL, IP, 'failure', now);
    expect(l.lockedFor(EMAIL, IP, now)).toBe(30);
  });

  it('frees the place of an attempt that ends without a verdict, or with a success', () => {
    const l = lockout(2, 30, 120);
    const now = 1_000_000;
    expect(attempt(l, 'failure', now)).toBe(0);
    // One failure, one attempt under way: a third would be refused.
    expect(l.begin(EMAIL, IP, now).refusedFor).toBe(0);
    expect(l.begin(EMAIL, IP, now).refusedFor).toBe(30);
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
    expect(l.begin(EMAIL, IP, now).refusedFor).toBe(0); // will succeed
    l.end(EMAIL, IP, 'success', now);
    expect(l.begin(EMAIL, IP, now).refusedFor).toBe(0);
    expect(l.begin(EMAIL, IP, now).refusedFor).toBe(0);
    expect(l.begin(EMAIL, IP, now).refusedFor).toBe(30);
  });

  it('while locked, attempts are refused and do not extend the lock; the lock expires', () => {
    const l = lockout(1, 10, 60);
    const now = 1_000_000;
    expect(attempt(l, 'failure', now)).toBe(0);
    expect(l.begin(EMAIL, IP, now + 5_000).refusedFor).toBe(5);
    expect(l.begin(EMAIL, IP, now + 9_500).refusedFor).toBe(1);
    expect(attempt(l, 'success', now + 10_000)).toBe(0);
  });

  it('once a lock expires, one attempt at a time is checked, and its failure locks for twice as long', () => {
    const l = lockout(2, 10, 60);
    const now = 1_000_000;
    expect([attempt(l, 'failure', now), attempt(l, 'failure', now)]).toEqual([0, 0]);
    const later = now + 10_000;
    expect(l.begin(EMAIL, IP, later).refusedFor).toBe(0);
    expect(l.begin(EMAIL, IP, later).refusedFor).toBe(20);
    l.end(EMAIL, IP, 'failure', later);
    expect(l.lockedFor(EMAIL, IP, later)).toBe(20);
  });

  it('is per address: failures from one address do not lock the account from another', () => {
    const l = lockout(1, 10, 60);
    expect(attempt(l, 'failure', 1_000_000)).toBe(0);
    expect(l.begin(EMAIL, IP, 1_000_000).refusedFor).toBe(10);
    expect(l.begin(EMAIL, '198.51.100.4', 1_000_000).refusedFor).toBe(0);
    expect(l.begin(EMAIL.toUpperCase(), IP, 1_000_000).refusedFor).toBe(10);
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
    for (let i = 0; i < 20; i++) expect(l.begin(EMAIL, IP, 1_000_000).refusedFor).toBe(0);
    for (let i = 0; i < 20; i++) l.end(EMAIL, IP, 'failure', 1_000_000);
    expect(l.lockedFor(EMAIL, IP, 1_000_000)).toBe(0);
  });

  describe('per-account budget', () => {
    it('past the budget, an address that has failed on the account is refused; a clean one waits its turn, never refused', () => {
      // 6 checks a minute: one every 10 s once the first 6 are spent.
      const l = lockout(5, 30, 120, 6);
      const now = 1_000_000;
      for (let i = 0; i < 6; i++) expect(attempt(l, 'failure', now, `203.0.113.${i}`)).toBe(0);
      // 203.0.113.0 has failed on the account: refused until a check is free again.
      expect(l.begin(EMAIL, '203.0.113.0', now)).toEqual({ refusedFor: 10, reason: 'account_rate', waitMs: 0 });
      // Clean addresses are let through, each booked 10 s after the one before.
      expect(l.begin(EMAIL, '198.51.100.1', now)).toEqual({ refusedFor: 0, waitMs: 10_000 });
      expect(l.begin(EMAIL, '198.51.100.2', now)).toEqual({ refusedFor: 0, waitMs: 20_000 });
      // An address with an attempt under way is not clean: refused, it cannot book a second place.
      expect(l.begin(EMAIL, '198.51.100.2', now).reason).toBe('account_rate');
      // Another account has its own budget.
      expect(l.begin('paul@chu-exemple.fr', '203.0.113.0', now)).toEqual({ refusedFor: 0, waitMs: 0 });
    });

    it('bounds the checks from any number of addresses to the budget, and a success gives its check back', () => {
      const l = lockout(5, 30, 120, 6);
      const start = 1_000_000;
      const checksAt: number[] = [];
      const address = (i: number): string => `10.0.${i >> 8}.${i & 255}`;
      // 200 fresh addresses guess in one burst: each is let through only at its booked time.
      for (let i = 0; i < 200; i++) {
        const a = l.begin(EMAIL, address(i), start);
        expect(a.refusedFor).toBe(0);
        checksAt.push(start + a.waitMs);
      }
      checksAt.forEach((at, i) => l.end(EMAIL, address(i), 'failure', at));
      // 6 at once, then one every 10 s: never more than 6 + t/10s checks within t of the start.
      checksAt.forEach((at, k) => expect(at - start).toBeGreaterThanOrEqual(Math.max(0, k - 5) * 10_000));
      // The owner from a clean address is booked after them, and let through.
      const owner = l.begin(EMAIL, '192.0.2.200', start);
      expect(owner.refusedFor).toBe(0);
      l.end(EMAIL, '192.0.2.200', 'success', start + owner.waitMs);
      const next = l.begin(EMAIL, '192.0.2.201', start + owner.waitMs);
      expect(next.waitMs).toBeLessThanOrEqual(10_000);
    });

    it('counts an IPv6 client by its /64', () => {
      const l = lockout(1, 10, 60, 0);
      expect(attempt(l, 'failure', 1_000_000, '2001:db8:1:2::1')).toBe(0);
      expect(l.begin(EMAIL, '2001:db8:1:2:ffff::9', 1_000_000).refusedFor).toBe(10);
      expect(l.begin(EMAIL, '2001:db8:1:3::1', 1_000_000).refusedFor).toBe(0);
    });
  });
});

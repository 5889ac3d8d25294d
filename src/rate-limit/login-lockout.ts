import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';

interface Entry {
  failures: number;
  /** Attempts begun and not yet ended: each counts as a failure until it ends. */
  pending: number;
  lastFailureAt: number;
  lockedUntil: number;
}

/** How a login attempt ended: a wrong password (or unknown or disabled account), a success, or no verdict (an error). */
export type LoginOutcome = 'failure' | 'success' | 'error';

const MAX_ENTRIES = 100_000;
/** Failures older than this are forgotten. */
const FORGET_AFTER_MS = 60 * 60 * 1000;

/**
 * Lockout after repeated failed logins for one account from one address, with
 * exponential backoff: after `lockoutAfterFailures` consecutive failures the
 * pair is locked for `lockoutBaseSeconds`, doubled at each further failure, never
 * longer than `lockoutMaxSeconds`. Attempts during a lock are refused without
 * checking the password and do not extend it; a success clears the count, and
 * an hour without failure forgets it. Keyed on the address as well as the
 * account, so that an attacker cannot lock the owner out from elsewhere (the
 * per-account rate limit, a fixed window, bounds guessing from many addresses).
 *
 * An attempt counts as a failure from the moment it begins (`begin`) until it ends (`end`):
 * guesses sent in parallel would otherwise all pass the check while the first of them is still
 * being verified, however few failures the lockout allows.
 */
@Injectable()
export class LoginLockout {
  private readonly entries = new Map<string, Entry>();

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  private get enabled(): boolean {
    return this.config.rateLimits.lockoutAfterFailures > 0;
  }

  /** Seconds left on the lock of this account for this address, or 0. */
  lockedFor(email: string, ip: string | null, now = Date.now()): number {
    if (!this.enabled) return 0;
    const e = this.entries.get(keyOf(email, ip));
    return e && e.lockedUntil > now ? Math.ceil((e.lockedUntil - now) / 1000) : 0;
  }

  /**
   * Begins an attempt. Returns the seconds to refuse it for: the lock's remaining time, or, when
   * the attempts under way would lock the pair should they fail, the lock they would set. Else 0,
   * and the attempt counts as a failure until `end`, which each attempt begun must be given.
   */
  begin(email: string, ip: string | null, now = Date.now()): number {
    if (!this.enabled) return 0;
    const locked = this.lockedFor(email, ip, now);
    if (locked > 0) return locked;
    const key = keyOf(email, ip);
    const e = this.current(key, now) ?? { failures: 0, pending: 0, lastFailureAt: now, lockedUntil: 0 };
    const underWay = e.failures + e.pending;
    if (e.pending > 0 && underWay >= this.config.rateLimits.lockoutAfterFailures) return this.lockSeconds(underWay);
    e.pending += 1;
    this.entries.set(key, e);
    return 0;
  }

  /** Ends an attempt that `begin` let through. */
  end(email: string, ip: string | null, outcome: LoginOutcome, now = Date.now()): void {
    if (!this.enabled) return;
    const key = keyOf(email, ip);
    const e = this.entries.get(key);
    if (!e) return;
    e.pending = Math.max(0, e.pending - 1);
    if (outcome === 'success') {
      e.failures = 0;
      e.lockedUntil = 0;
    } else if (outcome === 'failure') {
      if (now - e.lastFailureAt > FORGET_AFTER_MS) e.failures = 0;
      e.failures += 1;
      e.lastFailureAt = now;
      if (e.failures >= this.config.rateLimits.lockoutAfterFailures) e.lockedUntil = now + this.lockSeconds(e.failures) * 1000;
      // The map is kept in order of last failure, for sweep().
      this.entries.delete(key);
    }
    if (e.failures === 0 && e.pending === 0) {
      this.entries.delete(key);
      return;
    }
    this.entries.set(key, e);
    if (this.entries.size > MAX_ENTRIES) this.sweep(now);
  }

  /** The pair's entry, or undefined once its failures are forgotten (and nothing is under way). */
  private current(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && e.pending === 0 && now - e.lastFailureAt > FORGET_AFTER_MS && e.lockedUntil <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** The lock a pair's `failures`-th consecutive failure sets: doubled per failure beyond the first that locks, capped. */
  private lockSeconds(failures: number): number {
    const { lockoutAfterFailures, lockoutBaseSeconds, lockoutMaxSeconds } = this.config.rateLimits;
    const doublings = Math.min(30, Math.max(0, failures - lockoutAfterFailures));
    return Math.min(lockoutMaxSeconds, lockoutBaseSeconds * 2 ** doublings);
  }

  private sweep(now: number): void {
    for (const [key, e] of this.entries) {
      if (e.pending === 0 && e.lockedUntil <= now && now - e.lastFailureAt > FORGET_AFTER_MS) this.entries.delete(key);
    }
    // Still too many: the oldest go first (the map is in order of last failure).
    for (const key of this.entries.keys()) {
      if (this.entries.size <= MAX_ENTRIES) break;
      this.entries.delete(key);
    }
  }
}

function keyOf(email: string, ip: string | null): string {
  return `${email.trim().toLowerCase()}\u0000${ip ?? ''}`;
}

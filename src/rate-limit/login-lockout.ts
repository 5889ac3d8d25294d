import { Injectable } from '@nestjs/common';
import { normalizeIp } from '@nestjs/throttler';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';

interface Entry {
  failures: number;
  /** Attempts begun and not yet ended: each counts as a failure until it ends. */
  pending: number;
  lastFailureAt: number;
  lockedUntil: number;
}

/** An account's budget of password checks: a token bucket of `loginPerAccountPerMinute`, refilled over a minute. */
interface Budget {
  /** Checks that may start now; below 0 when checks from clean addresses are booked ahead. */
  tokens: number;
  updatedAt: number;
}

/** How a login attempt ended: a wrong password (or unknown or disabled account), a success, or no verdict (an error). */
export type LoginOutcome = 'failure' | 'success' | 'error';

/**
 * What `begin` decided: refused for `refusedFor` seconds (the pair's lockout, or the account's
 * budget spent while this address has failed on it), or let through after `waitMs`.
 */
export interface LoginAdmission {
  refusedFor: number;
  reason?: 'locked_out' | 'account_rate';
  waitMs: number;
}

const MAX_ENTRIES = 100_000;
/** Failures older than this are forgotten. */
const FORGET_AFTER_MS = 60 * 60 * 1000;
const MINUTE_MS = 60_000;

/**
 * Login abuse state, in memory per instance, with two defences that never lock the owner out from
 * an address that has not failed:
 *
 * - **Per account and address**: after `lockoutAfterFailures` consecutive failures the pair is
 *   locked for `lockoutBaseSeconds`, doubled at each further failure, never longer than
 *   `lockoutMaxSeconds`. Attempts during a lock are refused without checking the password and do
 *   not extend it; a success clears the count, and an hour without failure forgets it.
 * - **Per account, from every address together**: at most `loginPerAccountPerMinute` password
 *   checks a minute (a token bucket: that many at once, then one every 60/N seconds). Past it, an
 *   address that has failed on the account (in the last hour) or has an attempt under way is
 *   refused; any other address is never refused but waits for the next free check, booked in
 *   order of arrival. So guesses from any number of addresses stay within the budget, and each
 *   booking ahead of the owner costs the guesser an address that has not yet failed on the account.
 *   A success or an attempt without a verdict gives its check back.
 *
 * An IPv6 client is counted by its /64, as the other limits count it: one host holds a whole /64.
 *
 * An attempt counts as a failure from the moment it begins (`begin`) until it ends (`end`):
 * guesses sent in parallel would otherwise all pass the check while the first of them is still
 * being verified, however few failures the lockout allows.
 */
@Injectable()
export class LoginLockout {
  private readonly entries = new Map<string, Entry>();
  private readonly budgets = new Map<string, Budget>();

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  private get enabled(): boolean {
    return this.config.rateLimits.lockoutAfterFailures > 0;
  }

  /** Failures per pair are kept for either defence: the budget needs to know which addresses have failed. */
  private get tracking(): boolean {
    return this.enabled || this.perMinute > 0;
  }

  private get perMinute(): number {
    return this.config.rateLimits.loginPerAccountPerMinute ?? 0;
  }

  /** Seconds left on the lock of this account for this address, or 0. */
  lockedFor(email: string, ip: string | null, now = Date.now()): number {
    if (!this.enabled) return 0;
    const e = this.entries.get(keyOf(email, ip));
    return e && e.lockedUntil > now ? Math.ceil((e.lockedUntil - now) / 1000) : 0;
  }

  /**
   * Begins an attempt. Refuses it (`refusedFor` seconds) while the pair is locked, or when the
   * attempts under way would lock the pair should they fail (the lock they would set), or when
   * the account's budget is spent and this address has failed on it. Otherwise the attempt counts
   * as a failure until `end`, which each attempt let through must be given, and may check the
   * password after `waitMs`.
   */
  begin(email: string, ip: string | null, now = Date.now()): LoginAdmission {
    const key = keyOf(email, ip);
    const e = this.tracking ? this.current(key, now) : undefined;
    if (this.enabled) {
      const locked = this.lockedFor(email, ip, now);
      if (locked > 0) return { refusedFor: locked, reason: 'locked_out', waitMs: 0 };
      const underWay = (e?.failures ?? 0) + (e?.pending ?? 0);
      if (e && e.pending > 0 && underWay >= this.config.rateLimits.lockoutAfterFailures) {
        return { refusedFor: this.lockSeconds(underWay), reason: 'locked_out', waitMs: 0 };
      }
    }
    let waitMs = 0;
    if (this.perMinute > 0) {
      const clean = !e || (e.failures === 0 && e.pending === 0);
      const budget = this.budget(accountOf(email), now);
      const interval = MINUTE_MS / this.perMinute;
      if (budget.tokens < 1 && !clean) {
        return { refusedFor: Math.max(1, Math.ceil(((1 - budget.tokens) * interval) / 1000)), reason: 'account_rate', waitMs: 0 };
      }
      budget.tokens -= 1;
      if (budget.tokens < 0) waitMs = Math.ceil(-budget.tokens * interval);
    }
    if (this.tracking) {
      const entry = e ?? { failures: 0, pending: 0, lastFailureAt: now, lockedUntil: 0 };
      entry.pending += 1;
      this.entries.set(key, entry);
    }
    return { refusedFor: 0, waitMs };
  }

  /** Ends an attempt that `begin` let through. */
  end(email: string, ip: string | null, outcome: LoginOutcome, now = Date.now()): void {
    if (this.perMinute > 0 && outcome !== 'failure') {
      // Only failures spend the account's budget: the owner's logins never count against it.
      const budget = this.budget(accountOf(email), now);
      budget.tokens = Math.min(this.perMinute, budget.tokens + 1);
    }
    if (!this.tracking) return;
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
      if (this.enabled && e.failures >= this.config.rateLimits.lockoutAfterFailures) e.lockedUntil = now + this.lockSeconds(e.failures) * 1000;
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

  /** The account's budget, refilled for the time since it was last used. */
  private budget(account: string, now: number): Budget {
    const perMinute = this.perMinute;
    let b = this.budgets.get(account);
    if (!b) {
      b = { tokens: perMinute, updatedAt: now };
      if (this.budgets.size >= MAX_ENTRIES) this.sweepBudgets(now);
      this.budgets.set(account, b);
      return b;
    }
    b.tokens = Math.min(perMinute, this.refilled(b, now));
    b.updatedAt = Math.max(b.updatedAt, now);
    return b;
  }

  /** The checks `b` holds at `now`, its refill since it was last used counted (uncapped). */
  private refilled(b: Budget, now: number): number {
    return b.tokens + ((now - b.updatedAt) * this.perMinute) / MINUTE_MS;
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

  /** Drops the budgets that are full again (forgetting them changes nothing), then the oldest. */
  private sweepBudgets(now: number): void {
    const perMinute = this.perMinute;
    for (const [account, b] of this.budgets) {
      if (this.refilled(b, now) >= perMinute) this.budgets.delete(account);
    }
    for (const account of this.budgets.keys()) {
      if (this.budgets.size < MAX_ENTRIES) break;
      this.budgets.delete(account);
    }
  }
}

function accountOf(email: string): string {
  return email.trim().toLowerCase();
}

function keyOf(email: string, ip: string | null): string {
  return `${accountOf(email)}\u0000${ip ? normalizeIp(ip) : ''}`;
}

import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';

interface Entry {
  failures: number;
  lastFailureAt: number;
  lockedUntil: number;
}

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

  failure(email: string, ip: string | null, now = Date.now()): void {
    if (!this.enabled) return;
    const key = keyOf(email, ip);
    let e = this.entries.get(key);
    if (e && now - e.lastFailureAt > FORGET_AFTER_MS) e = undefined;
    e ??= { failures: 0, lastFailureAt: now, lockedUntil: 0 };
    e.failures += 1;
    e.lastFailureAt = now;
    const { lockoutAfterFailures, lockoutBaseSeconds, lockoutMaxSeconds } = this.config.rateLimits;
    if (e.failures >= lockoutAfterFailures) {
      const doublings = Math.min(30, e.failures - lockoutAfterFailures);
      e.lockedUntil = now + Math.min(lockoutMaxSeconds, lockoutBaseSeconds * 2 ** doublings) * 1000;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > MAX_ENTRIES) this.sweep(now);
  }

  success(email: string, ip: string | null): void {
    this.entries.delete(keyOf(email, ip));
  }

  private sweep(now: number): void {
    for (const [key, e] of this.entries) {
      if (e.lockedUntil <= now && now - e.lastFailureAt > FORGET_AFTER_MS) this.entries.delete(key);
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

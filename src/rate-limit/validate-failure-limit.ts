import { Injectable } from '@nestjs/common';
import { InjectThrottlerStorage, normalizeIp, type ThrottlerStorage } from '@nestjs/throttler';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';

const WINDOW_MS = 60_000;
const NAME = 'validate-failures';

/**
 * Failed validations per client address, in @nestjs/throttler's storage. Only
 * failures are counted, and only failures are refused: a valid token is
 * answered whatever its address's count, so nobody's mistakes throttle
 * somebody else's working token.
 */
@Injectable()
export class ValidateFailureLimit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectThrottlerStorage() private readonly storage: ThrottlerStorage,
  ) {}

  /** Counts one failure; returns the seconds to wait when the address is over its limit, else 0. */
  async failure(ip: string | null): Promise<number> {
    const limit = this.config.rateLimits.validateFailuresPerIpPerMinute;
    if (limit <= 0) return 0;
    const key = `${NAME}:${normalizeIp(ip ?? 'unknown')}`;
    const r = await this.storage.increment(key, WINDOW_MS, limit, WINDOW_MS, NAME);
    return r.isBlocked ? Math.max(1, r.timeToBlockExpire) : 0;
  }
}

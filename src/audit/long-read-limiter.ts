import { Injectable } from '@nestjs/common';
import { tooManyRequests } from '../rate-limit/too-many-requests.js';

/** Long reads (exports and verifications) under way at once in one instance. */
export const MAX_LONG_READS = 4;
/** The Retry-After of a long read refused for want of a place, in seconds. */
export const LONG_READ_RETRY_AFTER_SECONDS = 30;

/**
 * At most {@link MAX_LONG_READS} exports and verifications under way in one instance: each holds a
 * connection of its own and reads the whole log (minutes for a full verification of a large one),
 * so that holders of `read:audit` starting more cannot take every connection PostgreSQL allows,
 * nor the process's time, from the validations. One more is answered 429 with Retry-After.
 * Exports and verifications share the one instance of the module.
 */
@Injectable()
export class LongReadLimiter {
  private active = 0;

  /** Long reads holding a place now. */
  get inUse(): number {
    return this.active;
  }

  /**
   * Takes a place, or throws the 429 answer when none is free. The function returned gives the
   * place back; calling it again does nothing.
   */
  acquire(): () => void {
    if (this.active >= MAX_LONG_READS) {
      throw tooManyRequests(LONG_READ_RETRY_AFTER_SECONDS, 'Too many audit exports and verifications under way: try again later');
    }
    this.active += 1;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.active -= 1;
      }
    };
  }
}

import { AppError } from '../common/app-error.js';
import { LONG_READ_RETRY_AFTER_SECONDS, LongReadLimiter, MAX_LONG_READS } from './long-read-limiter.js';

describe('LongReadLimiter', () => {
  it('gives four places, then answers 429 with Retry-After until one is given back', () => {
    const limiter = new LongReadLimiter();
    const releases = Array.from({ length: MAX_LONG_READS }, () => limiter.acquire());
    expect(limiter.inUse).toBe(4);
    let refused: unknown;
    try {
      limiter.acquire();
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({
      status: 429,
      message: 'Too many audit exports and verifications under way: try again later',
      headers: { 'Retry-After': String(LONG_READ_RETRY_AFTER_SECONDS) },
    });
    releases[0]();
    expect(limiter.inUse).toBe(3);
    expect(typeof limiter.acquire()).toBe('function');
    expect(limiter.inUse).toBe(4);
  });

  it('gives a place back once, however often its release is called', () => {
    const limiter = new LongReadLimiter();
    const release = limiter.acquire();
    limiter.acquire();
    release();
    release();
    expect(limiter.inUse).toBe(1);
  });

  it('counts per instance: two limiters do not share places', () => {
    const a = new LongReadLimiter();
    const b = new LongReadLimiter();
    for (let i = 0; i < MAX_LONG_READS; i++) a.acquire();
    expect(() => a.acquire()).toThrow(AppError);
    expect(() => b.acquire()).not.toThrow();
  });
});

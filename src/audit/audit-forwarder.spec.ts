import { backoffMs } from './audit-forwarder.service.js';

describe('backoffMs', () => {
  it('doubles from 0.5 s up to 30 s, with jitter between half and all of it', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(1, () => 0)).toBe(500);
    expect(backoffMs(10, () => 1)).toBe(30_000);
    expect(backoffMs(1000, () => 0)).toBe(15_000);
    const draws = Array.from({ length: 200 }, () => backoffMs(3));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(2000);
    expect(Math.max(...draws)).toBeLessThanOrEqual(4000);
    expect(new Set(draws).size).toBeGreaterThan(1);
  });
});

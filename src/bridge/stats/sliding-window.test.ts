import { SlidingWindow } from './sliding-window';

describe('sliding window', () => {
  it('counts requests and errors and reads percentiles within a bucket', () => {
    const window = new SlidingWindow(60_000, 12);
    const t0 = 1_000_000;
    for (let i = 1; i <= 1000; i++) window.record(t0 + i, i * 100, i % 10 === 0); // 0.1 ms .. 100 ms
    const s = window.summary(t0 + 2000);
    expect(s).toMatchObject({ requests: 1000, errors: 100, errorRate: 0.1 });
    expect(s.p50Ms).toBeGreaterThanOrEqual(50);
    expect(s.p50Ms).toBeLessThanOrEqual(50 * 1.19);
    expect(s.p99Ms).toBeGreaterThanOrEqual(99);
    expect(s.p99Ms).toBeLessThanOrEqual(99 * 1.19);
  });

  it('forgets what is older than the window', () => {
    const window = new SlidingWindow(10_000, 10);
    window.record(0, 1000, true);
    window.record(9_500, 1000, false);
    expect(window.summary(9_999).requests).toBe(2);
    expect(window.summary(10_500)).toMatchObject({ requests: 1, errors: 0 });
    expect(window.summary(30_000)).toMatchObject({ requests: 0, errorRate: 0, p50Ms: null });
  });
});

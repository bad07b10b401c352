import { OutlierDetector } from './outlier-detector';

const set = (...addresses: string[]) => addresses.map((address) => ({ address }));

describe('outlier detector', () => {
  it('ejects after consecutive failures, and a success in between resets the streak', () => {
    const detector = new OutlierDetector({ consecutiveFailures: 3, baseEjectionMs: 1000 });
    detector.failure('a', 0);
    detector.failure('a', 1);
    detector.success('a');
    detector.failure('a', 2);
    detector.failure('a', 3);
    expect(detector.isEjected('a', 4)).toBe(false);
    expect(detector.failure('a', 5)).toBe(true);
    expect(detector.isEjected('a', 6)).toBe(true);
    expect(detector.isEjected('a', 1005)).toBe(false);
  });

  it('doubles the ejection each time, up to the maximum', () => {
    const detector = new OutlierDetector({ consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectionMs: 3000 });
    const durations: number[] = [];
    let now = 0;
    for (let i = 0; i < 4; i++) {
      detector.failure('a', now);
      const until = detector.ejected(now)[0].until;
      durations.push(until - now);
      now = until;
    }
    expect(durations).toEqual([1000, 2000, 3000, 3000]);
  });

  it('routes around ejected instances, but never ejects more than the allowed share of a set', () => {
    const detector = new OutlierDetector({ consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectedShare: 0.5 });
    const candidates = set('a', 'b', 'c', 'd');
    detector.failure('a', 0);
    expect(detector.filter(candidates, 10).map((c) => c.address)).toEqual(['b', 'c', 'd']);
    detector.failure('b', 100);
    detector.failure('c', 200);
    // three ejected, at most two may be: the one back soonest (a) is routed to again
    expect(detector.filter(candidates, 300).map((c) => c.address)).toEqual(['a', 'd']);
    // a set of one is never emptied
    expect(detector.filter(set('a'), 10).map((c) => c.address)).toEqual(['a']);
  });
});

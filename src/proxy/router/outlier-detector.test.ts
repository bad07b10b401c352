import { OutlierDetector } from './outlier-detector';

const set = (...addresses: string[]) => addresses.map((address) => ({ address }));
const addresses = (list: readonly { address: string }[]) => list.map((c) => c.address);

describe('outlier detector', () => {
  it('has the defaults Envoy documents', () => {
    const { settings } = new OutlierDetector();
    expect(settings).toMatchObject({ consecutiveGatewayFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, intervalMs: 10_000, maxEjectedPercent: 10, panicThresholdPercent: 50 });
    expect(settings.successRate).toEqual({ minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 });
  });

  it('ejects after five consecutive gateway failures, and a success in between resets the streak', () => {
    const detector = new OutlierDetector();
    for (let t = 0; t < 4; t++) detector.report('a', 'connect_failure', t * 10);
    detector.report('a', 'ok', 45);
    for (let t = 5; t < 9; t++) expect(detector.report('a', 'reset', t * 10)).toBe(false);
    expect(detector.report('a', 'connect_timeout', 90)).toBe(true);
    expect(detector.isEjected('a', 91)).toBe(true);
    expect(detector.isEjected('a', 90 + 30_000)).toBe(false);
  });

  it('counts one lost connection once, however many calls were in flight on it', () => {
    const detector = new OutlierDetector();
    const lost = {};
    for (let i = 0; i < 32; i++) detector.report('a', 'reset', 1000, undefined, lost);
    expect(detector.isEjected('a', 1001)).toBe(false);
    // separate connections failing one after another within a millisecond are separate events
    for (let i = 0; i < 4; i++) detector.report('a', 'connect_failure', 1001, undefined, {});
    expect(detector.isEjected('a', 1001)).toBe(true);
  });

  it('never blames an instance for callers that hang up, application exceptions or slow answers', () => {
    const detector = new OutlierDetector({ consecutiveGatewayFailures: 1 });
    let t = 0;
    for (const outcome of ['caller_gone', 'application_exception', 'response_timeout', 'bridge_refusal'] as const) {
      for (let i = 0; i < 10; i++) expect(detector.report('a', outcome, (t += 10))).toBe(false);
    }
    expect(detector.ejected(t)).toEqual([]);
  });

  it('grows each ejection by the base time up to the cap, and forgets one ejection per healthy interval', () => {
    const detector = new OutlierDetector({ consecutiveGatewayFailures: 1, baseEjectionMs: 1000, maxEjectionMs: 2500, intervalMs: 10_000 });
    const durations: number[] = [];
    let now = 0;
    for (let i = 0; i < 3; i++) {
      detector.report('a', 'connect_failure', now);
      const until = detector.ejected(now)[0].until;
      durations.push(until - now);
      now = until;
    }
    expect(durations).toEqual([1000, 2000, 2500]);
    // 25 s healthy after the last ejection: two of the three ejections are forgiven.
    now += 25_000;
    detector.report('a', 'connect_failure', now);
    expect(detector.ejected(now)[0]).toMatchObject({ ejections: 2, until: now + 2000 });
  });

  it('routes around at most 10 % of a set, but always may leave out one', () => {
    const detector = new OutlierDetector({ consecutiveGatewayFailures: 1 });
    const twenty = set(...Array.from({ length: 20 }, (_, i) => `h${i}`));
    detector.report('h0', 'connect_failure', 0);
    detector.report('h1', 'connect_failure', 10);
    detector.report('h2', 'connect_failure', 20);
    // two of twenty may be left out: the two ejected last stay out, h0 (back soonest) returns
    expect(addresses(detector.filter(twenty, 30))).not.toContain('h1');
    expect(addresses(detector.filter(twenty, 30))).not.toContain('h2');
    expect(addresses(detector.filter(twenty, 30))).toContain('h0');
    expect(addresses(detector.filter(set('h0', 'x', 'y'), 30))).toEqual(['x', 'y']);
  });

  it('uses every instance when fewer than the panic threshold would be left', () => {
    const detector = new OutlierDetector({ consecutiveGatewayFailures: 1 });
    detector.report('a', 'connect_failure', 0);
    expect(addresses(detector.filter(set('a'), 10))).toEqual(['a']);
    expect(addresses(detector.filter(set('a', 'b'), 10))).toEqual(['b']);
    const strict = new OutlierDetector({ consecutiveGatewayFailures: 1, panicThresholdPercent: 60 });
    strict.report('a', 'connect_failure', 0);
    expect(addresses(strict.filter(set('a', 'b'), 10))).toEqual(['a', 'b']);
  });

  it('ejects an instance whose success rate falls far below the rest of its set', () => {
    const detector = new OutlierDetector({ intervalMs: 1000 });
    const hosts = ['a', 'b', 'c', 'd', 'e', 'f'];
    detector.report('a', 'ok', 0, 'svc|mesh'); // first report starts the interval
    let t = 1;
    for (let i = 0; i < 200; i++) {
      for (const h of hosts) detector.report(h, h === 'f' && i % 2 === 0 ? 'response_timeout' : 'ok', t, 'svc|mesh');
    }
    expect(detector.isEjected('f', t)).toBe(false);
    t = 1500;
    detector.report('a', 'ok', t, 'svc|mesh');
    expect(detector.isEjected('f', t)).toBe(true);
    expect(hosts.filter((h) => h !== 'f').some((h) => detector.isEjected(h, t))).toBe(false);
  });

  it('does not judge a set by its success rate with fewer hosts than the minimum, nor count application exceptions', () => {
    const detector = new OutlierDetector({ intervalMs: 1000 });
    detector.report('a', 'ok', 0, 's');
    for (let i = 0; i < 200; i++) for (const h of ['a', 'b', 'c', 'd', 'e']) detector.report(h, h === 'e' ? 'application_exception' : 'ok', 1, 's');
    for (let i = 0; i < 200; i++) for (const h of ['x', 'y']) detector.report(h, h === 'y' ? 'response_timeout' : 'ok', 1, 'small');
    detector.report('a', 'ok', 1500, 's');
    expect(detector.ejected(1500).map((e) => e.address)).toEqual([]);
  });
});

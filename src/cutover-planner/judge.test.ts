import { isMeshBridgeError } from '../errors';
import { DEFAULT_GATE, GateSettings, MethodWindow, ServiceWindow, judgeService } from './judge';
import { errorTestCalls } from './sample-size';
import { LEGACY_MODEL, SeededRandom, simulateWindow } from './simulation';

const NOW = 1_700_000_060_000;
const ERRORS_ONLY: GateSettings = { ...DEFAULT_GATE, latency: null };
const LATENCY_ONLY: GateSettings = { ...DEFAULT_GATE, errors: null };

function method(name: string, mesh: Record<string, number>, legacy: Record<string, number>): MethodWindow {
  return { method: name, mesh: { outcomes: mesh }, legacy: { outcomes: legacy } };
}

function window(methods: MethodWindow[], weight = 0.05): ServiceWindow {
  return { service: 'com.example.OrderService', from: NOW - 60_000, to: NOW, weight, methods };
}

describe('the judge', () => {
  const required = errorTestCalls(0.05, DEFAULT_GATE.errors!, DEFAULT_GATE.alpha, DEFAULT_GATE.power);

  it('passes a clean service once it has seen the calls the plan asked for', () => {
    const mesh = Math.ceil(required * 0.05);
    const verdict = judgeService(window([method('create', { ok: mesh }, { ok: required - mesh - 60, application_exception: 60 })]), ERRORS_ONLY, NOW);
    expect(verdict.verdict).toBe('pass');
    expect(verdict.aggregate.tests.map((t) => t.verdict)).toEqual(['pass', 'pass']);
  });

  it('holds a clean service that has not yet seen enough calls, and says how many more', () => {
    const verdict = judgeService(window([method('create', { ok: 500 }, { ok: 9500 })]), ERRORS_ONLY, NOW);
    expect(verdict.verdict).toBe('not_enough_data');
    expect(verdict.aggregate.moreCalls).toBe(required - 10_000);
    // 10,000 calls in 60 s: the rest takes moreCalls / 166.7 per second.
    expect(verdict.aggregate.moreSeconds).toBe(Math.ceil((required - 10_000) / (10_000 / 60)));
    expect(verdict.reason).toContain(`needs ${required - 10_000} more calls`);
  });

  it('sizes the calls it needs for the step weight, not for a share that wobbles around it', () => {
    // 499 of 10,000 calls on the mesh at a 5 % step: the test uses 0.0499, the goal stays the plan's.
    const verdict = judgeService(window([method('create', { ok: 499 }, { ok: 9501 })]), ERRORS_ONLY, NOW);
    expect(verdict.aggregate.share).toBeCloseTo(0.0499, 12);
    expect(verdict.aggregate.tests[0].requiredCalls).toBe(required);
  });

  it('holds an empty window and never passes it', () => {
    const verdict = judgeService(window([method('create', {}, {})]), DEFAULT_GATE, NOW);
    expect(verdict.verdict).toBe('not_enough_data');
    expect(verdict.aggregate.tests.every((t) => t.verdict === 'not_enough_data')).toBe(true);
    expect(verdict.aggregate.tests[0].reason).toBe('no mesh calls yet');
  });

  it('fails on application exceptions that fall on the mesh well beyond its share', () => {
    // 10 of 20 errors on a 5 % share: P(X >= 10 | 20, 0.05) is about 1e-8.
    const verdict = judgeService(window([method('create', { ok: 490, application_exception: 10 }, { ok: 9490, application_exception: 10 })]), ERRORS_ONLY, NOW);
    expect(verdict.verdict).toBe('fail');
    const application = verdict.aggregate.tests.find((t) => t.test === 'application_errors')!;
    expect(application.verdict).toBe('fail');
    expect(application.pValue!).toBeLessThan(1e-7);
    expect(verdict.aggregate.tests.find((t) => t.test === 'transport_errors')!.verdict).not.toBe('fail');
  });

  it('judges transport failures apart from application exceptions', () => {
    const verdict = judgeService(
      window([method('create', { ok: 480, reset: 8, connect_timeout: 2, application_exception: 1 }, { ok: 9480, application_exception: 19, reset: 1 })]),
      ERRORS_ONLY,
      NOW,
    );
    expect(verdict.verdict).toBe('fail');
    expect(verdict.aggregate.tests.find((t) => t.test === 'transport_errors')!.verdict).toBe('fail');
    expect(verdict.aggregate.tests.find((t) => t.test === 'application_errors')!.verdict).not.toBe('fail');
  });

  it('leaves callers that hung up out of the judgement', () => {
    const verdict = judgeService(window([method('create', { ok: 500, caller_gone: 400 }, { ok: 9500 })]), ERRORS_ONLY, NOW);
    expect(verdict.aggregate.meshCalls).toBe(500);
    expect(verdict.aggregate.share).toBeCloseTo(0.05, 12);
  });

  it('does not fail a stack that fails as often as the legacy one, even when every call fails', () => {
    const verdict = judgeService(window([method('create', { application_exception: 5000 }, { application_exception: 95_000 })]), ERRORS_ONLY, NOW);
    expect(verdict.verdict).toBe('pass');
  });

  it('does not fail a significant but tiny error increase (below minRatio)', () => {
    // 10,000,000 calls: mesh 0.13 % vs legacy 0.1 % is significant (z ~ 6.5) but 1.3x < 2x.
    const verdict = judgeService(window([method('create', { ok: 499_350, application_exception: 650 }, { ok: 9_490_500, application_exception: 9500 })]), ERRORS_ONLY, NOW);
    const application = verdict.aggregate.tests[0];
    expect(application.pValue!).toBeLessThan(DEFAULT_GATE.alpha);
    expect(verdict.verdict).toBe('pass');
  });

  it('holds with "no legacy calls" at 100 % and never passes', () => {
    const verdict = judgeService(window([method('create', { ok: 100_000 }, {})], 1), ERRORS_ONLY, NOW);
    expect(verdict.verdict).toBe('not_enough_data');
    expect(verdict.aggregate.tests[0].reason).toBe('no legacy calls to compare against');
    expect(verdict.aggregate.moreCalls).toBe(Infinity);
    expect(verdict.reason).toContain('cannot be judged at this weight');
  });

  it('fails a uniformly slower mesh and passes an identical one on latency', () => {
    const random = new SeededRandom(7);
    const slow = simulateWindow(random, 20_000, 0.05, { ...LEGACY_MODEL, medianMicros: 2600 }, LEGACY_MODEL, { from: NOW - 60_000 });
    const same = simulateWindow(random, 20_000, 0.05, LEGACY_MODEL, LEGACY_MODEL, { from: NOW - 60_000 });
    expect(judgeService(slow, LATENCY_ONLY, NOW).verdict).toBe('fail');
    const verdict = judgeService(same, LATENCY_ONLY, NOW);
    expect(verdict.verdict).toBe('pass');
    expect(verdict.aggregate.tests[0].effect!).toBeLessThan(0.1);
  });

  it('does not fail on a significant slowdown smaller than the minimum effect', () => {
    const random = new SeededRandom(11);
    // +3 %: with 200,000 calls the rank test finds it (delta ~ 0.04), the effect size does not clear 0.1.
    const tiny = simulateWindow(random, 200_000, 0.25, { ...LEGACY_MODEL, medianMicros: 2060 }, LEGACY_MODEL, { from: NOW - 60_000 });
    const verdict = judgeService(tiny, LATENCY_ONLY, NOW);
    expect(verdict.aggregate.tests[0].pValue!).toBeLessThan(DEFAULT_GATE.alpha);
    expect(verdict.verdict).toBe('pass');
  });

  it('holds latency when every sample is tied and there are too few', () => {
    const tied: ServiceWindow = window([{ method: 'm', mesh: { outcomes: { ok: 3 }, latencyMicros: [5, 5, 5] }, legacy: { outcomes: { ok: 3 }, latencyMicros: [5, 5, 5] } }]);
    const verdict = judgeService(tied, LATENCY_ONLY, NOW);
    expect(verdict.verdict).toBe('not_enough_data');
    expect(verdict.aggregate.tests[0].pValue).toBe(1);
  });

  it('fails only the method that regresses and names it', () => {
    const verdict = judgeService(
      window([
        method('create', { ok: 4000 }, { ok: 76_000, application_exception: 76 }),
        method('cancel', { ok: 980, application_exception: 20 }, { ok: 19_000, application_exception: 19 }),
        method('query', { ok: 6000, application_exception: 6 }, { ok: 114_000, application_exception: 114 }),
      ]),
      ERRORS_ONLY,
      NOW,
    );
    expect(verdict.verdict).toBe('fail');
    expect(verdict.failedMethods).toEqual(['cancel']);
    expect(verdict.methods.find((m) => m.method === 'create')!.verdict).not.toBe('fail');
    // Four scopes judged (the service and three methods): each test at alpha / 4.
    expect(verdict.aggregate.tests[0].alpha).toBeCloseTo(DEFAULT_GATE.alpha / 4, 15);
  });

  it('divides alpha by the planned looks at the hold', () => {
    const verdict = judgeService(window([method('create', { ok: 500 }, { ok: 9500 })]), { ...ERRORS_ONLY, looks: 10 }, NOW);
    expect(verdict.aggregate.tests[0].alpha).toBeCloseTo(DEFAULT_GATE.alpha / 10, 15);
  });

  it('does not judge a stale window', () => {
    const verdict = judgeService(window([method('create', { ok: 1_000_000 }, { ok: 1_000_000 })]), ERRORS_ONLY, NOW + 10 * 60_000);
    expect(verdict.verdict).toBe('not_enough_data');
    expect(verdict.reason).toContain('ended 600 s ago');
  });

  it('judges latency from Prometheus histograms as from samples', () => {
    const random = new SeededRandom(5);
    const le = [500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12_000, Infinity];
    const toHistogram = (samples: Float64Array) => ({ le, cumulative: le.map((bound) => samples.filter((v) => v <= bound).length) });
    const asHistograms = (w: ServiceWindow): ServiceWindow => ({
      ...w,
      methods: w.methods.map((m) => ({
        ...m,
        mesh: { outcomes: m.mesh.outcomes, latencyHistogram: toHistogram(m.mesh.latencyMicros as Float64Array) },
        legacy: { outcomes: m.legacy.outcomes, latencyHistogram: toHistogram(m.legacy.latencyMicros as Float64Array) },
      })),
    });
    const slow = simulateWindow(random, 40_000, 0.05, { ...LEGACY_MODEL, medianMicros: 2600 }, LEGACY_MODEL, { from: NOW - 60_000 });
    const same = simulateWindow(random, 40_000, 0.05, LEGACY_MODEL, LEGACY_MODEL, { from: NOW - 60_000 });
    expect(judgeService(asHistograms(slow), LATENCY_ONLY, NOW).verdict).toBe('fail');
    expect(judgeService(asHistograms(same), LATENCY_ONLY, NOW).verdict).toBe('pass');
  });

  it('rejects a malformed histogram with where it is', () => {
    const bad = (latencyHistogram: { le: number[]; cumulative: number[] }): ServiceWindow =>
      window([{ method: 'm', mesh: { outcomes: { ok: 2 }, latencyHistogram }, legacy: { outcomes: { ok: 1 }, latencyMicros: [1] } }]);
    expect(() => judgeService(bad({ le: [10, 5], cumulative: [1, 2] }), DEFAULT_GATE, NOW)).toThrow(/bucket bounds rise/);
    expect(() => judgeService(bad({ le: [10, 20], cumulative: [2, 1] }), DEFAULT_GATE, NOW)).toThrow(/never fall/);
    expect(() => judgeService(bad({ le: [10], cumulative: [1, 2] }), DEFAULT_GATE, NOW)).toThrow(/one cumulative count per bound/);
    expect(() => judgeService(bad({ le: [Infinity, 10], cumulative: [1, 2] }), DEFAULT_GATE, NOW)).toThrow(/only the last may be Infinity/);
  });

  it('rejects a malformed window with CUTOVER_BAD_WINDOW and where it is', () => {
    const cases: [ServiceWindow, string][] = [
      [window([method('create', { ok: -1 }, {})]), 'methods[0].mesh.outcomes.ok'],
      [window([method('create', { oops: 1 }, {})]), 'methods[0].mesh.outcomes'],
      [window([{ method: 'm', mesh: { outcomes: { ok: 1 }, latencyMicros: [NaN] }, legacy: { outcomes: {} } }]), 'methods[0].mesh.latencyMicros[0]'],
      [{ ...window([]), from: NOW + 1 }, 'to'],
      [window([], 1.5), 'weight'],
    ];
    for (const [bad, where] of cases) {
      try {
        judgeService(bad, DEFAULT_GATE, NOW);
        throw new Error('accepted a bad window');
      } catch (err) {
        expect(isMeshBridgeError(err) && err.code).toBe('CUTOVER_BAD_WINDOW');
        expect((err as { where: string }).where).toBe(where);
      }
    }
  });
});

import { binomialTestPower } from './binomial-test';
import { errorTestCalls, gateRequirement, lognormalSlowdownDelta, rankTestSamples } from './sample-size';

const LATENCY = { detectSlowdown: 1.3, minDelta: 0.1, assumedLogSpread: 0.6, minSamples: 20, tailQuantile: 0.99, minTailIncrease: 0.1 };

describe('sample sizes', () => {
  it('finds the first call count at which the error test reaches its power', () => {
    const detection = { baselineRate: 0.001, detectRate: 0.005 };
    const calls = errorTestCalls(0.05, detection, 0.005, 0.97);
    const regression = { share: 0.05, baselineRate: 0.001, regressedRate: 0.005 };
    expect(binomialTestPower(calls, regression, 0.005)).toBeGreaterThanOrEqual(0.97);
    expect(binomialTestPower(Math.floor(calls * 0.99), regression, 0.005)).toBeLessThan(0.97);
  });

  it('agrees with the normal-approximation sample size to within its error', () => {
    // Errors needed (one-sided, alpha 0.005, power 0.97), pi0 = 0.05, pi1 = 0.00025 / 0.0012:
    // n = (z_a sqrt(pi0 (1-pi0)) + z_b sqrt(pi1 (1-pi1)))^2 / (pi1 - pi0)^2 ~ 79 errors -> ~66,000 calls.
    const pi0 = 0.05;
    const pi1 = 0.00025 / 0.0012;
    const errors = (2.5758 * Math.sqrt(pi0 * (1 - pi0)) + 1.8808 * Math.sqrt(pi1 * (1 - pi1))) ** 2 / (pi1 - pi0) ** 2;
    const calls = errorTestCalls(0.05, { baselineRate: 0.001, detectRate: 0.005 }, 0.005, 0.97);
    expect(calls / (errors / 0.0012)).toBeGreaterThan(0.9);
    expect(calls / (errors / 0.0012)).toBeLessThan(1.2);
  });

  it('needs fewer calls at a larger mesh share', () => {
    const detection = { baselineRate: 0.001, detectRate: 0.005 };
    expect(errorTestCalls(0.25, detection, 0.005, 0.97)).toBeLessThan(errorTestCalls(0.05, detection, 0.005, 0.97));
  });

  it('cannot size a test with no traffic on one side or no regression to catch', () => {
    const detection = { baselineRate: 0.001, detectRate: 0.005 };
    expect(errorTestCalls(0, detection, 0.005, 0.97)).toBe(Infinity);
    expect(errorTestCalls(1, detection, 0.005, 0.97)).toBe(Infinity);
    expect(errorTestCalls(0.05, { baselineRate: 0.005, detectRate: 0.005 }, 0.005, 0.97)).toBe(Infinity);
    expect(rankTestSamples(0.05, 0.05, LATENCY, 0.005, 0.97)).toBe(Infinity);
  });

  it('turns a slowdown into Cliff delta for log-normal latencies', () => {
    // delta = 2 Φ(ln 1.3 / (0.6 √2)) - 1 = 2 Φ(0.30920) - 1 = 0.24283.
    expect(lognormalSlowdownDelta(1.3, 0.6)).toBeCloseTo(0.24283, 5);
    expect(lognormalSlowdownDelta(1, 0.6)).toBe(0);
  });

  it('sizes the rank test by Noether and the minimum-effect margin', () => {
    // Noether: (2.5758 + 1.8808)^2 / (12 * 0.05 * 0.95 * 0.12142^2) = 2364 at delta 0.24283.
    expect(rankTestSamples(0.05, 0.24283, LATENCY, 0.005, 0.97)).toBeCloseTo(2364, -1);
    // A tiny mesh share hits the floor of 20 mesh samples first only when the effect is huge.
    expect(rankTestSamples(0.5, 0.99, LATENCY, 0.005, 0.97)).toBe(40);
  });

  it('turns a requirement into a hold time at a call rate', () => {
    const requirement = gateRequirement(0.05, { baselineRate: 0.001, detectRate: 0.005 }, LATENCY, 0.005, 0.97, 50);
    expect(requirement.calls).toBe(requirement.errorCalls);
    expect(requirement.holdSeconds).toBe(Math.ceil(requirement.calls / 50));
    // DESIGN.md: about half an hour at 5 % for a 50 call/s method.
    expect(requirement.holdSeconds! / 60).toBeGreaterThan(15);
    expect(requirement.holdSeconds! / 60).toBeLessThan(35);
    expect(gateRequirement(0.05, null, null, 0.005, 0.97, null)).toEqual({ calls: 0, errorCalls: 0, latencyCalls: 0, latencyDelta: 0, holdSeconds: null });
  });
});

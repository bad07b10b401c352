import { binomialUpperTail } from './binomial-test';
import { DEFAULT_GATE, ServiceWindow, judgeService } from './judge';
import { SeededRandom } from './simulation';
import { normalSurvival } from './special-functions';
import { stratifiedBinomialUpperTail, stratifiedErrorTest, stratifiedRankTest, stratifiedTailTest } from './stratified-tests';

const sorted = (values: number[]) => Float64Array.from(values).sort();

describe('stratified tests', () => {
  it('sums binomials of different shares exactly', () => {
    // X ~ Bin(2, 1/2), Y ~ Bin(1, 1/4): P(X+Y >= 3) = 1/4 * 1/4; P(X+Y >= 2) = 1/4 + 1/2 * 1/4.
    const strata = [{ trials: 2, p: 0.5 }, { trials: 1, p: 0.25 }];
    expect(stratifiedBinomialUpperTail(3, strata)).toBeCloseTo(0.0625, 15);
    expect(stratifiedBinomialUpperTail(2, strata)).toBeCloseTo(0.375, 15);
    expect(stratifiedBinomialUpperTail(0, strata)).toBeCloseTo(1, 15);
    expect(stratifiedBinomialUpperTail(4, strata)).toBe(0);
  });

  it('equals one binomial when the shares are equal, exactly and by the normal approximation', () => {
    expect(stratifiedBinomialUpperTail(14, [{ trials: 10, p: 0.3 }, { trials: 20, p: 0.3 }])).toBeCloseTo(binomialUpperTail(14, 30, 0.3), 13);
    // Large counts are convolved over their effective support, still exact.
    const wide = stratifiedBinomialUpperTail(80, [{ trials: 3000, p: 0.01 }, { trials: 3000, p: 0.01 }]);
    expect(wide / binomialUpperTail(80, 6000, 0.01)).toBeCloseTo(1, 10);
  });

  it('is not fooled by a failing method that happens to have a large mesh share (errors)', () => {
    // A fails 5 % on both stacks at a 50 % mesh share; B fails 0.1 % on both at 1 %.
    // Pooled, the mesh fails 4.6 % against 0.55 %: a pooled test would be certain it regressed.
    const strata = [
      { meshErrors: 500, legacyErrors: 500, meshCalls: 10_000, legacyCalls: 10_000 },
      { meshErrors: 1, legacyErrors: 99, meshCalls: 1_000, legacyCalls: 99_000 },
    ];
    const pooled = binomialUpperTail(501, 1100, 11_000 / 120_000);
    expect(pooled).toBeLessThan(1e-100);
    const result = stratifiedErrorTest(strata);
    expect(result.pValue).toBeGreaterThan(0.3);
    expect(result.rateRatio).toBeCloseTo(1, 10);
  });

  it('sums the tail counts of methods exactly', () => {
    // Each method: pooled [1, 2, 3, 100], q = 0.75 -> threshold 3, one value above it, on the mesh.
    // Under "alike" each is on the mesh with probability 2/4: both are with probability 1/4.
    const stratum = { mesh: sorted([1, 100]), legacy: sorted([2, 3]) };
    const result = stratifiedTailTest([stratum, stratum], 0.75);
    expect(result).toMatchObject({ meshAbove: 2, legacyAbove: 0 });
    expect(result.pValue).toBeCloseTo(0.25, 14);
  });

  it("computes van Elteren's statistic by hand on two one-pair strata", () => {
    // Each stratum: U = 1, w = 1/3, contribution 1/3 (1 - 1/2) = 1/6, variance (1/9)(1/12)(3) = 1/36.
    // z = (1/3) / √(1/18) = √2.
    const result = stratifiedRankTest([
      { mesh: sorted([2]), legacy: sorted([1]) },
      { mesh: sorted([20]), legacy: sorted([10]) },
    ]);
    expect(result.pValue).toBeCloseTo(normalSurvival(Math.SQRT2), 14);
    expect(result.cliffsDelta).toBe(1);
  });

  it('equals the Mann-Whitney test with one method', () => {
    const mesh = sorted([19, 22, 16, 29, 24]);
    const legacy = sorted([20, 11, 17, 12]);
    expect(stratifiedRankTest([{ mesh, legacy }, { mesh: new Float64Array(0), legacy }]).pValue).toBeCloseTo(7 / 126, 15);
  });

  it('is not fooled by a slow method that happens to have a large mesh share (ranks and tail)', () => {
    const random = new SeededRandom(3);
    const draw = (n: number, median: number) => sorted(Array.from({ length: n }, () => median * Math.exp(0.5 * random.normal())));
    // A answers in ~10 ms at a 50 % share; B in ~1 ms at 1 %; the two stacks alike within each.
    const strata = [
      { mesh: draw(2000, 10_000), legacy: draw(2000, 10_000) },
      { mesh: draw(200, 1000), legacy: draw(19_800, 1000) },
    ];
    expect(stratifiedRankTest(strata).pValue).toBeGreaterThan(0.01);
    expect(stratifiedTailTest(strata, 0.99).pValue).toBeGreaterThan(0.01);
    expect(stratifiedTailTest(strata, 0.99).quantileRatio).toBeLessThan(1.1);
    // The same with every mesh call 1.5x slower is caught by both.
    const slower = strata.map((s) => ({ mesh: s.mesh.map((v) => v * 1.5), legacy: s.legacy }));
    expect(stratifiedRankTest(slower).pValue).toBeLessThan(1e-6);
    expect(stratifiedTailTest(slower, 0.99).pValue).toBeLessThan(1e-3);
    expect(stratifiedTailTest(slower, 0.99).quantileRatio).toBeGreaterThan(1.2);
  });

  it('keeps a service with a hot method at a high mesh weight from failing as a whole', () => {
    const window: ServiceWindow = {
      service: 'com.example.OrderService',
      from: 0,
      to: 60_000,
      weight: 0.05,
      methods: [
        { method: 'export', mesh: { outcomes: { ok: 9500, application_exception: 500 } }, legacy: { outcomes: { ok: 9500, application_exception: 500 } } },
        { method: 'get', mesh: { outcomes: { ok: 999, application_exception: 1 } }, legacy: { outcomes: { ok: 98_901, application_exception: 99 } } },
      ],
    };
    const verdict = judgeService(window, { ...DEFAULT_GATE, latency: null }, 60_000);
    expect(verdict.aggregate.verdict).not.toBe('fail');
    expect(verdict.verdict).not.toBe('fail');
  });
});

describe('stratified tests on large counts', () => {
  it('answers quickly for a failing stack with many busy methods, close to the exact tail', () => {
    const strata = Array.from({ length: 50 }, () => ({ trials: 10_000, p: 0.5 }));
    const started = performance.now();
    const tail = stratifiedBinomialUpperTail(250_500, strata);
    expect(performance.now() - started).toBeLessThan(1000);
    // Equal shares: the exact answer is one binomial's tail.
    expect(tail / binomialUpperTail(250_500, 500_000, 0.5)).toBeCloseTo(1, 2);
  });
});

// Reference values: scipy.stats.hypergeom.sf(k - 1, M, n, N) and numpy.quantile.
import { empiricalExceedance, hypergeometricUpperTail, lognormalExceedance, sortedQuantile, tailExceedanceTest } from './tail-test';

describe('the tail test', () => {
  it('computes hypergeometric tails against scipy', () => {
    expect(hypergeometricUpperTail(10, 100, 20, 30)).toBeCloseTo(0.0306964293543367, 14);
    // Every success drawn: C(5,5) C(45,5) / C(50,10) = 1,221,759 / 10,272,278,170.
    expect(hypergeometricUpperTail(5, 50, 5, 10) / (1221759 / 10272278170)).toBeCloseTo(1, 11);
    // ln C(70000, 3500) is about 1.4e4: differences of log-gammas that size keep ~10 digits.
    expect(hypergeometricUpperTail(30, 70000, 700, 3500)).toBeCloseTo(0.8308017225161528, 9);
    expect(hypergeometricUpperTail(1, 20, 3, 5)).toBeCloseTo(0.6008771929824561, 13);
    expect(hypergeometricUpperTail(0, 20, 3, 5)).toBe(1);
    expect(hypergeometricUpperTail(4, 20, 3, 5)).toBe(0);
  });

  it('takes quantiles as numpy does', () => {
    expect(sortedQuantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99)).toBeCloseTo(9.91, 12);
    expect(sortedQuantile([1, 2, 3], 0.5)).toBe(2);
    expect(sortedQuantile([], 0.5)).toBeNaN();
  });

  it('counts each stack above the pooled quantile and tests the mesh count exactly', () => {
    // Pooled 20 values 1..20; q = 0.9: rank ceil(18) -> threshold 18; above it: 19 and 20, both mesh.
    const mesh = [1, 5, 19, 20];
    const legacy = [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
    const result = tailExceedanceTest(mesh, legacy, 0.9);
    expect(result.threshold).toBe(18);
    expect(result).toMatchObject({ meshAbove: 2, legacyAbove: 0 });
    // P(both of the 2 values above land in the 4 mesh draws of 20) = C(4,2) / C(20,2) = 6 / 190.
    expect(result.pValue).toBeCloseTo(6 / 190, 14);
  });

  it('says nothing on empty samples or all-tied ones', () => {
    expect(tailExceedanceTest([], [1, 2], 0.99).pValue).toBe(1);
    const tied = tailExceedanceTest([5, 5, 5], [5, 5, 5, 5, 5, 5], 0.99);
    expect(tied.meshAbove + tied.legacyAbove).toBe(0);
    expect(tied.pValue).toBe(1);
  });

  it('knows what share of calls a slowdown pushes above the p99', () => {
    // 1 - Φ(2.3263 - ln 1.3 / 0.6) = 1 - Φ(1.8891) = 0.02944.
    expect(lognormalExceedance(1.3, 0.6, 0.99)).toBeCloseTo(0.02944, 4);
    expect(lognormalExceedance(1, 0.6, 0.99)).toBeCloseTo(0.01, 12);
    const sample = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
    // q99 = 990.01; / 1.1 = 900.01: 100 of 1000 values above it.
    expect(empiricalExceedance(sample, 1.1, 0.99)).toBeCloseTo(0.1, 12);
  });
});

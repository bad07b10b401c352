// Reference values: scipy.stats.mannwhitneyu(x, y, alternative='greater') and hand counts.
import { mannWhitneyGreater, slowdownDelta } from './mann-whitney';

describe('the Mann-Whitney U test', () => {
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];

  it('counts the exact tail of the scipy documentation example', () => {
    // U = 17 of 20 pairs. U >= 17 means the females' U <= 3: partitions of 0..3 into at most 4 parts
    // of at most 5: 1 + 1 + 2 + 3 = 7 of C(9, 4) = 126 arrangements.
    const result = mannWhitneyGreater(males, females);
    expect(result.u).toBe(17);
    expect(result.method).toBe('exact');
    expect(result.pValue).toBeCloseTo(7 / 126, 15);
    expect(result.probabilityOfSuperiority).toBeCloseTo(17 / 20, 15);
    expect(result.cliffsDelta).toBeCloseTo(0.7, 15);
  });

  it('matches scipy exact on the Hollander-Wolfe example', () => {
    const a = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const b = [1.15, 0.88, 0.9, 0.74, 1.21];
    const result = mannWhitneyGreater(a, b);
    expect(result.u).toBe(35);
    expect(result.pValue).toBeCloseTo(0.1272061272061272, 14);
  });

  it('corrects the variance for ties (normal approximation with continuity correction)', () => {
    const x = [1, 2, 2, 3, 3, 3, 4, 5];
    const y = [2, 3, 4, 4, 5, 6, 6, 7, 8];
    // Tied groups of 3, 4, 3, 2, 2: Σ(t^3 - t) = 24 + 60 + 24 + 6 + 6 = 120.
    // var = 72/12 (18 - 120 / (17 * 16)) = 105.3529; z = (59 - 36 - 0.5) / √var = 2.19209.
    const result = mannWhitneyGreater(y, x);
    expect(result.u).toBe(59);
    expect(result.tieTerm).toBe(120);
    expect(result.method).toBe('asymptotic');
    expect(result.pValue).toBeCloseTo(0.014186357673014467, 13);
  });

  it('uses the normal approximation on large samples like scipy', () => {
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 40; i++) {
      x.push(i * 1.5 + 0.25);
      y.push(i * 1.4);
    }
    const result = mannWhitneyGreater(x, y);
    expect(result.method).toBe('asymptotic');
    // scipy.stats.mannwhitneyu(x, y, alternative='greater', method='asymptotic')
    expect(result.u).toBe(859);
    expect(result.pValue).toBeCloseTo(0.2867458677896714, 12);
  });

  it('says nothing when every sample is tied', () => {
    const result = mannWhitneyGreater([5, 5, 5, 5, 5, 5], Array(60).fill(5));
    expect(result.pValue).toBe(1);
    expect(result.cliffsDelta).toBe(0);
    expect(result.method).toBe('degenerate');
  });

  it('says nothing on an empty sample', () => {
    expect(mannWhitneyGreater([], [1, 2, 3]).pValue).toBe(1);
    expect(mannWhitneyGreater([1], []).method).toBe('degenerate');
  });

  it('is one-sided: a faster mesh is never significant', () => {
    const slow = Array.from({ length: 200 }, (_, i) => 1000 + i);
    const fast = Array.from({ length: 200 }, (_, i) => 100 + i);
    expect(mannWhitneyGreater(fast, slow).pValue).toBeGreaterThan(0.999);
    expect(mannWhitneyGreater(slow, fast).pValue).toBeLessThan(1e-10);
  });

  it('estimates the delta a uniform slowdown would have on a distribution', () => {
    expect(slowdownDelta(Float64Array.from([1, 2, 3, 4]), 1)).toBeCloseTo(0, 15);
    // 1.5x of [1,2,3,4] = [1.5,3,4.5,6]: U = 1 + 2.5 + 4 + 4 = 11.5 of 16, delta = 2*11.5/16 - 1.
    expect(slowdownDelta(Float64Array.from([1, 2, 3, 4]), 1.5)).toBeCloseTo(0.4375, 15);
    expect(slowdownDelta(new Float64Array(0), 2)).toBe(0);
  });
});

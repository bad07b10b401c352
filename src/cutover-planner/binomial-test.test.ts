// Reference values: closed forms derived by hand, and scipy.stats.binomtest(..., alternative='greater').
import { NORMAL_POWER_ABOVE, binomialCriticalValue, binomialPmf, binomialTestGreater, binomialTestPower, binomialUpperTail } from './binomial-test';

describe('the exact binomial test', () => {
  it('gives the textbook tail of 8 heads in 10 fair tosses', () => {
    // (C(10,8) + C(10,9) + C(10,10)) / 2^10 = (45 + 10 + 1) / 1024.
    expect(binomialTestGreater(8, 10, 0.5)).toBeCloseTo(56 / 1024, 15);
  });

  it('matches scipy.stats.binomtest on small and large counts', () => {
    expect(binomialTestGreater(5, 20, 0.05) / 0.0025739403346522792).toBeCloseTo(1, 11);
    expect(binomialTestGreater(30, 1000, 0.01) / 2.059988850971949e-7).toBeCloseTo(1, 10);
    expect(binomialTestGreater(12, 55, 0.05) / 1.42345398099722e-5).toBeCloseTo(1, 10);
  });

  it('says zero errors on the mesh is no evidence at all', () => {
    expect(binomialTestGreater(0, 100, 0.05)).toBe(1);
    expect(binomialTestGreater(0, 0, 0.05)).toBe(1);
  });

  it('says every error on the mesh is p^n', () => {
    expect(binomialTestGreater(100, 100, 0.05) / 7.888609052210162e-131).toBeCloseTo(1, 9);
    expect(binomialTestGreater(3, 3, 0.5)).toBeCloseTo(0.125, 15);
  });

  it('handles a share of 0 or 1 without dividing by zero', () => {
    expect(binomialUpperTail(1, 10, 0)).toBe(0);
    expect(binomialUpperTail(10, 10, 1)).toBe(1);
    expect(binomialUpperTail(11, 10, 0.5)).toBe(0);
  });

  it('sums its pmf to one', () => {
    let sum = 0;
    for (let k = 0; k <= 40; k++) sum += binomialPmf(k, 40, 0.3);
    expect(sum).toBeCloseTo(1, 13);
  });

  it('finds the smallest rejecting count', () => {
    // 10 fair tosses at alpha 0.06: P(X >= 8) = 0.0547 <= 0.06 < P(X >= 7) = 0.1719.
    expect(binomialCriticalValue(10, 0.5, 0.06)).toBe(8);
    // With 3 errors at a 5 % share even 3 of 3 (p = 1.25e-4) rejects at 0.001, 2 of 3 does not.
    expect(binomialCriticalValue(3, 0.05, 0.001)).toBe(3);
    // One error can never be significant at a 50 % share.
    expect(binomialCriticalValue(1, 0.5, 0.05)).toBe(2);
  });

  it('has power near alpha without a regression and growing with calls under one', () => {
    const none = { share: 0.05, baselineRate: 0.001, regressedRate: 0.001 };
    expect(binomialTestPower(100_000, none, 0.01)).toBeLessThanOrEqual(0.01);
    const regression = { share: 0.05, baselineRate: 0.001, regressedRate: 0.005 };
    const small = binomialTestPower(10_000, regression, 0.005);
    const large = binomialTestPower(100_000, regression, 0.005);
    expect(small).toBeLessThan(large);
    expect(large).toBeGreaterThan(0.99);
    expect(binomialTestPower(0, regression, 0.005)).toBe(0);
  });

  it('switches to the normal approximation for huge error counts without a jump', () => {
    // Errors per call 0.101: just under and just over the switch, the power barely moves.
    const regression = { share: 0.5, baselineRate: 0.1, regressedRate: 0.102 };
    const below = binomialTestPower(((NORMAL_POWER_ABOVE - 10) / 0.101) | 0, regression, 0.005);
    const above = binomialTestPower(((NORMAL_POWER_ABOVE + 10) / 0.101) | 0, regression, 0.005);
    expect(below).toBeGreaterThan(0.05);
    expect(Math.abs(above - below)).toBeLessThan(0.01);
  });
});

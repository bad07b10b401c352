// Reference values are scipy.special / scipy.stats 1.17 (gammaln, betainc, gammaincc, norm), and
// closed forms where one exists.
import { erfc, logChoose, logGamma, normalCdf, normalQuantile, normalSurvival, regularizedBeta, regularizedGammaQ } from './special-functions';

describe('special functions', () => {
  it('computes ln Γ against closed forms and scipy.special.gammaln', () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(logGamma(1)).toBeCloseTo(0, 14);
    expect(logGamma(100.5)).toBeCloseTo(361.43554046777757, 10);
    expect(logGamma(1e-3)).toBeCloseTo(6.907178885383853, 12);
    expect(() => logGamma(0)).toThrow(RangeError);
  });

  it('computes ln C(n, k) with the edges exact', () => {
    expect(Math.exp(logChoose(10, 3))).toBeCloseTo(120, 9);
    expect(logChoose(5, 0)).toBe(0);
    expect(logChoose(5, 5)).toBe(0);
    expect(logChoose(5, 6)).toBe(-Infinity);
  });

  it('computes the regularized incomplete beta against scipy.special.betainc', () => {
    // I_0.4(2, 3) = 1 - (0.6^4 + 4 * 0.4 * 0.6^3) = 0.5248 by the binomial identity.
    expect(regularizedBeta(0.4, 2, 3)).toBeCloseTo(0.5248, 14);
    expect(regularizedBeta(0.3, 50, 60)).toBeCloseTo(0.0003434115187662847, 15);
    expect(regularizedBeta(0.3, 50, 60) / 0.0003434115187662847).toBeCloseTo(1, 11);
    // I_x(1/2, 1/2) = (2 / π) asin(√x).
    expect(regularizedBeta(0.9, 0.5, 0.5)).toBeCloseTo((2 / Math.PI) * Math.asin(Math.sqrt(0.9)), 13);
    expect(regularizedBeta(0, 2, 3)).toBe(0);
    expect(regularizedBeta(1, 2, 3)).toBe(1);
    expect(() => regularizedBeta(1.5, 2, 3)).toThrow(RangeError);
  });

  it('computes the regularized upper incomplete gamma against scipy.special.gammaincc', () => {
    expect(regularizedGammaQ(0.5, 2)).toBeCloseTo(0.04550026389635857, 14);
    expect(regularizedGammaQ(10, 3)).toBeCloseTo(0.9988975118698845, 14);
    expect(regularizedGammaQ(1, 2)).toBeCloseTo(Math.exp(-2), 14);
    expect(regularizedGammaQ(3, 0)).toBe(1);
  });

  it('computes the normal tails to relative precision far out', () => {
    expect(normalSurvival(5) / 2.866515718791933e-7).toBeCloseTo(1, 12);
    expect(normalSurvival(10) / 7.61985302416047e-24).toBeCloseTo(1, 11);
    expect(normalCdf(-1.5)).toBeCloseTo(0.06680720126885807, 15);
    expect(normalCdf(0)).toBeCloseTo(0.5, 15);
    expect(erfc(0)).toBeCloseTo(1, 15);
    expect(erfc(-1) + erfc(1)).toBeCloseTo(2, 15);
  });

  it('inverts the normal CDF against scipy.stats.norm.ppf', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 13);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232306167813, 12);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 10);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 15);
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });
});

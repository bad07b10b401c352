import { pickInstance } from './instance-picker';

describe('instance picker', () => {
  it('prefers the instance with the fewest requests in flight', () => {
    expect(pickInstance([{ weight: 100, pending: 3 }, { weight: 1, pending: 1 }, { weight: 100, pending: 2 }], 0.99)).toBe(1);
  });

  it('splits ties in proportion to weight', () => {
    const counts = [0, 0];
    for (let i = 0; i < 1000; i++) counts[pickInstance([{ weight: 100, pending: 0 }, { weight: 300, pending: 0 }], (i + 0.5) / 1000)]++;
    expect(counts[1] / 1000).toBeCloseTo(0.75, 2);
  });

  it('never picks an instance of weight 0, and says when none can be picked', () => {
    expect(pickInstance([{ weight: 0, pending: 0 }, { weight: 5, pending: 9 }], 0)).toBe(1);
    expect(pickInstance([{ weight: 0, pending: 0 }], 0.5)).toBe(-1);
    expect(pickInstance([], 0.5)).toBe(-1);
  });
});

import { BoundedLabels, OTHER_LABEL } from './bounded-labels';

describe('bounded label values', () => {
  it('keeps known values and folds the rest into "other"', () => {
    const labels = new BoundedLabels((v) => v.startsWith('com.example.'), 3);
    expect(labels.of('com.example.A')).toBe('com.example.A');
    expect(labels.of('invented')).toBe(OTHER_LABEL);
    expect(labels.of('com.example.B')).toBe('com.example.B');
    expect(labels.of('com.example.C')).toBe('com.example.C');
    expect(labels.of('com.example.D')).toBe(OTHER_LABEL); // past the bound
    expect(labels.of('com.example.A')).toBe('com.example.A');
  });
});

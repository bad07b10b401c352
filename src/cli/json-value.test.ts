import { toJsonValue } from './json-value';

describe('toJsonValue', () => {
  it('keeps longs above 2^53 exact as decimal strings', () => {
    expect(JSON.stringify(toJsonValue({ id: 9007199254740993n }))).toBe('{"id":"9007199254740993"}');
  });

  it('writes bytes as base64, dates as ISO strings and maps as objects', () => {
    const value = toJsonValue([Buffer.from([0, 255]), new Date(Date.UTC(2026, 0, 2)), new Map([['k', 1n]])]);
    expect(value).toEqual([{ $binary: 'AP8=' }, '2026-01-02T00:00:00.000Z', { k: '1' }]);
  });

  it('names the numbers JSON cannot hold', () => {
    expect(toJsonValue([NaN, Infinity, -0.5, undefined])).toEqual(['NaN', 'Infinity', -0.5, null]);
  });
});

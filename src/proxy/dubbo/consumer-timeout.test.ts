import { consumerTimeout } from './consumer-timeout';

describe('consumerTimeout', () => {
  it("reads Java's string as milliseconds and apache-dubbo-js's number as seconds", () => {
    expect(consumerTimeout('3000', 60_000)).toBe(3000);
    expect(consumerTimeout(3, 60_000)).toBe(3000);
    expect(consumerTimeout(0.5, 60_000)).toBe(500);
  });

  it('caps it, and ignores what is absent, not positive or not a number', () => {
    expect(consumerTimeout('600000', 60_000)).toBe(60_000);
    expect(consumerTimeout(600, 60_000)).toBe(60_000);
    for (const value of [undefined, null, '', 'soon', '0', '-5', 0, -1, NaN, Infinity, true, {}]) expect(consumerTimeout(value, 60_000)).toBeUndefined();
  });
});

import { BoundedCache } from './bounded-cache';

describe('bounded cache', () => {
  it('never holds more than its bound, however many keys come', () => {
    const cache = new BoundedCache<string, number>(100);
    for (let i = 0; i < 60_000; i++) cache.set(`v${i}`, i);
    expect(cache.size).toBe(100);
    expect(cache.evictions).toBe(59_900);
    expect(cache.get('v59999')).toBe(59_999);
    expect(cache.get('v0')).toBeUndefined();
  });

  it('keeps what is used and evicts what is not', () => {
    const cache = new BoundedCache<string, number>(3);
    cache.set('hot', 1);
    cache.set('a', 2);
    cache.set('b', 3);
    expect(cache.get('hot')).toBe(1);
    cache.set('c', 4); // evicts a: hot was used
    expect([cache.get('hot'), cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([1, undefined, 3, 4]);
    for (let i = 0; i < 10; i++) {
      expect(cache.get('hot')).toBe(1);
      cache.set(`k${i}`, i);
    }
    expect(cache.get('hot')).toBe(1);
    expect(cache.size).toBe(3);
  });
});

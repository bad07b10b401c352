import { BoundedMap } from './bounded-map';

describe('BoundedMap', () => {
  it('drops the least recently used entry, also when the most recent is used again through the fast path', () => {
    const map = new BoundedMap<string, number>(2);
    map.add('a', 1);
    map.add('b', 2);
    expect(map.touch('a')).toBe(1);
    expect(map.touch('a')).toBe(1); // the most recent again: no reordering needed
    map.add('c', 3);
    expect(map.touch('b')).toBeUndefined();
    expect([...map.entries()].map(([k]) => k)).toEqual(['a', 'c']);
    expect(map.evictions).toBe(1);
  });

  it('never answers from its memory of the last entry once that entry was dropped', () => {
    const map = new BoundedMap<string, number>(1);
    expect(map.getOrCreate('a', () => 1)).toBe(1);
    expect(map.touch('a')).toBe(1);
    map.add('b', 2);
    expect(map.touch('a')).toBeUndefined();
    expect(map.getOrCreate('a', () => 3)).toBe(3);
    expect(map.size).toBe(1);
  });
});

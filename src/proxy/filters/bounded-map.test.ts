import { BoundedMap } from './bounded-map';

describe('BoundedMap', () => {
  it('drops the least recently touched entry past its bound, however often the newest is touched', () => {
    const map = new BoundedMap<string, number>(2);
    map.add('a', 1);
    map.add('b', 2);
    map.touch('a');
    map.touch('a');
    map.add('c', 3);
    expect([...map.entries()].map(([k]) => k)).toEqual(['a', 'c']);
    expect(map.evictions).toBe(1);
  });

  it('moves a touched key behind the others even when the newest key was evicted meanwhile', () => {
    const keepA = new BoundedMap<string, number>(1, (v) => v === 1);
    keepA.add('a', 1);
    keepA.add('b', 2); // b is dropped: a is kept
    expect(keepA.touch('b')).toBeUndefined();
    keepA.add('b', 2);
    expect([...keepA.entries()].map(([k]) => k)).toEqual(['a']);
    const map = new BoundedMap<string, number>(3);
    for (const key of ['a', 'b', 'c']) map.add(key, 0);
    map.touch('a');
    map.touch('b');
    map.add('d', 0);
    expect([...map.entries()].map(([k]) => k)).toEqual(['a', 'b', 'd']);
  });
});

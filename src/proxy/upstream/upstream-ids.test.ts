import { ID_LIMIT, UpstreamIds } from './upstream-ids';

describe('UpstreamIds', () => {
  it('gives each item its own id and finds it by that id until taken', () => {
    const ids = new UpstreamIds<string>();
    const a = ids.add('a');
    const b = ids.add('b');
    expect(a).not.toBe(b);
    expect(ids.size).toBe(2);
    expect(ids.get(a)).toBe('a');
    expect(ids.take(a)).toBe('a');
    expect(ids.take(a)).toBeUndefined();
    expect(ids.get(a)).toBeUndefined();
    expect(ids.delete(b)).toBe(true);
    expect(ids.size).toBe(0);
  });

  it('never matches an id it did not give, nor one of the same slot given later', () => {
    const ids = new UpstreamIds<string>();
    const first = ids.add('first');
    ids.take(first);
    let again = ids.add('x');
    while ((again & 63) !== (first & 63)) again = ids.add('x');
    expect(ids.get(first)).toBeUndefined();
    expect(ids.get(again)).toBe('x');
    expect(ids.get(0)).toBeUndefined();
    expect(ids.get(-5)).toBeUndefined();
  });

  it('keeps thousands in flight at once, skipping the slots still held by old ones', () => {
    const ids = new UpstreamIds<number>();
    const stuck = ids.add(-1);
    const live = new Map<number, number>();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 3000; i++) live.set(ids.add(i), i);
      for (const [id, item] of live) expect(ids.get(id)).toBe(item);
      for (const id of live.keys()) expect(ids.take(id)).toBe(live.get(id));
      live.clear();
    }
    expect(ids.get(stuck)).toBe(-1);
    expect(ids.size).toBe(1);
  });

  it('wraps its ids below 2^31 and skips 0', () => {
    const ids = new UpstreamIds<string>();
    (ids as unknown as { nextId: number }).nextId = ID_LIMIT - 1;
    const seen = [ids.add('a'), ids.add('b'), ids.add('c')];
    expect(seen).toEqual([ID_LIMIT - 1, ID_LIMIT, 1]);
    expect(seen.map((id) => ids.get(id))).toEqual(['a', 'b', 'c']);
  });

  it('visits every item once, letting the visitor take them, and clears', () => {
    const ids = new UpstreamIds<string>();
    const given = ['a', 'b', 'c', 'd'].map((s) => [ids.add(s), s] as const);
    const visited: string[] = [];
    ids.forEach((item, id) => {
      visited.push(item);
      if (item === 'b' || item === 'c') ids.take(id);
    });
    expect(visited.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(ids.size).toBe(2);
    expect(ids.clear().sort()).toEqual(['a', 'd']);
    expect(ids.size).toBe(0);
    for (const [id] of given) expect(ids.get(id)).toBeUndefined();
  });
});

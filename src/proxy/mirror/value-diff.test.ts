import { JsonPath } from './json-path';
import { firstDifference } from './value-diff';

const paths = (...texts: string[]): JsonPath[] => texts.map((t) => JsonPath.parse(t) as JsonPath);

describe('JsonPath', () => {
  it('matches names, indexes, wildcards and any depth', () => {
    expect((JsonPath.parse('$.timestamp') as JsonPath).matches(['timestamp'])).toBe(true);
    expect((JsonPath.parse('$.timestamp') as JsonPath).matches(['a', 'timestamp'])).toBe(false);
    expect((JsonPath.parse('$.items[*].id') as JsonPath).matches(['items', 3, 'id'])).toBe(true);
    expect((JsonPath.parse('$.items[1]') as JsonPath).matches(['items', 2])).toBe(false);
    expect((JsonPath.parse('$..traceId') as JsonPath).matches(['a', 0, 'b', 'traceId'])).toBe(true);
    expect((JsonPath.parse("$['odd key']") as JsonPath).matches(['odd key'])).toBe(true);
  });

  it('refuses what it cannot read, saying where', () => {
    expect(JsonPath.parse('timestamp')).toContain('starts with $');
    expect(JsonPath.parse('$.a[x]')).toContain('character 3');
  });
});

describe('firstDifference', () => {
  it('finds nothing between equal values, whatever the key order, and ints equal to longs', () => {
    const when = new Date(5);
    expect(firstDifference({ a: 1, b: [1, 'x', { c: when }], d: Buffer.from('hi') }, { d: Buffer.from('hi'), b: [1, 'x', { c: new Date(5) }], a: 1 })).toBeNull();
    expect(firstDifference({ id: 7 }, { id: 7n })).toBeNull();
  });

  it('names the path of the first difference, with both values', () => {
    expect(firstDifference({ user: { name: 'a', tags: ['x', 'y'] } }, { user: { name: 'a', tags: ['x', 'z'] } })).toEqual({ path: ['user', 'tags', 1], primary: 'y', shadow: 'z' });
    expect(firstDifference([1, 2], [1, 2, 3])).toEqual({ path: [2], primary: undefined, shadow: 3 });
    expect(firstDifference({ a: 1 }, { a: 1, b: null })).toEqual({ path: ['b'], primary: undefined, shadow: null });
  });

  it('leaves out the paths the ignore rules name', () => {
    expect(firstDifference({ timestamp: 1, v: 1 }, { timestamp: 2, v: 1 }, paths('$.timestamp'))).toBeNull();
    expect(firstDifference({ items: [{ at: 1, v: 1 }] }, { items: [{ at: 2, v: 2 }] }, paths('$..at'))).toEqual({ path: ['items', 0, 'v'], primary: 1, shadow: 2 });
  });

  it('compares exceptions by class and message', () => {
    const e = (name: string, message: string): Error => Object.assign(new Error(message), { name });
    expect(firstDifference(e('com.x.NotFound', 'no 7'), e('com.x.NotFound', 'no 7'))).toBeNull();
    expect(firstDifference(e('com.x.NotFound', 'no 7'), e('com.x.Gone', 'no 7'))).toMatchObject({ path: ['class'], primary: 'com.x.NotFound', shadow: 'com.x.Gone' });
    expect(firstDifference(e('com.x.NotFound', 'no 7'), 'no 7')).not.toBeNull();
  });
});

import { effectiveOverride, parseStored } from './shared-weights';

const entry = (notAfter: number): Buffer =>
  Buffer.from(JSON.stringify({ mesh: 55, methods: {}, change: { id: 'c1', by: 'bridge-a', notAfter, previous: { mesh: 20, methods: { pay: 40 } } } }));

describe('stored weight overrides', () => {
  it('applies a write ZooKeeper stamped before its deadline', () => {
    const stored = parseStored(entry(1000))!;
    expect(effectiveOverride(stored, 1000)).toEqual({ override: { mesh: 55, methods: {} }, late: false });
  });

  it('keeps the weights a late write replaced', () => {
    const stored = parseStored(entry(1000))!;
    expect(effectiveOverride(stored, 1001)).toEqual({ override: { mesh: 20, methods: { pay: 40 } }, late: true });
  });

  it('reads entries without a fence (older bridges, reverts) as they are', () => {
    const stored = parseStored(Buffer.from('{"mesh": 30, "methods": {"pay": 100}}'))!;
    expect(effectiveOverride(stored, Number.MAX_SAFE_INTEGER)).toEqual({ override: { mesh: 30, methods: { pay: 100 } }, late: false });
  });

  it('refuses malformed entries', () => {
    expect(parseStored(Buffer.from('{"mesh": 300}'))).toBeNull();
    expect(parseStored(Buffer.from('not json'))).toBeNull();
  });
});

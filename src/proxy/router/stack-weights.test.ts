import { StackWeights, stickyPoint } from './stack-weights';

function share(weights: StackWeights, service: string, method?: string): number {
  let mesh = 0;
  const n = 10_000;
  for (let i = 0; i < n; i++) if (weights.choose(service, method, undefined, (i + 0.5) / n) === 'mesh') mesh++;
  return (mesh / n) * 100;
}

describe('stack weights', () => {
  it('sends the configured share to the mesh, all-or-nothing at 0 and 100', () => {
    const weights = new StackWeights();
    expect(share(weights, 'a.B')).toBe(0);
    weights.set({ service: 'a.B', mesh: 30 });
    expect(share(weights, 'a.B')).toBeCloseTo(30, 0);
    weights.set({ service: 'a.B', mesh: 100 });
    expect(share(weights, 'a.B')).toBe(100);
  });

  it('lets a method override its service, and falls back when cleared', () => {
    const weights = new StackWeights();
    weights.set({ service: 'a.B', mesh: 10 });
    weights.set({ service: 'a.B', method: 'pay', mesh: 90 });
    expect(weights.meshWeight('a.B', 'pay')).toBe(90);
    expect(weights.meshWeight('a.B', 'query')).toBe(10);
    weights.clear('a.B', 'pay');
    expect(weights.meshWeight('a.B', 'pay')).toBe(10);
    expect(weights.list()).toEqual([{ service: 'a.B', mesh: 10 }]);
  });

  it('keeps a sticky key on one stack, and only moves keys towards the mesh as the weight rises', () => {
    const weights = new StackWeights();
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    let previous = new Set<string>();
    for (const mesh of [0, 10, 30, 50, 80, 100]) {
      weights.set({ service: 's', mesh });
      const onMesh = new Set(keys.filter((k) => weights.choose('s', undefined, k, Math.random()) === 'mesh'));
      for (const k of previous) expect(onMesh.has(k)).toBe(true);
      // the same key, asked again with other randomness, gets the same answer
      for (const k of keys.slice(0, 50)) expect(weights.choose('s', undefined, k, Math.random()) === 'mesh').toBe(onMesh.has(k));
      expect(onMesh.size / keys.length).toBeCloseTo(mesh / 100, 1);
      previous = onMesh;
    }
  });

  it('spreads sticky points over [0, 100)', () => {
    const points = Array.from({ length: 1000 }, (_, i) => stickyPoint(`k${i}`));
    expect(Math.min(...points)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...points)).toBeLessThan(100);
    expect(points.filter((p) => p < 50).length).toBeGreaterThan(400);
  });

  it('rejects weights outside 0..100', () => {
    expect(() => new StackWeights().set({ service: 's', mesh: 101 })).toThrow(RangeError);
    expect(() => new StackWeights().set({ service: 's', mesh: NaN })).toThrow(RangeError);
  });
});

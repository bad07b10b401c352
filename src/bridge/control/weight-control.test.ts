import { StackWeights } from '../../proxy/router/stack-weights';
import { WeightControl } from './weight-control';

describe('weight control', () => {
  it('starts from the configured weights and goes back to them when an override is removed', async () => {
    const weights = new StackWeights();
    const control = new WeightControl(weights, [{ service: 'a.B', mesh: 20, methods: { pay: 50 } }]);
    expect(weights.meshWeight('a.B')).toBe(20);
    expect(weights.meshWeight('a.B', 'pay')).toBe(50);
    await control.set('a.B', undefined, 80);
    await control.set('a.B', 'pay', 100);
    expect([weights.meshWeight('a.B'), weights.meshWeight('a.B', 'pay'), weights.meshWeight('a.B', 'x')]).toEqual([80, 100, 80]);
    await control.clear('a.B', 'pay');
    expect(weights.meshWeight('a.B', 'pay')).toBe(50); // the configured method weight again
    expect(control.overrideOf('a.B')).toEqual({ mesh: 80, methods: {} });
    await control.clear('a.B');
    expect([weights.meshWeight('a.B'), weights.meshWeight('a.B', 'pay')]).toEqual([20, 50]);
    expect(control.overrideOf('a.B')).toBeNull();
  });

  it('overrides services that have no configuration, and clears them to the default of 0', async () => {
    const weights = new StackWeights();
    const control = new WeightControl(weights);
    await control.set('APP', undefined, 30);
    expect(weights.meshWeight('APP')).toBe(30);
    await control.clear('APP');
    expect(weights.meshWeight('APP')).toBe(0);
  });

  it('applies what another replica stored', () => {
    const weights = new StackWeights();
    const control = new WeightControl(weights, [{ service: 's', mesh: 10, methods: {} }]);
    control.applyOverride('s', { mesh: 60, methods: { m: 5 } });
    expect([weights.meshWeight('s'), weights.meshWeight('s', 'm')]).toEqual([60, 5]);
    control.applyOverride('s', null);
    expect([weights.meshWeight('s'), weights.meshWeight('s', 'm')]).toEqual([10, 10]);
  });

  it('refuses a weight outside 0..100 before storing anything', async () => {
    const control = new WeightControl(new StackWeights());
    await expect(control.set('s', undefined, 101)).rejects.toThrow(RangeError);
    expect(control.overrideOf('s')).toBeNull();
  });
});

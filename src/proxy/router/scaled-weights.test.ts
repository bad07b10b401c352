import { ScaledWeights } from './scaled-weights';
import { StackWeights } from './stack-weights';

describe('ScaledWeights', () => {
  it('routes by the operator weight times the service factor, capped at 100, and leaves the operator weight alone', () => {
    const base = new StackWeights();
    base.set({ service: 's', mesh: 25 });
    base.set({ service: 's', method: 'm', mesh: 60 });
    base.set({ service: 't', mesh: 30 });
    const scaled = new ScaledWeights(base, (service) => (service === 's' ? 2 : 1));
    expect(scaled.meshWeight('s')).toBe(50);
    expect(scaled.meshWeight('s', 'm')).toBe(100);
    expect(scaled.meshWeight('t')).toBe(30);
    expect(base.meshWeight('s')).toBe(25);
    // choose() uses the scaled weight: at 50 %, a draw of 0.4 goes to the mesh.
    expect(scaled.choose('s', undefined, undefined, 0.4)).toBe('mesh');
    expect(base.choose('s', undefined, undefined, 0.4)).toBe('legacy');
  });
});

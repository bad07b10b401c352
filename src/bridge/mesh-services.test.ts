// Unit tests for what the registry writers learn from the bridge's config and weights.
import { Catalog } from '../catalog';
import { validateBridgeConfig } from './config';
import { loadMeshServices, migrationState } from './mesh-services';
import { StackWeights } from '../proxy/router/stack-weights';
import { WeightControl } from './control/weight-control';

describe('migrationState', () => {
  it('calls a service migrated while its weight or one method weight is above 0, and says when that may change', async () => {
    const control = new WeightControl(new StackWeights(), [{ service: 'a.Svc', mesh: 0, methods: { pay: 10 } }]);
    const state = migrationState(control);
    expect([state.isMigrating('a.Svc'), state.isMigrating('b.Svc')]).toEqual([true, false]);
    const changed: string[] = [];
    const unsubscribe = state.onChange((service) => changed.push(service));
    await control.set('b.Svc', undefined, 25);
    expect(state.isMigrating('b.Svc')).toBe(true);
    await control.set('a.Svc', 'pay', 0);
    expect(state.isMigrating('a.Svc')).toBe(false);
    await control.clear('a.Svc');
    expect(state.isMigrating('a.Svc')).toBe(true);
    unsubscribe();
    await control.set('b.Svc', undefined, 0);
    expect(changed).toEqual(['b.Svc', 'a.Svc', 'a.Svc']);
  });
});

describe('loadMeshServices', () => {
  it('labels instances with the methods the config declares, unless they name their own', () => {
    const config = validateBridgeConfig({
      mesh: { services: [{ name: 'a.Svc', protocol: 'dubbo', instances: [{ host: '10.0.0.1', port: 20880 }, { host: '10.0.0.2', port: 20880, labels: { methods: 'own' } }] }] },
    });
    const services = config.mesh.services.map((s) => ({ ...s, methods: ['pay', 'refund'] }));
    const catalog = new Catalog();
    loadMeshServices(catalog, services);
    expect(catalog.instances('a.Svc').map((i) => i.labels.methods)).toEqual(['pay,refund', 'own']);
  });
});

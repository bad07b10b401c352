import { Catalog, Instance, instanceDefaults } from '../../catalog';
import { SelfAddresses } from './self-addresses';
import { ServiceRoutes } from './service-routes';
import { StackWeights } from './stack-weights';

const SERVICE = 'com.example.Orders';

function instance(host: string, port: number, stack: 'legacy' | 'mesh' = 'legacy'): Instance {
  return { ...instanceDefaults(), id: `${host}:${port}`, service: SERVICE, protocol: 'dubbo', host, port, stack, origin: { source: 'test' } };
}

describe('service routes', () => {
  it('never routes to the bridge itself, whatever spelling the instance was registered under', () => {
    const catalog = new Catalog();
    const self = new SelfAddresses({ addresses: ['127.0.0.1', '10.1.2.3'], names: ['bridge-host'] });
    self.add('0.0.0.0', 20880);
    self.add('127.0.0.1', 15000);
    catalog.replaceSource('test', SERVICE, [
      instance('127.0.0.1', 20880),
      instance('localhost', 20880),
      instance('[::ffff:127.0.0.1]', 20880),
      instance('10.1.2.3', 20880),
      instance('bridge-host', 20880),
      instance('127.0.0.1', 15000, 'mesh'),
      instance('localhost', 15000, 'mesh'),
      instance('10.9.9.9', 20880),
    ]);
    const routes = new ServiceRoutes(catalog, new StackWeights(), () => 0, 'dubbo', self);
    const set = routes.routeSet(SERVICE, '', '');
    expect(set.legacy.map((c) => c.address)).toEqual(['10.9.9.9:20880']);
    expect(set.mesh).toEqual([]);
    routes.close();
  });

  it('holds a bounded number of route sets however many versions and groups requests name', () => {
    const catalog = new Catalog();
    catalog.replaceSource('test', SERVICE, [instance('10.0.0.1', 20880)]);
    const routes = new ServiceRoutes(catalog, new StackWeights(), () => 0, 'dubbo', undefined, undefined, { services: 100, keysPerService: 64 });
    for (let i = 0; i < 60_000; i++) {
      // Sets of requests naming a version alone, and of those naming a group too, are bounded apart.
      expect(routes.routeSet(SERVICE, `v${i}`, i % 2 === 0 ? '' : `g${i % 7}`).legacy).toHaveLength(1);
      routes.needsGroup(`invented.Service${i}`);
    }
    expect(routes.cachedRouteSets).toBeLessThanOrEqual(2 * 64);
    expect(routes.cachedRouteSets).toBeGreaterThan(64);
    routes.close();
  });
});

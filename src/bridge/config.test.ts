import { validateBridgeConfig } from './config';

describe('bridge config', () => {
  it('fills defaults for an empty file: an embedded Eureka and no ZooKeeper', () => {
    const config = validateBridgeConfig({});
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 15000, allowedHosts: [] });
    expect(config.eureka.embedded).toBe(true);
    expect(config.zookeeper).toBeUndefined();
  });

  it('names the path of a bad key and what was expected', () => {
    expect(() => validateBridgeConfig({ admin: { port: 'eighty' } }, 'bridge.yaml')).toThrow(/bridge\.yaml[\s\S]*admin\.port: .*expected number/);
    try {
      validateBridgeConfig({ zookeeper: { connect: 'zk:2181', sesionTimeoutMs: 5 } });
    } catch (err) {
      expect(err).toMatchObject({ code: 'CONFIG_INVALID', where: 'zookeeper' });
      expect(String((err as Error).message)).toContain('sesionTimeoutMs');
    }
    expect.assertions(3);
  });

  it('requires a bridge address when provider URLs point at the bridge and its listener address is no dialable one', () => {
    const atBridge = { connect: 'zk:2181', export: { target: 'bridge' } };
    expect(() => validateBridgeConfig({ zookeeper: atBridge })).not.toThrow();
    expect(() => validateBridgeConfig({ zookeeper: atBridge, dubbo: { host: '0.0.0.0' } })).toThrow(/zookeeper\.export\.bridgeAddress: required when dubbo\.host is 0\.0\.0\.0/);
    expect(() => validateBridgeConfig({ zookeeper: atBridge, dubbo: { enabled: false } })).toThrow(/zookeeper\.export\.bridgeAddress: required/);
  });

  it('reads mesh services with instance defaults', () => {
    const config = validateBridgeConfig({ mesh: { services: [{ name: 'org.demo.Greeter', protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 20881 }] }] } });
    expect(config.mesh.services[0].instances[0]).toEqual({ host: '127.0.0.1', port: 20881, weight: 100, version: '', group: '', labels: {} });
  });

  const greeter = { name: 'org.demo.Greeter', protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: 20881 }] };
  const orders = { name: 'Orders', protocol: 'http', instances: [{ host: '127.0.0.1', port: 8081 }] };
  const problemsOf = (raw: unknown): string[] => {
    try {
      validateBridgeConfig(raw);
    } catch (err) {
      return (err as { value: string[] }).value;
    }
    return [];
  };

  it('matches route names as each registry does: Dubbo interfaces exactly, Eureka apps in any case', () => {
    const config = validateBridgeConfig({ mesh: { services: [greeter, orders] }, routes: [{ service: 'orders', mesh: 5 }, { service: 'org.demo.Greeter' }] });
    expect(config.mesh.services.map((s) => s.name)).toEqual(['org.demo.Greeter', 'ORDERS']);
    expect(config.routes.map((r) => [r.service, r.protocol])).toEqual([
      ['ORDERS', 'http'],
      ['org.demo.Greeter', 'dubbo'],
    ]);
    expect(problemsOf({ mesh: { services: [greeter] }, routes: [{ service: 'org.demo.greeter' }] })).toEqual([
      'routes.0.service: "org.demo.greeter" is no service of mesh.services: Dubbo interface names match exactly (did you mean "org.demo.Greeter"?)',
    ]);
  });

  it('refuses a route for a service it does not know unless declared ahead of its registration', () => {
    expect(problemsOf({ routes: [{ service: 'com.example.Invented' }] })[0]).toMatch(/routes\.0\.service: "com\.example\.Invented" is no service of mesh\.services; .*declared: true/);
    const config = validateBridgeConfig({ routes: [{ service: 'payments', declared: true, protocol: 'http' }] });
    expect(config.routes[0]).toMatchObject({ service: 'PAYMENTS', protocol: 'http', declared: true });
  });

  it('refuses the same service twice in routes or in mesh.services', () => {
    expect(problemsOf({ mesh: { services: [greeter, greeter, orders, { ...orders, name: 'ORDERS' }] }, routes: [{ service: 'Orders' }, { service: 'ORDERS' }] })).toEqual([
      'mesh.services.1.name: "org.demo.Greeter" is already declared at mesh.services.0',
      'mesh.services.3.name: "ORDERS" is already declared at mesh.services.2 (Eureka app names match in any case)',
      'routes.1.service: "ORDERS" already has a route at routes.0',
    ]);
  });

  it('validates addresses, hosts and Eureka server URLs', () => {
    const problems = problemsOf({
      admin: { host: 'not a host!!' },
      zookeeper: { connect: 'zk:2181', export: { target: 'bridge', bridgeAddress: '10.0.0.5:99999' } },
      eureka: { servers: ['ftp://eureka:8761/eureka/', 'javascript:alert(1)', 'https://eureka.example:8761/eureka/'] },
      mesh: { services: [{ ...greeter, instances: [{ host: 'a b', port: 1 }] }] },
    });
    expect(problems).toEqual([
      'admin.host: expected an IP address or a host name',
      'zookeeper.export.bridgeAddress: expected host:port with a port 1..65535',
      'eureka.servers.0: expected an http:// or https:// URL',
      'eureka.servers.1: expected an http:// or https:// URL',
      'mesh.services.0.instances.0.host: expected an IP address or a host name',
    ]);
    expect(() => validateBridgeConfig({ admin: { host: '::1' }, dubbo: { host: '0.0.0.0' }, http: { host: 'bridge-1.example.com' } })).not.toThrow();
  });

  it('takes slot ports only for steering by slots, each a port of its own', () => {
    const zookeeper = (steering: string, target = 'bridge') => ({ connect: '127.0.0.1:2181', export: { target, steering } });
    const ok = validateBridgeConfig({ zookeeper: zookeeper('slots'), dubbo: { port: 20880, slotPorts: [20881, 20882] } });
    expect(ok.dubbo.slotPorts).toEqual([20881, 20882]);
    expect(validateBridgeConfig({}).dubbo.slotPorts).toEqual([]);
    expect(problemsOf({ zookeeper: zookeeper('slots'), dubbo: { port: 20880, slotPorts: [20881, 20880, 0, 20881] } })).toEqual([
      'dubbo.slotPorts.2: Too small: expected number to be >=1',
      'dubbo.slotPorts.1: 20880 is also dubbo.port: each listener needs its own port',
      'dubbo.slotPorts.3: 20881 is also dubbo.slotPorts: each listener needs its own port',
    ]);
    expect(problemsOf({ zookeeper: zookeeper('disable'), dubbo: { slotPorts: [20881] } })).toEqual(['dubbo.slotPorts: slot ports serve only zookeeper.export.steering "slots" with target "bridge" and the Dubbo listener enabled']);
    expect(problemsOf({ zookeeper: zookeeper('slots', 'instance') })).toEqual(['zookeeper.export.steering: steering "slots" writes bridge URLs: it needs zookeeper.export.target "bridge"']);
  });

  it('reports every error at once, those across keys with those of single keys', () => {
    const problems = problemsOf({ admin: { port: 'eighty' }, dubbo: { port: 18080 }, routes: [{ service: 'nowhere' }] });
    expect(problems).toEqual([
      'admin.port: Invalid input: expected number, received string',
      'http.port: 18080 is also dubbo.port: each listener needs its own port',
      'routes.0.service: "nowhere" is no service of mesh.services; to route a service that registers later, set declared: true (and protocol)',
    ]);
  });
});

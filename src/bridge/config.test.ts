import { validateBridgeConfig } from './config';

describe('bridge config', () => {
  it('fills defaults for an empty file: an embedded Eureka and no ZooKeeper', () => {
    const config = validateBridgeConfig({});
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 15000 });
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
});

// Unit tests for Dubbo 3 / Curator application-level instances, both directions.
import { Instance, instanceDefaults } from '../catalog';
import { appInstanceJson, readAppInstance } from './app-instance';

// As Dubbo 3.1 writes it (from a `get /services/<app>/<id>` on a live registry).
const DUBBO3 = JSON.stringify({
  name: 'first-dubbo-provider',
  id: '10.1.2.3:20880',
  address: '10.1.2.3',
  port: 20880,
  sslPort: null,
  payload: {
    '@class': 'org.apache.dubbo.registry.zookeeper.ZookeeperInstance',
    id: '10.1.2.3:20880',
    name: 'first-dubbo-provider',
    metadata: {
      'dubbo.endpoints': '[{"port":20881,"protocol":"dubbo"},{"port":50051,"protocol":"tri"}]',
      'dubbo.metadata.revision': '871fbc9cb2730caea9b0d858852d5ede',
      'dubbo.metadata.storage-type': 'local',
      timestamp: '1674960780647',
    },
  },
  registrationTimeUTC: 1674960781893,
  serviceType: 'DYNAMIC',
  uriSpec: null,
});

describe('readAppInstance', () => {
  it('reads a Dubbo 3 instance with its dubbo endpoint port and metadata as labels', () => {
    const parsed = readAppInstance('first-dubbo-provider', '10.1.2.3:20880', Buffer.from(DUBBO3));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { instance, bridgeTag } = parsed.value;
    expect(bridgeTag).toBeUndefined();
    expect(instance).toMatchObject({
      id: '10.1.2.3:20880',
      service: 'first-dubbo-provider',
      protocol: 'dubbo',
      host: '10.1.2.3',
      port: 20881,
      stack: 'legacy',
      weight: 100,
      origin: { source: 'zookeeper' },
    });
    expect(instance.labels['dubbo.metadata.revision']).toBe('871fbc9cb2730caea9b0d858852d5ede');
  });

  it('reads a plain Curator instance (Spring Cloud Zookeeper) as http', () => {
    const json = JSON.stringify({ name: 'orders', id: 'b1e7', address: '10.0.0.9', port: 8080, sslPort: null, payload: { '@class': 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance', metadata: { zone: 'a' } } });
    const parsed = readAppInstance('orders', 'b1e7', Buffer.from(json));
    expect(parsed.ok && parsed.value.instance).toMatchObject({ protocol: 'http', host: '10.0.0.9', port: 8080, labels: { zone: 'a' } });
  });

  it.each([
    ['not json', '{"name":'],
    ['no address', '{"port":1}'],
    ['no port', '{"address":"h","port":null,"sslPort":null}'],
    ['a port out of range', '{"address":"h","port":70000}'],
    ['an array', '[1,2]'],
  ])('skips an instance with %s', (_what, text) => {
    const parsed = readAppInstance('app', 'id', Buffer.from(text));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.bad.reason).toBe('malformed_instance');
      expect(parsed.bad.value).toBe(text);
    }
  });
});

describe('appInstanceJson', () => {
  const instance: Instance = {
    ...instanceDefaults(),
    id: 'orders-1',
    service: 'ORDERS',
    protocol: 'http',
    host: '10.0.0.7',
    port: 8080,
    stack: 'legacy',
    weight: 30,
    labels: { zone: 'b' },
    origin: { source: 'eureka' },
  };

  it('writes what Curator and Dubbo 3 read, tagged with the owner', () => {
    const json = JSON.parse(appInstanceJson(instance, 'bridge-1', 1700000000000)) as Record<string, unknown>;
    expect(json).toEqual({
      name: 'ORDERS',
      id: '10.0.0.7:8080',
      address: '10.0.0.7',
      port: 8080,
      sslPort: null,
      payload: {
        '@class': 'org.apache.dubbo.registry.zookeeper.ZookeeperInstance',
        id: '10.0.0.7:8080',
        name: 'ORDERS',
        metadata: { zone: 'b', weight: '30', 'mesh-bridge': 'bridge-1' },
      },
      registrationTimeUTC: 1700000000000,
      serviceType: 'DYNAMIC',
      uriSpec: null,
    });
  });

  it('reads back what it writes, recognising the tag', () => {
    const parsed = readAppInstance('ORDERS', '10.0.0.7:8080', Buffer.from(appInstanceJson(instance, 'bridge-1', 1)));
    expect(parsed.ok && parsed.value.bridgeTag).toBe('bridge-1');
    expect(parsed.ok && parsed.value.instance.weight).toBe(30);
  });
});

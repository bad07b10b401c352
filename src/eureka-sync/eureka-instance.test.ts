import { MeshBridgeError } from '../errors';
import {
  catalogToEureka,
  eurekaToCatalog,
  formatInstanceJson,
  formatInstanceXml,
  parseEurekaInstance,
  parseEurekaInstanceJson,
  parseEurekaInstanceXml,
} from './eureka-instance';
import { parseXml } from './eureka-xml';

const NOW = 1_700_000_000_000;
const LEASE = { registrationTimestamp: NOW, lastRenewalTimestamp: NOW, evictionTimestamp: 0, serviceUpTimestamp: NOW };

/** What eureka-js-client 4.5 posts. */
const JS_CLIENT_BODY = {
  instance: {
    app: 'orders-js',
    hostName: '127.0.0.1',
    ipAddr: '127.0.0.1',
    port: { $: 3000, '@enabled': true },
    vipAddress: 'orders-js',
    dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    status: 'UP',
  },
};

/** What a Spring Cloud Netflix client posts (abridged). */
const SPRING_BODY = {
  instance: {
    instanceId: '10.1.2.3:orders:8080',
    app: 'ORDERS',
    appGroupName: null,
    ipAddr: '10.1.2.3',
    sid: 'na',
    homePageUrl: 'http://10.1.2.3:8080/',
    statusPageUrl: 'http://10.1.2.3:8080/actuator/info',
    healthCheckUrl: 'http://10.1.2.3:8080/actuator/health',
    secureHealthCheckUrl: null,
    vipAddress: 'orders',
    secureVipAddress: 'orders',
    countryId: 1,
    dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    hostName: '10.1.2.3',
    status: 'STARTING',
    overriddenStatus: 'UNKNOWN',
    leaseInfo: { renewalIntervalInSecs: 5, durationInSecs: 15, registrationTimestamp: 0, lastRenewalTimestamp: 0, evictionTimestamp: 0, serviceUpTimestamp: 0 },
    isCoordinatingDiscoveryServer: false,
    metadata: { 'management.port': '8080', weight: '50', version: '1.2.0', group: 'blue' },
    lastUpdatedTimestamp: 1700000000001,
    lastDirtyTimestamp: 1700000000002,
    actionType: null,
    asgName: null,
    port: { $: 8080, '@enabled': 'true' },
    securePort: { $: 443, '@enabled': 'false' },
  },
};

function errorOf(fn: () => unknown): MeshBridgeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MeshBridgeError) return err;
    throw err;
  }
  throw new Error('expected a MeshBridgeError');
}

describe('parseEurekaInstance', () => {
  it('reads what eureka-js-client posts, taking the host name as id and upper-casing the app', () => {
    const instance = parseEurekaInstance(JS_CLIENT_BODY, NOW);
    expect(instance.instanceId).toBe('127.0.0.1');
    expect(instance.app).toBe('ORDERS-JS');
    expect(instance.port).toEqual({ port: 3000, enabled: true });
    expect(instance.securePort.enabled).toBe(false);
    expect(instance.durationInSecs).toBe(90);
    expect(instance.lastDirtyTimestamp).toBe(NOW);
  });

  it('reads what Spring Cloud posts, with nulls, string flags and lease settings', () => {
    const instance = parseEurekaInstance(SPRING_BODY, NOW);
    expect(instance.instanceId).toBe('10.1.2.3:orders:8080');
    expect(instance.status).toBe('STARTING');
    expect(instance.durationInSecs).toBe(15);
    expect(instance.renewalIntervalInSecs).toBe(5);
    expect(instance.securePort).toEqual({ port: 443, enabled: false });
    expect(instance.lastDirtyTimestamp).toBe(1700000000002);
    expect(instance.metadata.weight).toBe('50');
  });

  it('accepts a port as a number or a string', () => {
    expect(parseEurekaInstance({ instance: { ...JS_CLIENT_BODY.instance, port: 81 } }, NOW).port.port).toBe(81);
    expect(parseEurekaInstance({ instance: { ...JS_CLIENT_BODY.instance, port: '82' } }, NOW).port.port).toBe(82);
    expect(parseEurekaInstance({ instance: { ...JS_CLIENT_BODY.instance, port: { $: '83', '@enabled': 'false' } } }, NOW).port).toEqual({ port: 83, enabled: false });
  });

  it.each([
    ['port.$', { port: { $: 'http', '@enabled': 'true' } }],
    ['port', { port: 70000 }],
    ['port.@enabled', { port: { $: 80, '@enabled': 'yes' } }],
    ['status', { status: 'SLEEPING' }],
    ['hostName', { hostName: '' }],
    ['ipAddr', { ipAddr: undefined }],
    ['app', { app: '' }],
    ['dataCenterInfo', { dataCenterInfo: undefined }],
    ['dataCenterInfo.name', { dataCenterInfo: { '@class': 'x' } }],
    ['leaseInfo.durationInSecs', { leaseInfo: { durationInSecs: 'long' } }],
    ['leaseInfo', { leaseInfo: [30] }],
    ['metadata.nested', { metadata: { nested: { a: 1 } } }],
    ['metadata', { metadata: 'flat' }],
  ])('names the bad field %s', (field, change) => {
    const err = errorOf(() => parseEurekaInstance({ instance: { ...JS_CLIENT_BODY.instance, ...change } }, NOW));
    expect(err.code).toBe('EUREKA_BAD_PAYLOAD');
    expect(err.where).toBe(field);
    expect(err.message).toContain(field);
  });

  it('refuses a body that is not JSON, with the offending text', () => {
    const err = errorOf(() => parseEurekaInstanceJson('{"instance": {', NOW));
    expect(err.code).toBe('EUREKA_BAD_PAYLOAD');
    expect(err.where).toBe('body');
    expect(err.value).toContain('instance');
  });

  it('refuses a body that is not an object', () => {
    expect(errorOf(() => parseEurekaInstance([1, 2], NOW)).where).toBe('instance');
    expect(errorOf(() => parseEurekaInstance({ instance: 'x' }, NOW)).where).toBe('instance');
  });
});

describe('Eureka XML', () => {
  it('reads an XML registration as Eureka writes it', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
      <instance>
        <instanceId>i-1</instanceId><hostName>h1</hostName><app>billing</app><ipAddr>10.0.0.2</ipAddr>
        <status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
        <port enabled="true">9090</port><securePort enabled="false">443</securePort>
        <countryId>1</countryId>
        <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
        <leaseInfo><renewalIntervalInSecs>10</renewalIntervalInSecs><durationInSecs>30</durationInSecs></leaseInfo>
        <metadata><zone>a &amp; b</zone><!-- a comment --><note><![CDATA[<raw>]]></note></metadata>
        <vipAddress>billing</vipAddress>
      </instance>`;
    const instance = parseEurekaInstanceXml(xml, NOW);
    expect(instance).toMatchObject({
      instanceId: 'i-1',
      app: 'BILLING',
      port: { port: 9090, enabled: true },
      durationInSecs: 30,
      metadata: { zone: 'a & b', note: '<raw>' },
      vipAddress: 'billing',
    });
  });

  it('reads an empty metadata map written as a Java class', () => {
    const xml =
      '<instance><hostName>h</hostName><app>a</app><ipAddr>1.2.3.4</ipAddr><port enabled="true">1</port>' +
      '<dataCenterInfo class="x"><name>MyOwn</name></dataCenterInfo><metadata class="java.util.Collections$EmptyMap"/></instance>';
    expect(parseEurekaInstanceXml(xml, NOW).metadata).toEqual({});
  });

  it.each([
    ['<instance><app>a</app>', 'truncated'],
    ['<instance><app>a</ap></instance>', 'mismatched'],
    ['not xml', 'not an XML document'],
    ['<instance></instance><more/>', 'after the XML root'],
    ['<!DOCTYPE x><instance/>', 'DOCTYPE'],
  ])('refuses malformed XML %s', (xml, message) => {
    const err = errorOf(() => parseEurekaInstanceXml(xml, NOW));
    expect(err.code).toBe('EUREKA_BAD_PAYLOAD');
    expect(err.message).toContain(message);
  });

  it('round-trips an instance through its XML form', () => {
    const instance = parseEurekaInstance(SPRING_BODY, NOW);
    const out: string[] = [];
    formatInstanceXml(out, instance, LEASE, 'ADDED');
    const again = parseEurekaInstanceXml(out.join(''), NOW);
    expect(again).toEqual({ ...instance, lastUpdatedTimestamp: instance.lastUpdatedTimestamp });
    expect(parseXml(out.join('')).children.find((c) => c.name === 'actionType')?.text).toBe('ADDED');
  });
});

describe('formatInstanceJson', () => {
  it('writes Eureka JSON that parses back to the same instance', () => {
    const instance = parseEurekaInstance(SPRING_BODY, NOW);
    const json = formatInstanceJson(instance, LEASE, 'MODIFIED');
    expect(json.port).toEqual({ $: 8080, '@enabled': 'true' });
    expect(json.actionType).toBe('MODIFIED');
    expect(json.lastDirtyTimestamp).toBe('1700000000002');
    expect(parseEurekaInstance({ instance: JSON.parse(JSON.stringify(json)) }, NOW)).toEqual(instance);
  });

  it('writes an empty metadata map as Java does', () => {
    const json = formatInstanceJson(parseEurekaInstance(JS_CLIENT_BODY, NOW), LEASE);
    expect(json.metadata).toEqual({ '@class': 'java.util.Collections$EmptyMap' });
  });
});

describe('catalog mapping', () => {
  it('maps a Eureka instance to the catalog: app as service, metadata weight/version/group as fields', () => {
    const instance = eurekaToCatalog(parseEurekaInstance(SPRING_BODY, NOW), { source: 'eureka', registry: 'embedded' });
    expect(instance).toMatchObject({
      id: '10.1.2.3:orders:8080',
      service: 'ORDERS',
      protocol: 'http',
      host: '10.1.2.3',
      port: 8080,
      stack: 'legacy',
      weight: 50,
      version: '1.2.0',
      group: 'blue',
      health: 'starting',
      labels: { 'management.port': '8080' },
    });
  });

  it('maps a catalog instance of another source to Eureka, carrying where it came from', () => {
    const eureka = catalogToEureka(
      {
        id: '10.0.0.5:20880',
        service: 'com.acme.DemoService',
        protocol: 'dubbo',
        host: '10.0.0.5',
        port: 20880,
        stack: 'legacy',
        weight: 200,
        version: '1.0.0',
        group: '',
        health: 'up',
        labels: { application: 'demo' },
        origin: { source: 'zookeeper' },
      },
      NOW,
    );
    expect(eureka).toMatchObject({
      app: 'COM.ACME.DEMOSERVICE',
      vipAddress: 'com.acme.demoservice',
      status: 'UP',
      port: { port: 20880, enabled: true },
      metadata: { application: 'demo', weight: '200', version: '1.0.0', 'mesh-bridge.source': 'zookeeper', 'mesh-bridge.protocol': 'dubbo' },
    });
  });

  it('never takes the stack from metadata (a registrant could claim the mesh side), but keeps a Dubbo protocol', () => {
    const served = catalogToEureka(
      { id: 'm1', service: 'ORDERS', protocol: 'http', host: '10.0.0.9', port: 8080, stack: 'mesh', weight: 100, version: '', group: '', health: 'up', labels: {}, origin: { source: 'mesh' } },
      NOW,
    );
    expect(eurekaToCatalog(served, { source: 'eureka' })).toMatchObject({ stack: 'legacy', protocol: 'http', port: 8080 });
    const dubbo = catalogToEureka({ ...eurekaToCatalog(served, { source: 'eureka' }), protocol: 'dubbo', stack: 'legacy' }, NOW);
    expect(eurekaToCatalog(dubbo, { source: 'eureka' })).toMatchObject({ stack: 'legacy', protocol: 'dubbo' });
  });
});

// Unit tests for provider, consumer and rule entries read from znode names, and provider names written.
import { formatDubboUrl, parseZnodeName, urlMethods } from '../dubbo-codec/dubbo-url';
import { ProviderRead, choosePreferred, formatProviderNodeName, nameKey, providerInstances, providerUrl, readConsumer, readProvider, readRule, splitMethods } from './provider-instance';

const IFACE = 'com.example.GreetingService';
// As Java Dubbo 2.7 writes it: the URL encoded once, so `,` is `%2C`.
const JAVA_NAME =
  'dubbo%3A%2F%2F10.0.0.7%3A20880%2Fcom.example.GreetingService%3Fanyhost%3Dtrue%26application%3Ddemo-provider%26dubbo%3D2.0.2' +
  '%26group%3Dblue%26interface%3Dcom.example.GreetingService%26methods%3DsayHello%2CsayBye%26side%3Dprovider%26timestamp%3D1700000000000' +
  '%26version%3D1.0.0%26weight%3D50';

function provider(name: string): ProviderRead {
  const parsed = readProvider(IFACE, name);
  if (!parsed.ok) throw new Error(parsed.bad.message);
  return parsed.value;
}

function name(address: string, params: string): string {
  return encodeURIComponent(`dubbo://${address}/${IFACE}?interface=${IFACE}&${params}`);
}

describe('readProvider', () => {
  it('reads a Java provider into a legacy dubbo instance of source zookeeper', () => {
    const read = provider(JAVA_NAME);
    expect(read.instance).toMatchObject({
      id: '10.0.0.7:20880',
      service: IFACE,
      protocol: 'dubbo',
      host: '10.0.0.7',
      port: 20880,
      stack: 'legacy',
      weight: 50,
      version: '1.0.0',
      group: 'blue',
      health: 'up',
      origin: { source: 'zookeeper' },
    });
    expect(read.instance.labels).toMatchObject({ application: 'demo-provider', methods: 'sayHello,sayBye', side: 'provider' });
    expect(read.timestamp).toBe(1700000000000);
    expect(read.bridgeTag).toBeUndefined();
  });

  it('reads a twice-encoded name the same as a once-encoded one', () => {
    expect(provider(JAVA_NAME.replace('sayHello%2CsayBye', 'sayHello%252CsayBye')).instance).toEqual(provider(JAVA_NAME).instance);
    expect(provider(encodeURIComponent(JAVA_NAME)).instance).toEqual(provider(JAVA_NAME).instance);
  });

  it('notes the bridge tag, a disabled provider, IPv6 hosts and rest providers', () => {
    expect(provider(name('10.0.0.1:1', 'mesh-bridge=b1')).bridgeTag).toBe('b1');
    expect(provider(name('10.0.0.1:1', 'enabled=false')).instance.health).toBe('out_of_service');
    expect(provider(name('[::1]:20880', 'x=1')).instance).toMatchObject({ id: '::1:20880', host: '::1' });
    expect(provider(encodeURIComponent(`rest://10.0.0.1:8080/${IFACE}?interface=${IFACE}`)).instance.protocol).toBe('http');
  });

  it('returns bad entries, with the offending name, instead of throwing', () => {
    const cases: Array<[string, string]> = [
      ['not-a-url', 'unparsable_znode_name'],
      ['dubbo%3A%2F%2Fh%3A1%2Fx%3Fa%3D%E0%A4%A', 'unparsable_znode_name'],
      [encodeURIComponent(`dubbo://10.0.0.1:99999/${IFACE}`), 'malformed_url'],
      [encodeURIComponent(`dubbo://10.0.0.1/${IFACE}`), 'malformed_url'],
      [encodeURIComponent(`tri://10.0.0.1:50051/${IFACE}`), 'unsupported_protocol'],
      [encodeURIComponent('dubbo://10.0.0.1:20880/com.example.Other?interface=com.example.Other'), 'interface_mismatch'],
    ];
    for (const [bad, reason] of cases) {
      const parsed = readProvider(IFACE, bad);
      expect(parsed).toEqual({ ok: false, bad: expect.objectContaining({ reason, value: bad }) });
    }
  });
});

describe('providerInstances and choosePreferred', () => {
  it('keeps one instance per endpoint: enabled first, then newest, whatever the listing order', () => {
    const old = provider(name('10.0.0.1:20880', 'timestamp=1&weight=10'));
    const newer = provider(name('10.0.0.1:20880', 'timestamp=2&weight=20'));
    const disabled = provider(name('10.0.0.1:20880', 'timestamp=3&enabled=false'));
    expect(choosePreferred(old, newer)).toBe(newer);
    expect(choosePreferred(newer, old)).toBe(newer);
    expect(choosePreferred(disabled, old)).toBe(old);
    expect(providerInstances([old, newer, disabled])).toEqual([newer.instance]);
    expect(providerInstances([disabled, newer, old])).toEqual([newer.instance]);
  });

  it('keeps every group and version one endpoint serves, with distinct ids', () => {
    const v1 = provider(name('10.0.0.1:20880', 'version=1.0.0'));
    const v2 = provider(name('10.0.0.1:20880', 'version=2.0.0'));
    const other = provider(name('10.0.0.2:20880', 'version=1.0.0'));
    expect(providerInstances([v2, other, v1]).map((i) => i.id)).toEqual([
      '10.0.0.1:20880?group=&version=1.0.0',
      '10.0.0.1:20880?group=&version=2.0.0',
      '10.0.0.2:20880',
    ]);
  });
});

describe('consumers and rules', () => {
  it('reads a consumer registration', () => {
    const parsed = readConsumer(IFACE, encodeURIComponent(`consumer://10.1.1.1/${IFACE}?application=web&category=consumers&interface=${IFACE}&version=1.0.0`));
    expect(parsed).toEqual({ ok: true, value: expect.objectContaining({ application: 'web', host: '10.1.1.1', version: '1.0.0', interface: IFACE }) });
    expect(readConsumer(IFACE, JAVA_NAME)).toMatchObject({ ok: false, bad: { reason: 'unsupported_protocol' } });
  });

  it('reads override and route rules as they are', () => {
    const parsed = readRule(encodeURIComponent(`override://0.0.0.0/${IFACE}?category=configurators&weight=200`));
    expect(parsed).toEqual({ ok: true, value: expect.objectContaining({ protocol: 'override', host: '0.0.0.0', interface: IFACE, params: { category: 'configurators', weight: '200' } }) });
    expect(readRule('%%%')).toMatchObject({ ok: false });
  });
});

describe('formatProviderNodeName', () => {
  it('writes a name Java Dubbo writes the same way, which reads back', () => {
    const written = formatProviderNodeName('10.2.0.1', 20880, IFACE, [
      ['anyhost', 'true'],
      ['interface', IFACE],
      ['methods', 'a,b'],
      ['note', 'x&y=z'],
    ]);
    expect(written).toContain('methods%3Da%2Cb');
    const url = parseZnodeName(written);
    expect(url).toMatchObject({ protocol: 'dubbo', host: '10.2.0.1', port: 20880, path: IFACE });
    expect(urlMethods(url)).toEqual(['a', 'b']);
    expect(url.params.get('note')).toBe('x&y=z');
    expect(provider(written).instance.host).toBe('10.2.0.1');
  });

  it('brackets IPv6 hosts', () => {
    expect(parseZnodeName(formatProviderNodeName('::1', 20880, IFACE, [['interface', IFACE]])).host).toBe('[::1]');
  });

  it('splits method lists', () => {
    expect(splitMethods(undefined)).toEqual([]);
    expect(splitMethods(' a, b,,c ')).toEqual(['a', 'b', 'c']);
  });
});

describe('providerUrl and nameKey', () => {
  it('gives back the decoded URL of any provider, rebuilt or kept', () => {
    const names = [
      JAVA_NAME,
      JAVA_NAME.replace('sayHello%2CsayBye', 'sayHello%252CsayBye'),
      name('[::1]:20880', 'x=1&note=a%2526b'),
      name('10.0.0.1:1', 'mesh-bridge=b1&timestamp=1700000000123&pid=4242'),
      encodeURIComponent(`rest://10.0.0.1:8080/ctx/${IFACE}?interface=${IFACE}&side=provider`),
      encodeURIComponent(`dubbo://user:pw@10.0.0.1:20880/${IFACE}?interface=${IFACE}`),
      encodeURIComponent(`dubbo://10.0.0.1:20880/${IFACE}?b=2&1=one&interface=${IFACE}&__proto__=x`),
    ];
    for (const n of names) expect(providerUrl(provider(n))).toBe(formatDubboUrl(parseZnodeName(n)));
  });

  it('keeps no slice of the decoded URL in labels', () => {
    const read = provider(JAVA_NAME);
    expect(read.url).toBeUndefined();
    expect(read.instance.labels.timestamp).toBe('1700000000000');
    expect(provider(JAVA_NAME).instance.labels.methods).toBe(read.instance.labels.methods);
  });

  it('hashes names apart', () => {
    const keys = new Set<number>();
    for (let i = 0; i < 10_000; i++) keys.add(nameKey(name(`10.0.${i >> 8}.${i & 255}:20880`, `timestamp=${1700000000000 + i}`)));
    expect(keys.size).toBe(10_000);
    expect(nameKey(JAVA_NAME)).toBe(nameKey(`${JAVA_NAME}`));
    expect(Number.isSafeInteger(nameKey(JAVA_NAME))).toBe(true);
  });
});

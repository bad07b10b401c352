import { AuthzFilter, authzConfigSchema, hostOf, ipv4Number } from './authz';
import { testRequest } from './test-request';

const filter = (rules: unknown[]) => new AuthzFilter(authzConfigSchema.parse({ rules }));

describe('AuthzFilter', () => {
  it('lets deny win, and with an allow list refuses callers not on it, naming the rule', () => {
    const authz = filter([{ name: 'orders-callers', match: { service: 'com.example.Greeter' }, allow: { apps: ['web', 'batch'] }, deny: { addresses: ['10.9.0.0/16'] } }]);
    expect(authz.onRequest(testRequest({ app: 'web' }))).toBeUndefined();
    expect(authz.onRequest(testRequest({ app: 'web', remoteAddress: '10.9.3.4:5000' }))).toMatchObject({ refusal: 'denied', message: expect.stringContaining('denied by orders-callers') });
    expect(authz.onRequest(testRequest({ app: 'mallory' }))).toMatchObject({ message: expect.stringMatching(/"mallory" \(unverified\).*not allowed by orders-callers/) });
    expect(authz.onRequest(testRequest({ service: 'com.example.Other', app: 'mallory' }))).toBeUndefined();
  });

  it('reads the claimed application from a configured header or attachment, and counts denials by rule and identity kind', () => {
    const authz = new AuthzFilter(
      authzConfigSchema.parse({ identity: { header: 'X-App-Name', attachment: 'caller' }, rules: [{ name: 'no-batch', deny: { apps: ['batch'] } }, { name: 'known', allow: { apps: ['web', 'batch'] } }] }),
    );
    const http = (attributes: Record<string, string>) => testRequest({ protocol: 'http', method: 'GET /', attributes });
    expect(authz.onRequest(http({ 'x-app-name': 'web' }))).toBeUndefined();
    expect(authz.onRequest(http({ 'x-app-name': 'batch' }))).toMatchObject({ message: 'application "batch" (unverified) from 127.0.0.1 is denied by no-batch' });
    // The listener's own caller app is not what this config reads.
    expect(authz.onRequest(testRequest({ protocol: 'http', method: 'GET /', app: 'web' }))).toMatchObject({ message: 'a caller naming no application from 127.0.0.1 is not allowed by known' });
    expect(authz.onRequest(testRequest({ attributes: { caller: 'web', application: 'batch' } }))).toBeUndefined();
    expect([...authz.deniedBy]).toEqual([
      ['no-batch|unverified', 1],
      ['known|none', 1],
    ]);
  });

  it('matches address ranges for IPv4, IPv4-mapped IPv6 and IPv6 callers', () => {
    const authz = filter([{ allow: { addresses: ['127.0.0.0/8', '::1'] } }]);
    expect(authz.onRequest(testRequest({ remoteAddress: '127.0.0.1:1234' }))).toBeUndefined();
    expect(authz.onRequest(testRequest({ remoteAddress: '::ffff:127.0.0.9:1234' }))).toBeUndefined();
    expect(authz.onRequest(testRequest({ remoteAddress: '[::1]:1234' }))).toBeUndefined();
    expect(authz.onRequest(testRequest({ remoteAddress: '192.168.1.1:1234' }))).toMatchObject({ refusal: 'denied' });
  });

  it('refuses a config with a bad range, with the path of the bad key', () => {
    expect(() => authzConfigSchema.parse({ rules: [{ deny: { addresses: ['10.0.0.0/33'] } }] })).toThrow(/CIDR/);
    expect(hostOf('[::1]:80')).toBe('::1');
    expect(hostOf('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1');
    expect(hostOf('10.0.0.1:40000')).toBe('10.0.0.1');
    expect(hostOf('::ffff:10.0.0.1:40000')).toBe('::ffff:10.0.0.1');
  });

  it('reads an IPv6 caller on a port of four digits or fewer as its address, so a deny range applies', () => {
    expect(hostOf('::1:8080')).toBe('::1');
    expect(hostOf('fe80::2:443')).toBe('fe80::2');
    const authz = filter([{ name: 'no-local', deny: { addresses: ['::1/128'] } }]);
    expect(authz.onRequest(testRequest({ remoteAddress: '::1:8080' }))).toMatchObject({ refusal: 'denied' });
  });
});

describe('ipv4Number', () => {
  it('reads dotted quads as numbers and refuses anything else', () => {
    expect(ipv4Number('127.0.0.1')).toBe(0x7f000001);
    expect(ipv4Number('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1..2.3', '1.2.3.4:80', '::1', 'a.b.c.d']) expect(ipv4Number(bad)).toBe(-1);
  });

  it('matches IPv4 ranges by their prefix only', () => {
    const authz = filter([{ allow: { addresses: ['10.1.0.0/16', '192.168.7.7'] } }, { deny: { addresses: ['0.0.0.0/0'] }, match: { method: 'drop' } }]);
    expect(authz.onRequest(testRequest({ remoteAddress: '10.1.255.3:1' }))).toBeUndefined();
    expect(authz.onRequest(testRequest({ remoteAddress: '10.2.0.1:1' }))).toMatchObject({ refusal: 'denied' });
    expect(authz.onRequest(testRequest({ remoteAddress: '192.168.7.7:1' }))).toBeUndefined();
    expect(authz.onRequest(testRequest({ remoteAddress: '192.168.7.8:1' }))).toMatchObject({ refusal: 'denied' });
    expect(authz.onRequest(testRequest({ remoteAddress: '10.1.0.1:1', method: 'drop' }))).toMatchObject({ message: expect.stringContaining('from 10.1.0.1 is denied') });
  });
});

import { SelfAddresses } from './self-addresses';

describe('the bridge\'s own addresses', () => {
  const local = { addresses: ['127.0.0.1', '::1', '10.1.2.3', 'fe80::1'], names: ['bridge-host'] };

  it('knows a loopback listener by every loopback spelling of it', () => {
    const self = new SelfAddresses(local);
    self.add('127.0.0.1', 18080);
    for (const host of ['127.0.0.1', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect([host, self.has(host, 18080)]).toEqual([host, true]);
    expect(self.has('127.0.0.1', 18081)).toBe(false);
    expect(self.has('10.1.2.3', 18080)).toBe(false); // a loopback listener is not reachable there
  });

  it('knows a wildcard listener at every address of this machine', () => {
    const self = new SelfAddresses(local);
    self.add('0.0.0.0', 15000);
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '::ffff:127.0.0.2', '10.1.2.3', 'fe80::1', 'bridge-host', 'bridge-host.', '0.0.0.0', '::']) {
      expect([host, self.has(host, 15000)]).toEqual([host, true]);
    }
    expect(self.has('10.1.2.4', 15000)).toBe(false);
    expect(self.has('other-host', 15000)).toBe(false);
  });

  it('knows a listener bound to one address by that address', () => {
    const self = new SelfAddresses(local);
    self.add('10.1.2.3', 20880);
    expect(self.has('10.1.2.3', 20880)).toBe(true);
    expect(self.has('127.0.0.1', 20880)).toBe(false);
  });
});

import { keyPath, sidecarConfigIssues, validateSidecarConfig } from './config';

const minimal = { app: 'orders', inbound: { listen: '127.0.0.1:0', app: '127.0.0.1:8080' } };

describe('sidecar config', () => {
  it('fills defaults: admin on 127.0.0.1:15000, no filters, 30 s timeouts', () => {
    const config = validateSidecarConfig(minimal);
    expect(config.admin.listen).toBe('127.0.0.1:15000');
    expect(config.log.level).toBe('info');
    expect(config.inbound).toEqual({ listen: '127.0.0.1:0', app: '127.0.0.1:8080', timeoutMs: 30_000, filters: [] });
  });

  it('reports every problem with its key path, filter configs included, in one pass', () => {
    const { issues } = sidecarConfigIssues({
      app: 'orders',
      inbound: { listen: '127.0.0.1:99999', app: 'nohost', filters: [{ name: 'rate-limit', config: { rules: [{ perSecond: -1 }] } }, { name: 'nope' }] },
      outbound: { listen: '127.0.0.1:0', services: [{ name: 'inventory', legacy: ['127.0.0.1:0'] }] },
    });
    expect(issues).toEqual([
      'inbound.listen: expected host:port (port 0..65535; 0 picks a free one)',
      'inbound.app: expected host:port with a port 1..65535',
      'outbound.services[0].legacy[0]: expected host:port with a port 1..65535',
      'inbound.filters[0].config.rules[0].perSecond: Too small: expected number to be >0',
      expect.stringMatching(/^inbound\.filters\[1\]\.name: unknown filter "nope"; known: .*rate-limit/),
    ]);
  });

  it('refuses two listeners on one port and a service declared twice', () => {
    const { issues } = sidecarConfigIssues({
      app: 'orders',
      admin: { listen: '127.0.0.1:15001' },
      outbound: { listen: '127.0.0.1:15001', services: [{ name: 'inventory', legacy: ['127.0.0.1:9001'] }, { name: 'Inventory', mesh: ['127.0.0.1:9002'] }] },
    });
    expect(issues).toEqual([
      "outbound.listen: port 15001 is also admin.listen's: each listener needs its own port",
      'outbound.services[1].name: "Inventory" is already declared at outbound.services[0]',
    ]);
  });

  it('needs a stack, and a service needs an instance', () => {
    expect(sidecarConfigIssues({ app: 'orders' }).issues).toEqual(['(top level): configure a stack: inbound, outbound, dubbo.inbound or dubbo.outbound']);
    expect(sidecarConfigIssues({ app: 'orders', outbound: { listen: '127.0.0.1:0', services: [{ name: 'x' }] } }).issues).toEqual([
      'outbound.services[0]: a service needs at least one legacy or mesh instance',
    ]);
  });

  it('throws CONFIG_INVALID naming every problem', () => {
    expect(() => validateSidecarConfig({ app: '', inbound: { listen: 'x', app: '127.0.0.1:1' } }, 'f.yaml')).toThrow(/invalid sidecar configuration in f.yaml:\n {2}app: .*\n {2}inbound.listen: /);
  });

  it('checks the Dubbo stacks as the HTTP ones: key paths under dubbo., case-sensitive interface names', () => {
    const { issues } = sidecarConfigIssues({
      app: 'orders',
      dubbo: {
        inbound: { listen: '127.0.0.1:20881', app: '127.0.0.1:20880', filters: [{ name: 'isolation', config: { rules: [{ maxConcurrent: 0 }] } }] },
        outbound: {
          listen: '127.0.0.1:20881',
          services: [
            { name: 'com.example.Greeter', legacy: ['127.0.0.1:20880'] },
            { name: 'com.example.greeter', legacy: ['127.0.0.1:20880'] },
            { name: 'com.example.Greeter', mesh: ['127.0.0.1:20890'], retries: 9 },
          ],
        },
      },
    });
    expect(issues).toEqual([
      'dubbo.outbound.services[2].retries: Too big: expected number to be <=5',
      'dubbo.inbound.filters[0].config.rules[0].maxConcurrent: Too small: expected number to be >0',
    ]);
    const fixed = sidecarConfigIssues({
      app: 'orders',
      dubbo: {
        inbound: { listen: '127.0.0.1:20881', app: '127.0.0.1:20880' },
        outbound: { listen: '127.0.0.1:20881', services: [{ name: 'com.example.Greeter', legacy: ['127.0.0.1:20880'] }, { name: 'com.example.Greeter', mesh: ['127.0.0.1:20890'] }] },
      },
    });
    expect(fixed.issues).toEqual([
      "dubbo.outbound.listen: port 20881 is also dubbo.inbound.listen's: each listener needs its own port",
      'dubbo.outbound.services[1].name: "com.example.Greeter" is already declared at dubbo.outbound.services[0]',
    ]);
  });

  it('prints key paths with indexes in brackets', () => {
    expect(keyPath(['outbound', 'services', 0, 'legacy', 1])).toBe('outbound.services[0].legacy[1]');
    expect(keyPath([])).toBe('(top level)');
  });
  it('checks route rules and instance labels with their key paths', () => {
    const { issues } = sidecarConfigIssues({
      app: 'orders',
      outbound: {
        listen: '127.0.0.1:0',
        services: [{ name: 'catalog', legacy: [{ address: '127.0.0.1:9001', labels: { track: 7 } }], routes: [{ match: { pathPrefix: 'v2' }, subset: { track: 'canary' } }] }],
      },
      dubbo: {
        outbound: {
          listen: '127.0.0.1:0',
          services: [
            {
              name: 'com.example.Greeter',
              legacy: ['127.0.0.1:20880'],
              routes: [
                { name: 'a', match: { method: 'sayHello' }, subset: { v: 1 }, timeoutMs: -1 },
                { name: 'a', match: { headers: { x: '1' } }, subset: { v: '2' } },
              ],
              tagFallback: 'no',
            },
          ],
        },
      },
    });
    expect(issues).toEqual([
      'outbound.services[0].legacy[0]: Invalid input',
      'outbound.services[0].routes[0].match.pathPrefix: Invalid string: must start with "/"',
      'dubbo.outbound.services[0].routes[0].subset.v: Invalid input: expected string, received number',
      'dubbo.outbound.services[0].routes[0].timeoutMs: Too small: expected number to be >0',
      'dubbo.outbound.services[0].routes[1].match: Unrecognized key: "headers"',
      'dubbo.outbound.services[0].tagFallback: Invalid input: expected boolean, received string',
    ]);
    const valid = sidecarConfigIssues({
      app: 'orders',
      dubbo: { outbound: { listen: '127.0.0.1:0', services: [{ name: 'G', legacy: ['127.0.0.1:1'], routes: [{ name: 'a', subset: { v: '1' } }, { name: 'a', subset: { v: '2' } }] }] } },
    });
    expect(valid.issues).toEqual(['dubbo.outbound.services[0].routes[1].name: "a" is already the name of routes[0]: metrics tell rules apart by name']);
  });
  it('checks outlier detection, caps and per-method settings with their key paths', () => {
    const { issues } = sidecarConfigIssues({
      app: 'orders',
      dubbo: {
        outbound: {
          listen: '127.0.0.1:0',
          outlierDetection: { baseEjectionMs: 60_000, maxEjectionMs: 1000, maxEjectedPercent: 120 },
          services: [{ name: 'G', legacy: ['127.0.0.1:1'], methods: { read: { timeoutMs: 0 } }, caps: { maxRequests: 0, retryBudget: { budgetPercent: 150 } } }],
        },
      },
    });
    expect(issues).toEqual([
      'dubbo.outbound.outlierDetection.maxEjectedPercent: Too big: expected number to be <=100',
      'dubbo.outbound.outlierDetection.baseEjectionMs: baseEjectionMs must not exceed maxEjectionMs',
      'dubbo.outbound.services[0].methods.read.timeoutMs: Too small: expected number to be >0',
      'dubbo.outbound.services[0].caps.maxRequests: Too small: expected number to be >0',
      'dubbo.outbound.services[0].caps.retryBudget.budgetPercent: Too big: expected number to be <=100',
    ]);
    const defaults = validateSidecarConfig({ app: 'o', dubbo: { outbound: { listen: '127.0.0.1:0', services: [{ name: 'G', legacy: ['127.0.0.1:1'] }] } } });
    expect(defaults.dubbo?.outbound?.outlierDetection).toMatchObject({ consecutiveGatewayFailures: 5, baseEjectionMs: 30_000, maxEjectedPercent: 10 });
    expect(defaults.dubbo?.outbound?.services[0]).toMatchObject({ retries: 1, caps: { retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } } });
    expect(sidecarConfigIssues({ app: 'o', outbound: { listen: '127.0.0.1:0', outlierDetection: { baseEjectionMs: 9000, maxEjectionMs: 10 }, services: [{ name: 'a', legacy: ['127.0.0.1:1'] }] } }).issues).toEqual([
      'outbound.outlierDetection.baseEjectionMs: baseEjectionMs must not exceed maxEjectionMs',
    ]);
  });
});

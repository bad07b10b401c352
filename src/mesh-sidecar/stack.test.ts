import { testRequest } from '../proxy/filters/test-request';
import { Registry } from '../telemetry/metrics';
import { silentLogger } from '../telemetry/logger';
import { TrafficStats } from '../bridge/stats/traffic-stats';
import { SidecarConfig, validateSidecarConfig } from './config';
import { FilterChain } from '../proxy/filters';
import { ProxyStack, StackPlan, changesOf, stackPlan } from './stack';

const config = validateSidecarConfig({
  app: 'orders',
  inbound: { listen: '127.0.0.1:15006', app: '127.0.0.1:8080', timeoutMs: 2000 },
  outbound: {
    listen: '127.0.0.1:15001',
    services: [
      { name: 'inventory', meshWeight: 25, stickyHeader: 'X-User', legacy: ['127.0.0.1:9001'], mesh: [{ address: '127.0.0.1:9101', weight: 50 }] },
      { name: 'plain', legacy: ['127.0.0.1:9002'] },
    ],
  },
  dubbo: {
    outbound: {
      listen: '127.0.0.1:20882',
      services: [{ name: 'com.example.Inventory', idempotentMethods: ['query'], retries: 2, stickyAttachment: 'user', legacy: ['127.0.0.1:20890'] }],
    },
  },
});

describe('stack plans', () => {
  it('turns the config into catalog instances, weights and policies per stack', () => {
    const http = stackPlan(config, 'outbound');
    expect(http?.instances.get('inventory')?.map((i) => [i.id, i.protocol, i.stack, i.weight])).toEqual([
      ['legacy/127.0.0.1:9001', 'http', 'legacy', 100],
      ['mesh/127.0.0.1:9101', 'http', 'mesh', 50],
    ]);
    expect(http?.weights.get('inventory')).toBe(25);
    expect(http?.policies.get('inventory')).toMatchObject({ timeoutMs: 30_000, stickyHeader: 'x-user', retries: 0 });
    // A service without a sticky header is still an HTTP service (it once got Dubbo's fields, retries unset).
    expect(http?.policies.get('plain')).toEqual({ timeoutMs: 30_000, idempotentMethods: new Set(), retries: 0 });
    const dubbo = stackPlan(config, 'dubbo.outbound');
    expect(dubbo?.protocol).toBe('dubbo');
    expect(dubbo?.policies.get('com.example.Inventory')).toMatchObject({ stickyAttachment: 'user', idempotentMethods: new Set(['query']), retries: 2 });
    expect(stackPlan(config, 'dubbo.inbound')).toBeUndefined();
  });

  it('sends the inbound stack to the app, with its timeout for every name', () => {
    const inbound = stackPlan(config, 'inbound');
    expect(inbound?.instances.get('orders')?.map((i) => `${i.host}:${i.port}`)).toEqual(['127.0.0.1:8080']);
    expect(inbound?.defaultPolicy.timeoutMs).toBe(2000);
  });

  it('names what a reload changes', () => {
    const next = validateSidecarConfig({
      ...config,
      outbound: { ...config.outbound, filters: [{ name: 'access-log' }], services: [{ name: 'pricing', legacy: ['127.0.0.1:9201'] }] },
    });
    expect(changesOf('outbound', config, next)).toEqual([
      'outbound.filters: replaced (1 filters; their counters, buckets and breakers start fresh)',
      'outbound services added: pricing',
      'outbound services removed: inventory, plain',
    ]);
    expect(changesOf('dubbo.outbound', config, next)).toEqual([]);
  });

  it('applies new label routes and caps on a reload, in place', () => {
    const withRules = (rules: unknown[], maxRequests?: number): SidecarConfig =>
      validateSidecarConfig({
        app: 'orders',
        dubbo: {
          outbound: {
            listen: '127.0.0.1:0',
            services: [
              {
                name: 'G',
                legacy: [{ address: '127.0.0.1:20890', labels: { track: 'canary' } }, '127.0.0.1:20891'],
                routes: rules,
                caps: { maxRequests },
              },
            ],
          },
        },
      });
    const metrics = new Registry();
    const deps = { app: 'orders', stats: { http: new TrafficStats(metrics, 'http'), dubbo: new TrafficStats(metrics, 'dubbo') }, metrics, logger: silentLogger() };
    const strict = stackPlan(withRules([{ match: { method: 'm' }, subset: { track: 'canary' }, fallback: false }], 1), 'dubbo.outbound') as StackPlan;
    const stack = new ProxyStack('dubbo.outbound', strict, new FilterChain([]), deps);
    const pick = () => stack.routes.choose('G', '', '', 'm', undefined, Math.random, undefined, testRequest({ service: 'G', method: 'm' }))?.candidate.address;
    for (let i = 0; i < 10; i++) expect(pick()).toBe('127.0.0.1:20890');
    expect(stack.caps.snapshot()[0].maxRequests).toBe(1);
    stack.applyRoutes(stackPlan(withRules([]), 'dubbo.outbound') as StackPlan);
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 50; i++) seen.add(pick());
    expect(seen).toEqual(new Set(['127.0.0.1:20890', '127.0.0.1:20891']));
    expect(stack.caps.snapshot()[0].maxRequests).toBeUndefined();
    stack.close();
  });
});

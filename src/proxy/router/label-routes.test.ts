import { Catalog, Instance, instanceDefaults } from '../../catalog';
import { testRequest } from '../filters/test-request';
import { ServiceLabelRoutes } from './label-routes';
import { ServiceRoutes } from './service-routes';
import { StackWeights } from './stack-weights';

const SERVICE = 'com.example.Orders';

function instance(port: number, labels: Record<string, string> = {}, protocol: 'dubbo' | 'http' = 'dubbo'): Instance {
  return { ...instanceDefaults(), id: `${port}`, service: SERVICE, protocol, host: '10.0.0.1', port, stack: 'legacy', labels, origin: { source: 'test' } };
}

function routesOver(instances: Instance[], config: ConstructorParameters<typeof ServiceLabelRoutes>[1], protocol: 'dubbo' | 'http' = 'dubbo') {
  const catalog = new Catalog();
  catalog.replaceSource('test', SERVICE, instances);
  const routes = new ServiceRoutes(catalog, new StackWeights(), () => 0, protocol);
  const counts: Record<string, number> = {};
  const count = (what: string) => ({ inc: ({ rule }: { rule: string }) => void (counts[`${what}:${rule}`] = (counts[`${what}:${rule}`] ?? 0) + 1) });
  routes.setLabelRoutes(new Map([[SERVICE, new ServiceLabelRoutes(SERVICE, config, protocol)]]), { routed: count('routed'), fallbacks: count('fallback') });
  const pick = (attributes: Record<string, string> = {}, method = 'sayHello'): number | null => {
    const choice = routes.choose(SERVICE, '', '', method, undefined, Math.random, undefined, testRequest({ service: SERVICE, method, attributes, protocol }));
    return choice === null ? null : choice.candidate.instance.port;
  };
  return { routes, pick, counts };
}

describe('label routing', () => {
  const gray = instance(1, { tag: 'gray' });
  const plain = instance(2);

  it('sends a tagged request to the instances with its tag, untagged ones only to untagged instances', () => {
    const { pick, counts } = routesOver([gray, plain], { rules: [], tagFallback: true });
    for (let i = 0; i < 20; i++) {
      expect(pick({ 'dubbo.tag': 'gray' })).toBe(1);
      expect(pick()).toBe(2);
    }
    expect(counts['routed:dubbo.tag']).toBe(40);
  });

  it('falls back to untagged instances when no instance has the tag, unless dubbo.force.tag or the config says not to', () => {
    const { pick, counts, routes } = routesOver([gray, plain], { rules: [], tagFallback: true });
    expect(pick({ 'dubbo.tag': 'blue' })).toBe(2);
    expect(counts['fallback:dubbo.tag']).toBe(1);
    expect(pick({ 'dubbo.tag': 'blue', 'dubbo.force.tag': 'true' })).toBeNull();
    expect(routes.missDetail(SERVICE, testRequest({ service: SERVICE, attributes: { 'dubbo.tag': 'blue', 'dubbo.force.tag': 'true' } }))).toContain('tag=blue (rule dubbo.tag; dubbo.force.tag=true: no fallback');
    const strict = routesOver([gray, plain], { rules: [], tagFallback: false });
    expect(strict.pick({ 'dubbo.tag': 'blue' })).toBeNull();
    expect(strict.pick({ 'dubbo.tag': 'gray' })).toBe(1);
  });

  it('leaves every instance to untagged requests when no instance is tagged', () => {
    const { pick } = routesOver([instance(3, { zone: 'a' }), instance(4)], { rules: [], tagFallback: true });
    const seen = new Set<number | null>();
    for (let i = 0; i < 50; i++) seen.add(pick({ 'dubbo.tag': 'gray' }));
    expect(seen).toEqual(new Set([3, 4]));
  });

  it('routes a method to its subset, falling back to the rest only when the rule allows', () => {
    const v2 = instance(5, { version: 'v2' });
    const v1 = instance(6, { version: 'v1' });
    const rules = [{ name: 'hello-v2', match: { method: 'sayHello' }, subset: { version: 'v2' }, fallback: true }];
    const { pick, counts } = routesOver([v2, v1], { rules, tagFallback: true });
    for (let i = 0; i < 10; i++) expect(pick({}, 'sayHello')).toBe(5);
    expect(counts['routed:hello-v2']).toBe(10);
    const seen = new Set<number | null>();
    for (let i = 0; i < 50; i++) seen.add(pick({}, 'sayBye'));
    expect(seen).toEqual(new Set([5, 6]));
    const without = routesOver([v1], { rules, tagFallback: true });
    expect(without.pick({}, 'sayHello')).toBe(6);
    expect(without.counts['fallback:hello-v2']).toBe(1);
    const strict = routesOver([v1], { rules: [{ ...rules[0], fallback: false }], tagFallback: true });
    expect(strict.pick({}, 'sayHello')).toBeNull();
    expect(strict.routes.missDetail(SERVICE, testRequest({ service: SERVICE }))).toBe(' with labels version=v2 (rule hello-v2; rule hello-v2 has fallback off)');
  });

  it('matches HTTP rules on method, path prefix and headers', () => {
    const canary = instance(7, { track: 'canary' }, 'http');
    const stable = instance(8, { track: 'stable' }, 'http');
    const rules = [
      { name: 'canary-header', match: { attributes: { 'x-canary': '1' } }, subset: { track: 'canary' }, fallback: false },
      { name: 'v2-posts', match: { method: 'POST', pathPrefix: '/v2/' }, subset: { track: 'canary' }, fallback: false },
      { name: 'rest', match: {}, subset: { track: 'stable' }, fallback: false },
    ];
    const { pick } = routesOver([canary, stable], { rules, tagFallback: true }, 'http');
    expect(pick({ 'x-canary': '1' }, 'GET /orders')).toBe(7);
    expect(pick({}, 'POST /v2/orders')).toBe(7);
    expect(pick({}, 'GET /v2/orders')).toBe(8);
    expect(pick({ 'x-canary': '0' }, 'POST /v1/orders')).toBe(8);
  });
});

import { parseAllDocuments } from 'yaml';
import { parseDubboUrl } from '../../dubbo-codec/dubbo-url';
import { ExportInstance, dubboOverrides, istioYaml, resourceName, stackWeights } from './exports';

const PAY = 'com.example.PayService';

function instance(stack: 'legacy' | 'mesh', port: number, weight = 100): ExportInstance {
  return { host: '10.0.0.1', port, stack, weight, group: '', version: '1.0.0' };
}

describe('weights as Istio resources', () => {
  it('writes a DestinationRule with legacy/mesh subsets and a VirtualService splitting by the weight', () => {
    const text = istioYaml([{ service: PAY, mesh: 25 }, { service: PAY, method: 'refund', mesh: 100 }], { namespace: 'payments', label: 'stack', hostSuffix: '.payments.svc.cluster.local' });
    const docs = parseAllDocuments(text).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(['DestinationRule', 'VirtualService']);
    const [rule, service] = docs;
    expect(rule.metadata).toMatchObject({ name: 'com.example.payservice', namespace: 'payments' });
    expect(rule.spec.subsets).toEqual([
      { name: 'legacy', labels: { stack: 'legacy' } },
      { name: 'mesh', labels: { stack: 'mesh' } },
    ]);
    const host = `${PAY}.payments.svc.cluster.local`;
    const route = [
      { destination: { host, subset: 'legacy' }, weight: 75 },
      { destination: { host, subset: 'mesh' }, weight: 25 },
    ];
    expect(service.spec).toEqual({ hosts: [host], http: [{ route }], tcp: [{ route }] });
    // Istio cannot route by Dubbo method: said, not silently dropped.
    expect(text).toContain('# com.example.PayService method refund: 100 % mesh');
  });

  it('rounds to whole percentages that add up to 100 and names resources as Kubernetes allows', () => {
    const [, vs] = parseAllDocuments(istioYaml([{ service: 'A_b', mesh: 33.6 }], { namespace: 'x', label: 'l', hostSuffix: '' })).map((d) => d.toJS());
    expect(vs.spec.http[0].route.map((r: { weight: number }) => r.weight)).toEqual([66, 34]);
    expect(resourceName('-Orders_App-')).toBe('orders-app');
  });
});

describe('weights as Dubbo override configurators', () => {
  it('weights each provider endpoint so the stacks split as the mesh weight says', () => {
    // Two legacy instances, one mesh: 25 % mesh means mesh total : legacy total = 1 : 3.
    const weights = stackWeights([instance('legacy', 1), instance('legacy', 2), instance('mesh', 3)], 25);
    expect(weights[2] / (weights[0] + weights[1] + weights[2])).toBeCloseTo(0.25, 10);
    expect(weights.every(Number.isInteger)).toBe(true);
    expect(stackWeights([instance('legacy', 1), instance('mesh', 2)], 0)).toEqual([1, 0]);
    expect(stackWeights([instance('legacy', 1), instance('mesh', 2)], 100)).toEqual([0, 1]);
    // An instance's own weight within its stack is kept.
    const uneven = stackWeights([instance('legacy', 1, 300), instance('legacy', 2, 100), instance('mesh', 3)], 50);
    expect(uneven[0]).toBe(3 * uneven[1]);
  });

  it('writes override URLs of the form Dubbo documents, with per-method weights as <method>.weight', () => {
    const endpoints = new Map([[PAY, [instance('legacy', 20880), instance('mesh', 20881)]]]);
    const urls = dubboOverrides([{ service: PAY, mesh: 25 }, { service: PAY, method: 'refund', mesh: 100 }], endpoints, { application: 'shop' });
    expect(urls).toHaveLength(2);
    const legacy = parseDubboUrl(urls[0]);
    expect(legacy).toMatchObject({ protocol: 'override', host: '10.0.0.1', port: 20880, path: PAY });
    expect(Object.fromEntries(legacy.params)).toEqual({ category: 'configurators', dynamic: 'false', enabled: 'true', application: 'shop', version: '1.0.0', weight: '3', 'refund.weight': '0' });
    expect(Object.fromEntries(parseDubboUrl(urls[1]).params)).toMatchObject({ weight: '1', 'refund.weight': '1' });
  });

  it('says so when the bridge knows no endpoint of a weighted service', () => {
    expect(dubboOverrides([{ service: PAY, mesh: 5 }], new Map())).toEqual([`# ${PAY}: no provider endpoints known to the bridge: nothing to weight`]);
  });
});

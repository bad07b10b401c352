import { sidecarConfigIssues } from '../../mesh-sidecar/config';
import { Registry, metricValue } from '../../telemetry/metrics';
import { shadowConfigSchema, shadowIssues } from './mirror-config';
import { MirrorRule } from './mirror-policy';
import { Shadow } from './shadow';

const config = (raw: unknown) => shadowConfigSchema.parse(raw);

describe('Shadow admission', () => {
  it('copies only idempotent Dubbo methods and HTTP GET/HEAD unless writes are allowed, and counts the writes it left alone', () => {
    const shadow = new Shadow(new Registry(), config({ dubbo: [{ service: 'S' }], http: [{ service: 'web' }, { service: 'api', mirrorWrites: true }] }), () => new Set(['get']));
    expect(shadow.admit('dubbo', 'S', 'get', 0.5)).toBeInstanceOf(MirrorRule);
    expect(shadow.admit('dubbo', 'S', 'save', 0.5)).toBeUndefined();
    expect(shadow.admit('dubbo', 'Other', 'get', 0.5)).toBeUndefined();
    expect(shadow.admit('http', 'WEB', 'GET', 0.5)).toBeInstanceOf(MirrorRule);
    expect(shadow.admit('http', 'WEB', 'POST', 0.5)).toBeUndefined(); // counted under the rule's spelling
    expect(shadow.admit('http', 'api', 'POST', 0.5)).toBeInstanceOf(MirrorRule);
    const methods = shadow.report.toJSON().methods as Array<Record<string, unknown>>;
    expect(methods).toEqual(expect.arrayContaining([expect.objectContaining({ service: 'S', method: 'save', writesNotMirrored: 1 }), expect.objectContaining({ service: 'web', method: 'POST', writesNotMirrored: 1 })]));
  });

  it('copies the configured share per method', () => {
    const shadow = new Shadow(new Registry(), config({ maxInFlight: 10_000, maxRequestBytes: 1024, maxResponseBytes: 1024, dubbo: [{ service: 'S', percent: 10, methods: { hot: 0, all: 100 } }] }), () => new Set(['get', 'hot', 'all']));
    let copied = 0;
    for (let i = 0; i < 1000; i++) if (shadow.admit('dubbo', 'S', 'get', i / 1000) !== undefined) copied++;
    expect(copied).toBe(100);
    expect(shadow.admit('dubbo', 'S', 'hot', 0)).toBeUndefined();
    expect(shadow.admit('dubbo', 'S', 'all', 0.999)).toBeDefined();
  });

  it('drops copies past the in-flight cap, counted, and takes them again once slots are released', async () => {
    const metrics = new Registry();
    const shadow = new Shadow(metrics, config({ maxInFlight: 2, http: [{ service: 'web' }] }));
    expect(shadow.admit('http', 'web', 'GET', 0)).toBeDefined();
    expect(shadow.admit('http', 'web', 'GET', 0)).toBeDefined();
    expect(shadow.admit('http', 'web', 'GET', 0)).toBeUndefined();
    expect(await metricValue(metrics, 'mesh_bridge_shadow_calls_total', { result: 'dropped' })).toBe(1);
    expect(await metricValue(metrics, 'mesh_bridge_shadow_in_flight')).toBe(2);
    shadow.release();
    expect(shadow.admit('http', 'web', 'GET', 0)).toBeDefined();
  });
});

describe('ShadowReport', () => {
  it('keeps a bounded number of service+method keys and samples, cut short', () => {
    const shadow = new Shadow(new Registry(), config({ maxMethods: 2, samples: 2, sampleChars: 16 }));
    const report = shadow.report;
    for (const method of ['a', 'b', 'c', 'd']) report.count('dubbo', 'S', method, 'matched');
    for (let i = 0; i < 5; i++) report.mismatch('dubbo', 'S', 'a', { path: ['price'], primary: 'x'.repeat(100), shadow: i }, 0);
    const methods = report.toJSON().methods as Array<{ method: string; matched: number; mismatched: number; mismatchRate: number; samples: Array<{ path: string; primary: string; shadow: string }> }>;
    expect(methods.map((m) => m.method)).toEqual(['(other)', 'a', 'b']);
    expect(methods.find((m) => m.method === '(other)')?.matched).toBe(2);
    const a = methods.find((m) => m.method === 'a');
    expect(a).toMatchObject({ matched: 1, mismatched: 5, mismatchRate: 0.8333 });
    expect(a?.samples).toHaveLength(2);
    expect(a?.samples[1]).toMatchObject({ path: '$.price', shadow: '4' });
    expect(a?.samples[1].primary).toMatch(/^"x{15}… \(102 chars\)$/);
  });
});

describe('shadow config', () => {
  it('refuses bounds that are each allowed but together would hold gigabytes, naming the key', () => {
    for (const [raw, path] of [
      [{ maxInFlight: 10_000, maxRequestBytes: 64 * 1024 * 1024 }, 'maxInFlight'],
      [{ maxMethods: 100_000, samples: 50, sampleChars: 8192 }, 'maxMethods'],
    ] as const) {
      const tooMuch = shadowConfigSchema.safeParse(raw);
      expect(tooMuch.success).toBe(false);
      expect(tooMuch.error?.issues[0].path).toEqual([path]);
    }
  });

  it('refuses a bad JSON path and a rule for a service the stack does not declare', () => {
    const bad = shadowConfigSchema.safeParse({ http: [{ service: 'web', ignore: { paths: ['timestamp'] } }] });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('starts with $');
    expect(shadowIssues(config({ dubbo: [{ service: 'A' }, { service: 'A' }], http: [{ service: 'Web' }] }), ['A'], ['web'])).toEqual([
      'shadow.dubbo[1].service: "A" already has a rule at shadow.dubbo[0]',
    ]);
    expect(shadowIssues(config({ dubbo: [{ service: 'B' }] }), ['A'], [])).toEqual(['shadow.dubbo[0].service: "B" is not a service of dubbo.outbound.services']);
  });
});

describe('the sidecar config with a shadow section', () => {
  it('reports shadow problems with their key paths, among the others', () => {
    const { issues } = sidecarConfigIssues({
      app: 'a',
      outbound: { listen: '127.0.0.1:0', services: [{ name: 'users', legacy: ['127.0.0.1:1'] }] },
      shadow: { maxInFlight: 0, http: [{ service: 'orders' }] },
    });
    expect(issues).toEqual([expect.stringMatching(/^shadow\.maxInFlight: /)]);
    const second = sidecarConfigIssues({
      app: 'a',
      outbound: { listen: '127.0.0.1:0', services: [{ name: 'users', legacy: ['127.0.0.1:1'] }] },
      shadow: { http: [{ service: 'orders' }, { service: 'USERS', ignore: { headers: ['X-Served-By'] } }] },
    });
    expect(second.issues).toEqual(['shadow.http[0].service: "orders" is not a service of outbound.services']);
    const valid = sidecarConfigIssues({ app: 'a', outbound: { listen: '127.0.0.1:0', services: [{ name: 'users', legacy: ['127.0.0.1:1'] }] }, shadow: { http: [{ service: 'USERS' }] } });
    expect(valid.issues).toEqual([]);
    expect(valid.config?.shadow).toMatchObject({ maxInFlight: 64, timeoutMs: 5000, http: [{ service: 'USERS', percent: 100, mirrorWrites: false, ignore: { paths: [], headers: [] } }] });
  });
});

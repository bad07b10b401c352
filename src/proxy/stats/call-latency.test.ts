import { Registry } from 'prom-client';
import { CALL_LATENCY_METRIC, CallLatency, registerCallLatency } from './call-latency';

describe('call latency histograms', () => {
  it('exposes one Prometheus histogram per service, stack, method and outcome', async () => {
    const registry = new Registry();
    const dubbo = new CallLatency('dubbo');
    const http = new CallLatency('http');
    registerCallLatency(registry, dubbo);
    registerCallLatency(registry, http);
    dubbo.record('com.example.Greeter', 'mesh', 'sayHello', 700, 'ok');
    dubbo.record('com.example.Greeter', 'mesh', 'sayHello', 2_000_000, 'application_exception');
    http.record('ORDERS', 'legacy', 'GET', 40_000, 'ok');
    const text = await registry.metrics();
    expect(text).toContain(`# TYPE ${CALL_LATENCY_METRIC} histogram`);
    const line = (labels: string) => text.split('\n').find((l) => l.startsWith(`${CALL_LATENCY_METRIC}_bucket{${labels}`));
    const ok = 'protocol="dubbo",service="com.example.Greeter",stack="mesh",method="sayHello",outcome="ok"';
    expect(line(`${ok},le="0.0005"}`)).toMatch(/ 0$/);
    expect(line(`${ok},le="0.001"}`)).toMatch(/ 1$/);
    expect(line(`${ok},le="+Inf"}`)).toMatch(/ 1$/);
    const exc = 'protocol="dubbo",service="com.example.Greeter",stack="mesh",method="sayHello",outcome="application_exception"';
    expect(line(`${exc},le="1"}`)).toMatch(/ 0$/);
    expect(line(`${exc},le="2.5"}`)).toMatch(/ 1$/);
    expect(text).toContain(`${CALL_LATENCY_METRIC}_count{protocol="http",service="ORDERS",stack="legacy",method="GET",outcome="ok"} 1`);
  });

  it('folds caller-chosen names past the caps into other, so series stay bounded', async () => {
    const latency = new CallLatency('dubbo', { maxServices: 2, maxMethodsPerService: 3 });
    for (let s = 0; s < 50; s++) for (let m = 0; m < 50; m++) latency.record(`svc${s}`, 'legacy', `m${m}`, 100, 'ok');
    const rows = [...latency.rows()];
    expect(new Set(rows.map((r) => r.service))).toEqual(new Set(['svc0', 'svc1', 'other']));
    expect(rows.length).toBeLessThanOrEqual(3 * 4);
    expect(rows.reduce((n, r) => n + r.row.counts[0], 0)).toBe(2500);
  });
});

import { Registry, metricValue } from '../../telemetry/metrics';
import { BoundedLabels } from '../../telemetry/bounded-labels';
import { TrafficStats } from './traffic-stats';

describe('traffic stats', () => {
  it('summarises per service and stack, and hands Prometheus the totals of every listener at scrape time', async () => {
    const registry = new Registry();
    const dubbo = new TrafficStats(registry, 'dubbo');
    const http = new TrafficStats(registry, 'http');
    for (let i = 0; i < 10; i++) dubbo.record('a.B', 'mesh', 1000, 500, i < 2);
    http.record('APP', 'legacy', 1000, 2000, false);
    expect(dubbo.summaries(1500)).toEqual([expect.objectContaining({ service: 'a.B', stack: 'mesh', requests: 10, errors: 2 })]);
    expect(await metricValue(registry, 'mesh_bridge_requests_total', { protocol: 'dubbo', outcome: 'error' })).toBe(2);
    expect(await metricValue(registry, 'mesh_bridge_requests_total', { protocol: 'dubbo', outcome: 'ok' })).toBe(8);
    expect(await metricValue(registry, 'mesh_bridge_requests_total', { protocol: 'http', service: 'APP' })).toBe(1);
    // Scraping twice does not double count.
    expect(await metricValue(registry, 'mesh_bridge_requests_total')).toBe(11);
    expect(await registry.metrics()).toContain('mesh_bridge_request_seconds_total{protocol="dubbo",service="a.B",stack="mesh"} 0.005');
  });
});

describe('TrafficStats bounds', () => {
  it('keeps at most 2,000 services per stack apart and folds the rest into other', () => {
    const stats = new TrafficStats(new Registry(), 'dubbo');
    for (let i = 0; i < 5000; i++) stats.record(`invented.Service${i}`, 'legacy', 0, 100, false);
    const summaries = stats.summaries(0);
    expect(summaries.length).toBe(2001);
    expect(summaries.find((s) => s.service === 'other')?.requests).toBe(3000);
  });
});

describe('TrafficStats.recordCall', () => {
  const rows = (stats: TrafficStats): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const { service, stack, method, row } of stats.latency.rows()) out[`${service}|${stack}|${method}`] = row.counts.reduce((a, b) => a + b, 0);
    return out;
  };

  it('counts calls of alternating names where each belongs, however the calls are interleaved', () => {
    const stats = new TrafficStats(new Registry(), 'dubbo');
    const calls: Array<[string, 'legacy' | 'mesh', string]> = [
      ['a.A', 'legacy', 'get'],
      ['a.A', 'legacy', 'get'],
      ['a.A', 'mesh', 'get'],
      ['a.A', 'legacy', 'put'],
      ['b.B', 'legacy', 'get'],
      ['a.A', 'legacy', 'get'],
    ];
    for (const [service, stack, method] of calls) stats.recordCall(service, stack, method, 1000, 100, 'ok');
    stats.recordCall('c.C', 'mesh', 'gone', 1000, 100, 'caller_gone');
    expect(rows(stats)).toEqual({ 'a.A|legacy|get': 3, 'a.A|mesh|get': 1, 'a.A|legacy|put': 1, 'b.B|legacy|get': 1, 'c.C|mesh|gone': 1 });
    // A caller that went away is in the histogram, not in the window that gates read.
    expect(stats.summaries(1500).map((s) => `${s.service}|${s.stack}|${s.requests}`)).toEqual(['a.A|legacy|4', 'a.A|mesh|1', 'b.B|legacy|1']);
  });

  it('counts a service under other while it is unknown and under its own name once it is known', () => {
    const known = new Set<string>();
    const stats = new TrafficStats(new Registry(), 'dubbo', 60_000, new BoundedLabels((s) => known.has(s)));
    for (let i = 0; i < 3; i++) stats.recordCall('late.Service', 'legacy', 'get', 1000, 100, 'ok');
    known.add('late.Service');
    for (let i = 0; i < 2; i++) stats.recordCall('late.Service', 'legacy', 'get', 1000, 100, 'ok');
    expect(rows(stats)).toEqual({ 'other|legacy|get': 3, 'late.Service|legacy|get': 2 });
  });
});

import { Registry, metricValue } from '../../telemetry/metrics';
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

import { Registry } from 'prom-client';
import { CallLatency, registerCallLatency } from '../../proxy/stats/call-latency';
import { judgeService, DEFAULT_GATE } from '../judge';
import { diffSnapshots, parseCallHistograms, serviceWindow, sumSnapshots } from './call-histograms';

const SVC = 'com.example.PayService';

/** A replica's /metrics text, made by the bridges' own histogram code. */
function replica(): { dubbo: CallLatency; http: CallLatency; text: () => Promise<string> } {
  const registry = new Registry();
  const dubbo = new CallLatency('dubbo');
  const http = new CallLatency('http');
  registerCallLatency(registry, dubbo);
  registerCallLatency(registry, http);
  return { dubbo, http, text: () => registry.metrics() };
}

describe('call histograms from /metrics', () => {
  it('reads every series, adding up the protocols of one service', async () => {
    const r = replica();
    r.dubbo.record(SVC, 'mesh', 'pay', 700, 'ok');
    r.http.record(SVC, 'mesh', 'pay', 3000, 'ok');
    r.dubbo.record(SVC, 'legacy', 'pay', 2_000_000, 'application_exception');
    const snapshot = parseCallHistograms(await r.text());
    expect(snapshot.size).toBe(2);
    const ok = [...snapshot.values()].find((s) => s.stack === 'mesh')!;
    expect(ok.le[ok.le.length - 1]).toBe(Infinity);
    expect(ok.cumulative[ok.cumulative.length - 1]).toBe(2);
    expect(ok.cumulative[ok.le.indexOf(0.001)]).toBe(1);
  });

  it('diffs two scrapes and counts a restarted replica whole', async () => {
    const r = replica();
    for (let i = 0; i < 10; i++) r.dubbo.record(SVC, 'legacy', 'pay', 1000, 'ok');
    const before = parseCallHistograms(await r.text());
    for (let i = 0; i < 5; i++) r.dubbo.record(SVC, 'legacy', 'pay', 1000, 'ok');
    r.dubbo.record(SVC, 'mesh', 'pay', 1000, 'reset');
    const diff = diffSnapshots(before, parseCallHistograms(await r.text()));
    const counts = [...diff.values()].map((s) => `${s.stack}/${s.outcome}=${s.cumulative[s.cumulative.length - 1]}`).sort();
    expect(counts).toEqual(['legacy/ok=5', 'mesh/reset=1']);

    const restarted = replica();
    restarted.dubbo.record(SVC, 'legacy', 'pay', 1000, 'ok');
    const afterRestart = diffSnapshots(before, parseCallHistograms(await restarted.text()));
    expect([...afterRestart.values()][0].cumulative.at(-1)).toBe(1);
  });

  it('sums replicas and cuts a service window the judge accepts, per method or for one method', async () => {
    const a = replica();
    const b = replica();
    for (const r of [a, b]) {
      for (let i = 0; i < 300; i++) r.dubbo.record(SVC, 'legacy', i % 2 ? 'pay' : 'refund', 800 + (i % 7) * 100, 'ok');
      for (let i = 0; i < 100; i++) r.dubbo.record(SVC, 'mesh', i % 2 ? 'pay' : 'refund', 800 + (i % 7) * 100, i % 2 ? 'application_exception' : 'ok');
      r.dubbo.record('com.example.Other', 'mesh', 'x', 100, 'ok');
    }
    const total = sumSnapshots([parseCallHistograms(await a.text()), parseCallHistograms(await b.text())]);
    const window = serviceWindow(total, SVC, null, 0, 60_000, 25);
    expect(window.methods.map((m) => m.method)).toEqual(['pay', 'refund']);
    const pay = window.methods[0];
    expect(pay.mesh.outcomes).toEqual({ application_exception: 100 });
    expect(pay.legacy.outcomes).toEqual({ ok: 300 });
    expect(pay.legacy.latencyHistogram!.cumulative.at(-1)).toBe(300);
    expect(pay.legacy.latencyHistogram!.le[0]).toBe(500);

    const verdict = judgeService(window, { ...DEFAULT_GATE, looks: 1 }, 60_000);
    expect(verdict.verdict).toBe('fail');
    expect(verdict.failedMethods).toEqual(['pay']);

    const refundOnly = serviceWindow(total, SVC, 'refund', 0, 60_000, 25);
    expect(refundOnly.methods.map((m) => m.method)).toEqual(['refund']);
    expect(judgeService(refundOnly, { ...DEFAULT_GATE, looks: 1 }, 60_000).verdict).not.toBe('fail');
  });

  it('refuses a histogram line it cannot read, naming the line', () => {
    const text = '# HELP x\nmesh_bridge_request_duration_seconds_bucket{service="a",stack="moon",method="m",outcome="ok",le="1"} 3\n';
    expect(() => parseCallHistograms(text)).toThrow(expect.objectContaining({ code: 'CUTOVER_BAD_METRICS', where: '/metrics:2' }));
  });

  it('reads escaped label values', () => {
    const text = 'mesh_bridge_request_duration_seconds_bucket{service="a\\"b",stack="mesh",method="m",outcome="ok",le="+Inf"} 3\n';
    expect([...parseCallHistograms(text).values()][0].service).toBe('a"b');
  });
});

// Proxy benchmark: the bridge's Dubbo and HTTP listeners side by side with baselines, one run.
//
//   Dubbo  direct to a fast provider (bench/support/dubbo-provider.ts)
//          through the bridge's DubboListener (bench/support/bridge.ts --mode=dubbo)
//          through a plain Node TCP pipe (bench/support/tcp-pipe.ts)
//          load: bench/support/dubbo-load.ts, N connections x K requests in flight each
//   HTTP   direct to a node:http upstream (bench/support/http-upstream.ts)
//          through the bridge's HttpListener (bench/support/bridge.ts --mode=http)
//          through http-proxy with a keep-alive Agent (bench/support/http-proxy.ts)
//          through nginx (keepalive upstream), when /usr/sbin/nginx exists
//          load: wrk -t1 --latency -H 'Host: app'
//
// Every system runs in its own child process (stopped by PID at the end, on error and on SIGINT),
// so proxy CPU (utime + stime over the measured window, /proc/<pid>/stat) and RSS (VmRSS after its
// runs, /proc/<pid>/status) are per proxy. Measured: throughput at 32 connections; p50 / p99 at 1
// and 32 connections and what each proxy adds to direct; proxy CPU ms per 1,000 requests (in the
// 32-connection run); RSS. The last line is name=value pairs for scripts.
//
// Usage: npm run bench:proxy
//   BENCH_DURATION_MS (5000)  BENCH_WARMUP_MS (1500)  BENCH_CONNECTIONS (32)  BENCH_DUBBO_DEPTH (1)
//   BENCH_PROFILE=1           run the bridge children under --cpu-prof and summarise the profiles
//   BENCH_ONLY=dubbo|http     one half only
//   BENCH_BRIDGE_PATCH=no-stats  also measure patched bridges, an extra row in each
//                             table (experiments for proposed fixes: see bench/support/bridge.ts)
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProfile, summarizeProfile } from './support/cpuprofile';
import { nginxAvailable, startNginx } from './support/nginx';
import { Child, ProcSample, killAllNow, nodeScriptArgs, runProcess, sampleProc, startNodeChild, stopChild } from './support/processes';
import { runWrk, wrkAvailable } from './support/wrk';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1500);
const HIGH = Number(process.env.BENCH_CONNECTIONS ?? 32);
const DEPTH = Number(process.env.BENCH_DUBBO_DEPTH ?? 1);
const PROFILE = process.env.BENCH_PROFILE === '1';
const ONLY = process.env.BENCH_ONLY ?? '';
const PATCH = process.env.BENCH_BRIDGE_PATCH ?? '';

const BARS = { dubboVsPipe: 0.85, httpVsHttpProxy: 2.5 };
const AIMS = { httpVsNginx: 0.5, dubboP50AddUs: 40, httpP50AddUs: 60 };

interface Run {
  rps: number;
  p50us: number;
  p99us: number;
  requests: number;
  errors: number;
  /** Proxy CPU over the measured window, ms; NaN without a proxy process. */
  cpuMs: number;
  /** Proxy read + write system calls over the measured window; NaN without a proxy process. */
  syscalls: number;
}

interface SystemResult {
  name: string;
  low: Run | null;
  high: Run | null;
  rssMb: number;
  error?: string;
}

const profileDir = PROFILE ? mkdtempSync(join(tmpdir(), 'mesh-bridge-prof-')) : '';
const profileFlags = (tag: string): string[] => (PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, tag)}`] : []);

const started: Child[] = [];
async function start(promise: Promise<Child>): Promise<Child> {
  const child = await promise;
  started.push(child);
  return child;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function delta(before: ProcSample | null, after: ProcSample | null): { cpuMs: number; syscalls: number } {
  return before && after ? { cpuMs: after.cpuMs - before.cpuMs, syscalls: after.syscalls - before.syscalls } : { cpuMs: NaN, syscalls: NaN };
}

/** One Dubbo load run against a port; the proxy's CPU is sampled around the measured window. */
async function dubboRun(port: number, connections: number, proxy: Child | null): Promise<Run> {
  const args = [`--port=${port}`, `--connections=${connections}`, `--depth=${DEPTH}`, `--warmup-ms=${WARMUP_MS}`, `--duration-ms=${DURATION_MS}`];
  const run = runProcess(process.execPath, nodeScriptArgs('dubbo-load.ts', args));
  await run.lines.next(/^MEASURE_START$/);
  const before = proxy ? sampleProc(proxy.pid) : null;
  const result = await run.lines.next(/^RESULT (.*)$/);
  const after = proxy ? sampleProc(proxy.pid) : null;
  await run.lines.exited;
  const parsed = JSON.parse(result[1]) as { requests: number; rps: number; p50us: number; p99us: number; errors: number; lost: number };
  return { ...parsed, errors: parsed.errors + parsed.lost, ...delta(before, after) };
}

/** One wrk warmup + measured run; the proxy's CPU is sampled around the measured one. */
async function httpRun(port: number, connections: number, proxy: Child | null): Promise<Run> {
  await runWrk(port, connections, Math.max(1, Math.round(WARMUP_MS / 1000)));
  const before = proxy ? sampleProc(proxy.pid) : null;
  const result = await runWrk(port, connections, Math.max(1, Math.round(DURATION_MS / 1000)));
  const after = proxy ? sampleProc(proxy.pid) : null;
  return { ...result, ...delta(before, after) };
}

async function measure(name: string, port: number, proxy: Child | null, runOnce: (port: number, connections: number, proxy: Child | null) => Promise<Run>): Promise<SystemResult> {
  const result: SystemResult = { name, low: null, high: null, rssMb: NaN };
  try {
    log(`  ${name}: 1 connection`);
    result.low = await runOnce(port, 1, proxy);
    log(`  ${name}: ${HIGH} connections`);
    result.high = await runOnce(port, HIGH, proxy);
    if (proxy) result.rssMb = sampleProc(proxy.pid).rssMb;
  } catch (err) {
    result.error = (err as Error).message;
    log(`  ${name} failed: ${result.error}`);
  }
  return result;
}

// ---- output -------------------------------------------------------------------------------------

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const fmtAdd = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(0)}` : '-');

function table(title: string, results: SystemResult[]): string {
  const direct = results[0];
  const header = ['system', `rps@${HIGH}`, 'rps@1', 'p50@1', 'p99@1', '+p50@1', '+p99@1', `p50@${HIGH}`, `p99@${HIGH}`, `+p50@${HIGH}`, `+p99@${HIGH}`, 'cpu ms/1k', 'rw calls/req', 'rss MB', 'errors'];
  const rows = results.map((r) => {
    const add = (run: Run | null, base: Run | null, key: 'p50us' | 'p99us'): number => (run && base && r !== direct ? run[key] - base[key] : NaN);
    const cpuPerK = r.high && Number.isFinite(r.high.cpuMs) ? r.high.cpuMs / (r.high.requests / 1000) : NaN;
    const errors = (r.low?.errors ?? 0) + (r.high?.errors ?? 0);
    return [
      r.name + (r.error ? ' (FAILED)' : ''),
      fmt(r.high?.rps ?? NaN),
      fmt(r.low?.rps ?? NaN),
      fmt(r.low?.p50us ?? NaN),
      fmt(r.low?.p99us ?? NaN),
      fmtAdd(add(r.low, direct.low, 'p50us')),
      fmtAdd(add(r.low, direct.low, 'p99us')),
      fmt(r.high?.p50us ?? NaN),
      fmt(r.high?.p99us ?? NaN),
      fmtAdd(add(r.high, direct.high, 'p50us')),
      fmtAdd(add(r.high, direct.high, 'p99us')),
      fmt(cpuPerK, 1),
      fmt(r.high ? r.high.syscalls / r.high.requests : NaN, 2),
      fmt(r.rssMb, 1),
      String(errors),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [title, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

// ---- the run ------------------------------------------------------------------------------------

async function dubboHalf(): Promise<SystemResult[]> {
  log('Dubbo: starting provider, bridge and TCP pipe');
  const provider = await start(startNodeChild('dubbo provider', 'dubbo-provider.ts'));
  const bridge = await start(startNodeChild('bridge (dubbo)', 'bridge.ts', ['--mode=dubbo', `--upstream=${provider.port}`], profileFlags('dubbo')));
  const pipe = await start(startNodeChild('tcp pipe', 'tcp-pipe.ts', [`--upstream=${provider.port}`]));
  const results = [
    await measure('direct', provider.port, null, dubboRun),
    await measure('bridge', bridge.port, bridge, dubboRun),
    await measure('node tcp pipe', pipe.port, pipe, dubboRun),
  ];
  const patched = PATCH
    ? await start(startNodeChild(`bridge (dubbo, ${PATCH})`, 'bridge.ts', ['--mode=dubbo', `--upstream=${provider.port}`, `--patch=${PATCH}`], profileFlags('dubbo-patched')))
    : null;
  if (patched) results.push(await measure(`bridge+${PATCH}`, patched.port, patched, dubboRun));
  for (const child of [bridge, pipe, ...(patched ? [patched] : []), provider]) await stopChild(child);
  return results;
}

async function httpHalf(): Promise<{ results: SystemResult[]; nginxNote: string }> {
  log('HTTP: starting upstream, bridge, http-proxy' + (nginxAvailable() ? ' and nginx' : ''));
  const upstream = await start(startNodeChild('http upstream', 'http-upstream.ts'));
  const bridge = await start(startNodeChild('bridge (http)', 'bridge.ts', ['--mode=http', `--upstream=${upstream.port}`], profileFlags('http')));
  const proxy = await start(startNodeChild('http-proxy', 'http-proxy.ts', [`--upstream=${upstream.port}`]));
  let nginx: { child: Child; cleanup(): void } | null = null;
  let nginxNote = '';
  if (nginxAvailable()) {
    try {
      nginx = await startNginx(upstream.port);
      started.push(nginx.child);
    } catch (err) {
      nginxNote = `nginx did not start, skipped: ${(err as Error).message}`;
    }
  } else nginxNote = 'nginx is not installed (/usr/sbin/nginx), skipped';
  try {
    const results = [
      await measure('direct', upstream.port, null, httpRun),
      await measure('bridge', bridge.port, bridge, httpRun),
      await measure('http-proxy', proxy.port, proxy, httpRun),
    ];
    if (nginx) results.push(await measure('nginx', nginx.child.port, nginx.child, httpRun));
    if (PATCH) {
      const patched = await start(startNodeChild(`bridge (http, ${PATCH})`, 'bridge.ts', ['--mode=http', `--upstream=${upstream.port}`, `--patch=${PATCH}`]));
      results.push(await measure(`bridge+${PATCH}`, patched.port, patched, httpRun));
      await stopChild(patched);
    }
    return { results, nginxNote };
  } finally {
    for (const child of [bridge, proxy, ...(nginx ? [nginx.child] : []), upstream]) await stopChild(child);
    nginx?.cleanup();
  }
}

function profileReport(): string {
  const parts: string[] = [];
  for (const tag of ['dubbo', 'dubbo-patched', 'http']) {
    let files: string[];
    try {
      files = readdirSync(join(profileDir, tag)).filter((f) => f.endsWith('.cpuprofile'));
    } catch {
      continue;
    }
    // tsx's module loader thread writes a profile of its own: keep the main thread's, the busiest.
    const summaries = files.map((f) => ({ file: join(profileDir, tag, f), summary: summarizeProfile(join(profileDir, tag, f)) }));
    summaries.sort((a, b) => b.summary.busyMs - a.summary.busyMs);
    if (summaries.length > 0) parts.push(formatProfile(`bridge (${tag}) CPU profile ${summaries[0].file}`, summaries[0].summary));
  }
  return parts.join('\n\n');
}

function ratio(a: Run | null | undefined, b: Run | null | undefined): number {
  return a && b ? a.rps / b.rps : NaN;
}

async function main(): Promise<void> {
  const began = performance.now();
  log(`proxy bench: ${DURATION_MS} ms per measurement after ${WARMUP_MS} ms warmup, 1 and ${HIGH} connections, Dubbo depth ${DEPTH}${PROFILE ? ', bridge under --cpu-prof' : ''}`);
  const dubbo = ONLY === 'http' ? [] : await dubboHalf();
  let http: SystemResult[] = [];
  let nginxNote = '';
  if (ONLY !== 'dubbo') {
    if (wrkAvailable()) ({ results: http, nginxNote } = await httpHalf());
    else nginxNote = 'wrk is not installed (/usr/bin/wrk): HTTP half skipped';
  }

  const out: string[] = [];
  out.push(`mesh-bridge proxy bench (node ${process.version}, ${DURATION_MS / 1000} s per measurement; latencies in µs; + = added vs direct; cpu ms/1k and rw calls/req: proxy process, at ${HIGH} connections)`);
  if (dubbo.length > 0) out.push('', table(`Dubbo (dubbo-load: N connections x ${DEPTH} in flight each)`, dubbo));
  if (http.length > 0) out.push('', table('HTTP (wrk -t1 --latency, Host: app)', http));
  out.push(
    '',
    'rw calls/req: read- and write-family system calls (/proc/<pid>/io syscr + syscw) per request; recv/send',
    "are not counted there, so nginx's (recv + writev) reads about half of what it makes.",
  );
  if (nginxNote) out.push(`note: ${nginxNote}`);
  for (const r of [...dubbo, ...http]) if (r.error) out.push(`error: ${r.name}: ${r.error}`);
  if (PROFILE) out.push('', 'note: the bridge ran under --cpu-prof: its numbers are lower than without', '', profileReport());

  const by = (results: SystemResult[], name: string): SystemResult | undefined => results.find((r) => r.name === name);
  const dubboVsPipe = ratio(by(dubbo, 'bridge')?.high, by(dubbo, 'node tcp pipe')?.high);
  const httpVsHttpProxy = ratio(by(http, 'bridge')?.high, by(http, 'http-proxy')?.high);
  const httpVsNginx = ratio(by(http, 'bridge')?.high, by(http, 'nginx')?.high);
  const p50Add = (results: SystemResult[]): number => {
    const bridge = by(results, 'bridge')?.low;
    const direct = by(results, 'direct')?.low;
    return bridge && direct ? bridge.p50us - direct.p50us : NaN;
  };
  const dubboP50Add = p50Add(dubbo);
  const httpP50Add = p50Add(http);
  const rssMb = Math.max(by(dubbo, 'bridge')?.rssMb ?? NaN, by(http, 'bridge')?.rssMb ?? NaN);

  const missed: string[] = [];
  const check = (kind: 'bar' | 'aim', label: string, ok: boolean, value: number, target: string): void => {
    if (!Number.isFinite(value)) missed.push(`${kind} ${label}: not measured`);
    else if (!ok) missed.push(`${kind} ${label} ${target}: missed (${value.toFixed(2)})`);
  };
  check('bar', 'dubbo_vs_pipe', dubboVsPipe >= BARS.dubboVsPipe, dubboVsPipe, `>= ${BARS.dubboVsPipe}`);
  check('bar', 'http_vs_httpproxy', httpVsHttpProxy >= BARS.httpVsHttpProxy, httpVsHttpProxy, `>= ${BARS.httpVsHttpProxy}`);
  check('aim', 'http_vs_nginx', httpVsNginx >= AIMS.httpVsNginx, httpVsNginx, `>= ${AIMS.httpVsNginx}`);
  check('aim', 'dubbo_p50_add_us', dubboP50Add < AIMS.dubboP50AddUs, dubboP50Add, `< ${AIMS.dubboP50AddUs}`);
  check('aim', 'http_p50_add_us', httpP50Add < AIMS.httpP50AddUs, httpP50Add, `< ${AIMS.httpP50AddUs}`);
  out.push('', missed.length === 0 ? 'all bars and aims met' : `missed:\n${missed.map((m) => `  ${m}`).join('\n')}`);
  out.push(`(run took ${((performance.now() - began) / 1000).toFixed(0)} s; rss_mb is the larger of the two bridge processes)`);
  const pairs = {
    dubbo_vs_pipe: fmt(dubboVsPipe, 2),
    http_vs_httpproxy: fmt(httpVsHttpProxy, 2),
    http_vs_nginx: fmt(httpVsNginx, 2),
    dubbo_p50_add_us: fmt(dubboP50Add, 0),
    http_p50_add_us: fmt(httpP50Add, 0),
    rss_mb: fmt(rssMb, 1),
  };
  out.push(
    Object.entries(pairs)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  );
  process.stdout.write(out.join('\n') + '\n');
}

process.on('SIGINT', () => {
  log('interrupted: stopping children');
  killAllNow('SIGTERM');
  process.exit(130);
});
process.on('SIGTERM', () => {
  killAllNow('SIGTERM');
  process.exit(143);
});
process.on('exit', () => killAllNow('SIGTERM'));

main().catch(async (err: unknown) => {
  log(`proxy bench failed: ${(err as Error).stack ?? String(err)}`);
  for (const child of started) await stopChild(child, 1000);
  killAllNow('SIGKILL');
  process.exit(1);
});

// The syncing process of the sync benchmark (bench/sync.ts), alone so its RSS and CPU are its own:
// a ZookeeperSync (read only) feeding a Catalog, driven by commands on stdin, one per line:
//
//   sync                   -> "SYNCED {json}"  first complete sync: seconds, RSS / heap before and after (after GC)
//   subscribe a,b,c        -> "SUBSCRIBED n"   catalog.subscribe on each; every later delta is printed as
//                             "DELTA <hrtime ns> <service> {json: added ids, removed ids}"
//   memory                 -> "MEMORY {json}"  RSS and heap after GC
//   (after subscribe, every GC is printed too: "GC <start hrtime ns> <duration ms> <kind>")
//   stop                   -> stops the sync and exits (so --cpu-prof writes its profile)
//
// Usage: node --expose-gc --import tsx bench/support/sync-child.ts --connect=host:port --root=/dubbo
// Prints "READY 0" once loaded (every module imported), before anything is measured.
import { Session } from 'node:inspector';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { getHeapSpaceStatistics } from 'node:v8';
import { Catalog, ServiceDelta } from '../../src/catalog';
import { silentLogger } from '../../src/telemetry/logger';
import { Registry } from '../../src/telemetry/metrics';
import { ZookeeperSync } from '../../src/zookeeper-sync/zookeeper-sync';
import { arg } from './child-protocol';

const connectString = arg('connect');
const root = arg('root', '/dubbo');
/** Sample allocations during the sync (V8's sampling heap profiler) and report what is still live after it. */
const heapProfile = arg('heap-profile', '') === '1';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function memory(): { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; spaces: Record<string, { committed: number; used: number }> } {
  // Twice: the first full GC may leave weak / finalised objects for the second.
  (gc as () => void)();
  (gc as () => void)();
  const m = process.memoryUsage();
  const spaces: Record<string, { committed: number; used: number }> = {};
  for (const s of getHeapSpaceStatistics()) spaces[s.space_name] = { committed: s.physical_space_size, used: s.space_used_size };
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces };
}

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Prints every GC from now on, its start on the process.hrtime clock, to line up with changes. */
function traceGc(): void {
  const hr0 = process.hrtime.bigint();
  const perf0 = performance.now();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const start = hr0 + BigInt(Math.round((entry.startTime - perf0) * 1e6));
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
      out(`GC ${start} ${entry.duration.toFixed(3)} ${GC_KINDS[kind] ?? kind}`);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

const catalog = new Catalog();
let sync: ZookeeperSync | null = null;
const subscriptions: Array<{ unsubscribe(): void }> = [];

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))));
}

function shortUrl(url: string): string {
  const src = url.indexOf('/src/');
  if (src >= 0 && !url.includes('node_modules')) return url.slice(src + 1);
  const nm = url.lastIndexOf('node_modules/');
  return nm >= 0 ? url.slice(nm + 'node_modules/'.length) : url;
}

/**
 * Live bytes (sampled) by allocating function, and by the innermost frame of ours (src/) on the
 * allocation stack: what of our code holds the memory, even when a builtin or dependency allocated it.
 */
function summarizeHeap(head: SamplingNode): { byFunction: Array<[string, number]>; byOurFrame: Array<[string, number]> } {
  const byFunction = new Map<string, number>();
  const byOurFrame = new Map<string, number>();
  const walk = (node: SamplingNode, ours: string): void => {
    const frame = node.callFrame;
    const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url.endsWith('.js') ? `:${frame.lineNumber + 1}` : ''}`.trim();
    const isOurs = frame.url.includes('/src/') && !frame.url.includes('node_modules');
    const here = isOurs ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}` : ours;
    if (node.selfSize > 0) {
      byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
      byOurFrame.set(here, (byOurFrame.get(here) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(head, '(not under src/)');
  const top = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]).slice(0, 25);
  return { byFunction: top(byFunction), byOurFrame: top(byOurFrame) };
}

async function doSync(): Promise<void> {
  const before = memory();
  let session: Session | null = null;
  if (heapProfile) {
    session = new Session();
    session.connect();
    await post(session, 'HeapProfiler.startSampling', { samplingInterval: 4096 });
  }
  let peakRss = 0;
  let peakHeap = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 50);
  const started = performance.now();
  sync = new ZookeeperSync({
    connectString,
    catalog,
    owner: 'bench-sync',
    metrics: new Registry(),
    logger: silentLogger(),
    export: false,
    layout: { dubboRoot: root },
    startTimeoutMs: 600_000,
  });
  await sync.start();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const cpu = process.cpuUsage();
  const after = memory();
  if (session !== null) {
    const { profile } = await post<{ profile: { head: SamplingNode } }>(session, 'HeapProfiler.stopSampling');
    session.disconnect();
    out(`HEAPPROFILE ${JSON.stringify(summarizeHeap(profile.head))}`);
  }
  const status = sync.status();
  out(
    `SYNCED ${JSON.stringify({
      seconds,
      instances: catalog.instanceCount,
      services: catalog.serviceNames().length,
      readerInstances: status.reader.instances,
      badEntries: status.reader.badEntries,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      peakRss,
      peakHeap,
      before,
      after,
    })}`,
  );
}

function onDelta(delta: ServiceDelta): void {
  const at = process.hrtime.bigint();
  out(`DELTA ${at} ${delta.service} ${JSON.stringify({ added: delta.added.map((i) => i.id), removed: delta.removed.map((i) => i.id), updated: delta.updated.length })}`);
}

function subscribe(services: string[]): void {
  for (const service of services) {
    let initial = true;
    // The first call (when there are instances) is the snapshot, not a change.
    subscriptions.push(
      catalog.subscribe(service, (delta) => {
        if (initial) return;
        onDelta(delta);
      }),
    );
    initial = false;
  }
  traceGc();
  out(`SUBSCRIBED ${services.length}`);
}

async function stop(): Promise<void> {
  for (const s of subscriptions) s.unsubscribe();
  await sync?.stop();
  process.exit(0);
}

process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [command, rest = ''] = line.trim().split(/\s+/, 2);
  const run = async (): Promise<void> => {
    switch (command) {
      case 'sync':
        await doSync();
        return;
      case 'subscribe':
        subscribe(rest.split(',').filter((s) => s !== ''));
        return;
      case 'memory': {
        const status = sync?.status();
        out(`MEMORY ${JSON.stringify({ ...memory(), reconnects: status?.reconnects ?? 0, expiries: status?.sessionExpiries ?? 0 })}`);
        return;
      }
      case 'stop':
        await stop();
        return;
      default:
        out(`ERROR unknown command ${command}`);
    }
  };
  run().catch((err: unknown) => {
    out(`ERROR ${err instanceof Error ? err.message.replace(/\n/g, ' ') : String(err)}`);
  });
});
// The parent went away: do not linger.
lines.on('close', () => void stop());

out('READY 0');

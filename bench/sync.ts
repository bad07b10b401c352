// Sync benchmark: zookeeper-sync and the catalog against a real ZooKeeper, and the embedded Eureka
// server, one run.
//
//   (1) initial sync of 100,000 providers over 10,000 interfaces: seconds until ZookeeperSync.start()
//       resolves, and RSS per instance (the syncing process's RSS after the sync minus before, both
//       after forced GC, over the instances synced). The sync runs alone in its own child process
//       (bench/support/sync-child.ts).
//   (2) change latency: another ZooKeeper client adds a provider (ephemeral) or removes it; the time
//       from sending that request to the catalog subscriber's delta in the syncing process (both
//       read CLOCK_MONOTONIC through process.hrtime), p50 / p99 over BENCH_CHANGES changes, with
//       100,000 instances synced and with 1,000 (a separate estate under /dubbo-1k).
//   (3) the embedded Eureka server (its own child, bench/support/sync-eureka.ts) holding 10,000
//       registered instances: full and delta fetch latency (Accept: application/json), heartbeats
//       per second from wrk (bench/support/sync-eureka-load.ts).
//
// The estate is written with multi requests as persistent znodes before anything is measured
// (populate time reported, not part of any bar). The last line is name=value pairs for scripts.
//
// Usage: npm run bench:sync
//   BENCH_INTERFACES (10000)  BENCH_PROVIDERS_PER_INTERFACE (10)  BENCH_CHANGES (1000)
//   BENCH_EUREKA_APPS (100) x BENCH_EUREKA_PER_APP (100)  BENCH_HEARTBEAT_SECONDS (5)  BENCH_HEARTBEAT_CONNECTIONS (64)
//   BENCH_PROFILE=1   run the syncing children under --cpu-prof and summarise their profiles
//   BENCH_ONLY=zk|eureka  one half only
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ZookeeperServer } from '../test/support/zookeeper';
import { formatProfile, summarizeProfile } from './support/cpuprofile';
import { Child, killAllNow, sampleProc, startNodeChild, stopChild } from './support/processes';
import { EurekaEstate, EurekaLoad, heartbeats } from './support/sync-eureka-load';
import { ZkClient } from '../src/zookeeper-sync/zk-client';
import { Estate, addProvider, closeClient, connectClient, instanceCount, interfaceName, percentile, populate, providerNodeName, providersPath, removeNode } from './support/sync-estate';
import { wrkAvailable } from './support/wrk';

const INTERFACES = Number(process.env.BENCH_INTERFACES ?? 10_000);
const PER_INTERFACE = Number(process.env.BENCH_PROVIDERS_PER_INTERFACE ?? 10);
// 1,000: with 200 the p99 is the second-slowest sample and swings with one scheduling hiccup.
const CHANGES = Number(process.env.BENCH_CHANGES ?? 1000);
const EUREKA: EurekaEstate = { apps: Number(process.env.BENCH_EUREKA_APPS ?? 100), instancesPerApp: Number(process.env.BENCH_EUREKA_PER_APP ?? 100) };
const HEARTBEAT_SECONDS = Number(process.env.BENCH_HEARTBEAT_SECONDS ?? 5);
const HEARTBEAT_CONNECTIONS = Number(process.env.BENCH_HEARTBEAT_CONNECTIONS ?? 64);
const PROFILE = process.env.BENCH_PROFILE === '1';
const ONLY = process.env.BENCH_ONLY ?? '';
/** Interfaces each syncing process subscribes to; changes go round-robin over them. */
const TARGETS = 20;
/** The delta window of the Eureka server under test, short so a steady-state delta can be measured. */
const DELTA_RETENTION_MS = 20_000;

const MIB = 2 ** 20;

const BARS = { initialS: 20, bytesPerInstance: 2048, changeP99Ms: 50, changeRatio: 1.5 };

const BIG: Estate = { root: '/dubbo', interfaces: INTERFACES, providersPerInterface: PER_INTERFACE, hostPrefix: 1 };
const SMALL: Estate = { root: '/dubbo-1k', interfaces: Math.max(1, Math.round(1000 / PER_INTERFACE)), providersPerInterface: PER_INTERFACE, hostPrefix: 2 };

const profileRoot = PROFILE ? mkdtempSync(join(tmpdir(), 'mesh-bridge-sync-prof-')) : '';

function log(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the syncing child's stdout, line by line ----

interface Waiter {
  match: (line: string) => boolean;
  resolve: (line: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

class ChildLines {
  private readonly buffered: string[] = [];
  private readonly waiters: Waiter[] = [];
  private exited = false;

  constructor(private readonly child: Child) {
    const lines = createInterface({ input: child.process.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => this.onLine(line));
    child.process.once('exit', (code, signal) => {
      this.exited = true;
      this.failAll(new Error(`${child.name} exited (${signal ?? `code ${code}`})${child.stderr() ? `:\n${child.stderr().trim()}` : ''}`));
    });
  }

  send(command: string): void {
    this.child.process.stdin?.write(`${command}\n`);
  }

  /** The next line (buffered or coming) that matches; consumed. */
  next(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const index = this.buffered.findIndex(match);
    if (index >= 0) return Promise.resolve(this.buffered.splice(index, 1)[0]);
    if (this.exited) return Promise.reject(new Error(`${this.child.name} has exited; waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new Error(`${this.child.name}: no ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Every buffered line starting with `prefix`, removed from the buffer. */
  drain(prefix: string): string[] {
    const taken: string[] = [];
    for (let i = 0; i < this.buffered.length; i++) {
      if (!this.buffered[i].startsWith(prefix)) continue;
      taken.push(this.buffered[i]);
      this.buffered.splice(i--, 1);
    }
    return taken;
  }

  private onLine(line: string): void {
    if (line.startsWith('ERROR ')) {
      this.failAll(new Error(`${this.child.name}: ${line}`));
      return;
    }
    const index = this.waiters.findIndex((w) => w.match(line));
    if (index < 0) {
      this.buffered.push(line);
      if (this.buffered.length > 10_000) this.buffered.shift();
      return;
    }
    const [waiter] = this.waiters.splice(index, 1);
    clearTimeout(waiter.timer);
    waiter.resolve(line);
  }

  private failAll(err: Error): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }
}

// ---- (1) + (2): one syncing process over one estate ----

interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { committed: number; used: number }>;
}

interface HeapSummary {
  byFunction: Array<[string, number]>;
  byOurFrame: Array<[string, number]>;
}

function formatHeapProfile(label: string, summary: HeapSummary, instances: number): string {
  const total = summary.byFunction.reduce((sum, [, bytes]) => sum + bytes, 0);
  const row = ([name, bytes]: [string, number]): string => `    ${fmt(bytes / MIB, 1).padStart(7)} MiB  ${fmt(bytes / Math.max(1, instances), 0).padStart(5)} B/inst  ${name}`;
  return [
    `live heap after the ${label} sync, sampled (V8 sampling heap profiler, 4 KiB interval; top 25 sites cover ${fmt(total / MIB, 0)} MiB):`,
    '  by allocating function:',
    ...summary.byFunction.slice(0, 15).map(row),
    '  by innermost frame of ours (src/) on the allocation stack:',
    ...summary.byOurFrame.slice(0, 15).map(row),
  ].join('\n');
}

interface Change {
  op: 'add' | 'remove';
  sent: bigint;
  seen: bigint;
  ms: number;
}

interface GcEvent {
  start: bigint;
  end: bigint;
  ms: number;
  kind: string;
}

interface SyncedReport {
  seconds: number;
  instances: number;
  services: number;
  readerInstances: number;
  badEntries: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  peakRss: number;
  peakHeap: number;
  before: MemorySample;
  after: MemorySample;
}

interface SyncResult {
  label: string;
  synced: SyncedReport;
  /** RSS 2 s after the sync, after GC again. */
  settledRss: number;
  bytesPerInstance: number;
  heapBytesPerInstance: number;
  changeMs: number[];
  addMs: number[];
  removeMs: number[];
  ackMs: number[];
  missed: number;
  changes: Change[];
  gcs: GcEvent[];
  /** Reconnects plus session expiries of the sync during the run (0 expected). */
  reconnects: number;
  profile?: string;
}

function restOf(line: string, prefix: string): string {
  return line.slice(prefix.length + 1);
}

interface Syncer {
  label: string;
  estate: Estate;
  child: Child;
  lines: ChildLines;
  synced: SyncedReport;
  settled: MemorySample & { reconnects: number; expiries: number };
  heapProfile?: string;
  profileDir: string;
  targets: string[];
  addMs: number[];
  removeMs: number[];
  ackMs: number[];
  changes: Change[];
  missed: number;
}

/** Starts a syncing process, runs its first sync (alone on the machine's CPUs) and reads its memory. */
async function startSyncer(label: string, estate: Estate, connectString: string): Promise<Syncer> {
  const expected = instanceCount(estate);
  const profileDir = PROFILE ? join(profileRoot, label) : '';
  const child = await startNodeChild(`sync-${label}`, 'sync-child.ts', [`--connect=${connectString}`, `--root=${estate.root}`, `--heap-profile=${PROFILE ? 1 : 0}`], [
    '--expose-gc',
    ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
  ]);
  const lines = new ChildLines(child);
  try {
    log(`${label}: syncing ${expected} instances over ${estate.interfaces} interfaces (pid ${child.pid})`);
    lines.send('sync');
    const synced = JSON.parse(restOf(await lines.next((l) => l.startsWith('SYNCED '), 600_000, 'SYNCED'), 'SYNCED')) as SyncedReport;
    let heapProfile: string | undefined;
    if (PROFILE) {
      const summary = JSON.parse(restOf(await lines.next((l) => l.startsWith('HEAPPROFILE '), 10_000, 'HEAPPROFILE'), 'HEAPPROFILE')) as HeapSummary;
      heapProfile = formatHeapProfile(label, summary, synced.instances);
    }
    log(
      `${label}: synced in ${synced.seconds.toFixed(2)} s, ${synced.instances} instances in the catalog, ` +
        `RSS ${(synced.before.rss / MIB).toFixed(0)} -> ${(synced.after.rss / MIB).toFixed(0)} MiB, ` +
        `heap ${(synced.before.heapUsed / MIB).toFixed(0)} -> ${(synced.after.heapUsed / MIB).toFixed(0)} MiB`,
    );
    if (synced.instances !== expected) log(`${label}: WARNING expected ${expected} instances, the catalog holds ${synced.instances}`);
    await sleep(2000);
    lines.send('memory');
    const settled = JSON.parse(restOf(await lines.next((l) => l.startsWith('MEMORY '), 30_000, 'MEMORY'), 'MEMORY')) as Syncer['settled'];
    log(`${label}: 2 s later, after GC: RSS ${(settled.rss / MIB).toFixed(0)} MiB, heap used ${(settled.heapUsed / MIB).toFixed(0)} MiB, old_space committed ${(settled.spaces.old_space.committed / MIB).toFixed(0)} MiB`);
    const n = Math.min(TARGETS, estate.interfaces);
    const targets = Array.from({ length: n }, (_, t) => interfaceName(Math.floor((t * estate.interfaces) / n)));
    lines.send(`subscribe ${targets.join(',')}`);
    await lines.next((l) => l.startsWith('SUBSCRIBED '), 30_000, 'SUBSCRIBED');
    return { label, estate, child, lines, synced, settled, heapProfile, profileDir, targets, addMs: [], removeMs: [], ackMs: [], changes: [], missed: 0 };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/** One change (add, or remove of what the add created) by another client, timed to the subscriber's delta. */
async function change(s: Syncer, client: ZkClient, op: 'add' | 'remove', iface: string, path: string, id: string): Promise<void> {
  const key = op === 'add' ? 'added' : 'removed';
  const seen = s.lines.next(
    (l) => {
      if (!l.startsWith('DELTA ')) return false;
      const [, , service] = l.split(' ', 3);
      if (service !== iface) return false;
      const ids = (JSON.parse(l.slice(l.indexOf('{'))) as Record<'added' | 'removed', string[]>)[key];
      return ids.includes(id);
    },
    10_000,
    `delta ${op} ${id} in ${iface}`,
  );
  const sent = process.hrtime.bigint();
  await (op === 'add' ? addProvider(client, path) : removeNode(client, path));
  s.ackMs.push(Number(process.hrtime.bigint() - sent) / 1e6);
  try {
    const line = await seen;
    const at = BigInt(line.split(' ', 2)[1]);
    const ms = Number(at - sent) / 1e6;
    (op === 'add' ? s.addMs : s.removeMs).push(ms);
    s.changes.push({ op, sent, seen: at, ms });
  } catch (err) {
    s.missed++;
    log(`${s.label}: ${(err as Error).message}`);
  }
}

/**
 * (2) Changes to every estate in turn (an add, then its removal, one estate after the other), so
 * both syncing processes see the same machine at the same time and their tails compare fairly.
 */
async function runChanges(syncers: Syncer[], connectString: string): Promise<void> {
  const client = await connectClient(connectString);
  try {
    for (let n = 0; n < CHANGES / 2; n++) {
      const host = `172.16.${(n >> 8) & 255}.${n & 255}`;
      const id = `${host}:20880`;
      for (const s of syncers) {
        const iface = s.targets[n % s.targets.length];
        const path = `${providersPath(s.estate.root, iface)}/${providerNodeName(iface, host, 20880, Date.now())}`;
        for (const op of ['add', 'remove'] as const) {
          await change(s, client, op, iface, path, id);
          // A short, irregular pause, so changes neither coalesce nor beat against a timer.
          await sleep(3 + Math.random() * 7);
        }
      }
      if ((2 * n + 2) % 100 === 0) log(`changes: ${2 * n + 2}/${CHANGES} per estate`);
    }
  } finally {
    closeClient(client);
  }
}

/** Collects the GC trace, stops the process (which writes its CPU profile) and summarises. */
async function finishSyncer(s: Syncer): Promise<SyncResult> {
  // GC lines come through an observer, asynchronously: give the last ones a moment.
  await sleep(200);
  const gcs: GcEvent[] = s.lines.drain('GC ').map((l) => {
    const [, start, ms, kind] = l.split(' ');
    const begin = BigInt(start);
    return { start: begin, end: begin + BigInt(Math.round(Number(ms) * 1e6)), ms: Number(ms), kind };
  });
  s.lines.send('memory');
  const last = JSON.parse(restOf(await s.lines.next((l) => l.startsWith('MEMORY '), 30_000, 'MEMORY'), 'MEMORY')) as Syncer['settled'];
  if (last.reconnects > 0 || last.expiries > 0) log(`${s.label}: WARNING the sync reconnected ${last.reconnects}x / lost its session ${last.expiries}x during the run`);
  s.lines.send('stop');
  const exited = new Promise<void>((resolve) => s.child.process.once('exit', () => resolve()));
  await Promise.race([exited, sleep(15_000)]);
  await stopChild(s.child);
  let profile: string | undefined;
  if (PROFILE) {
    const file = readdirSync(s.profileDir).find((f) => f.endsWith('.cpuprofile'));
    const cpu = file === undefined ? '' : formatProfile(`syncing process, ${s.label} (whole life: load, sync, changes, stop)`, summarizeProfile(join(s.profileDir, file), 30));
    profile = `${s.heapProfile ?? ''}\n${cpu}`;
  }
  const { synced } = s;
  return {
    label: s.label,
    synced,
    settledRss: s.settled.rss,
    bytesPerInstance: (synced.after.rss - synced.before.rss) / Math.max(1, synced.instances),
    heapBytesPerInstance: (synced.after.heapUsed - synced.before.heapUsed) / Math.max(1, synced.instances),
    changeMs: [...s.addMs, ...s.removeMs],
    addMs: s.addMs,
    removeMs: s.removeMs,
    ackMs: s.ackMs,
    missed: s.missed,
    changes: s.changes,
    gcs,
    reconnects: last.reconnects + last.expiries,
    profile,
  };
}

// ---- (3) the embedded Eureka server ----

interface Latency {
  p50: number;
  p99: number;
  n: number;
  bytes: number;
  instances: number;
}

interface EurekaResult {
  instances: number;
  registerSeconds: number;
  fullCold: Latency;
  fullWarm: Latency;
  deltaMass: Latency;
  deltaSteady: Latency;
  heartbeatsPerS: number;
  heartbeatP50Ms: number;
  heartbeatP99Ms: number;
  heartbeatErrors: number;
  rssMb: number;
}

function countInstances(body: string): number {
  const doc = JSON.parse(body) as { applications: { application: Array<{ instance: unknown[] }> } };
  return doc.applications.application.reduce((sum, app) => sum + app.instance.length, 0);
}

async function sample(times: number, fetch: () => Promise<{ ms: number; bytes: number; body: string }>, before?: (i: number) => Promise<void>): Promise<Latency> {
  const ms: number[] = [];
  let last = { ms: 0, bytes: 0, body: '' };
  for (let i = 0; i < times; i++) {
    await before?.(i);
    last = await fetch();
    ms.push(last.ms);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), n: times, bytes: last.bytes, instances: countInstances(last.body) };
}

async function runEureka(): Promise<EurekaResult> {
  const child = await startNodeChild('eureka', 'sync-eureka.ts', [`--delta-retention-ms=${DELTA_RETENTION_MS}`]);
  const load = new EurekaLoad(child.port);
  try {
    const total = EUREKA.apps * EUREKA.instancesPerApp;
    log(`eureka: registering ${total} instances (${EUREKA.apps} apps) over HTTP, 64 in flight`);
    const registerSeconds = await load.registerAll(EUREKA);
    const registeredAt = performance.now();
    log(`eureka: registered in ${registerSeconds.toFixed(2)} s; delta fetches with all ${total} registrations in the window`);
    const deltaMass = await sample(10, () => load.fetch('/eureka/apps/delta'));
    log('eureka: full fetches, each after a status change (formatted anew), then cached');
    const fullCold = await sample(
      20,
      () => load.fetch('/eureka/apps/'),
      (i) => load.override(i % EUREKA.apps, 0, i % 2 === 0 ? 'OUT_OF_SERVICE' : 'UP'),
    );
    const fullWarm = await sample(50, () => load.fetch('/eureka/apps/'));
    const wait = DELTA_RETENTION_MS + 500 - (performance.now() - registeredAt);
    if (wait > 0) {
      log(`eureka: waiting ${(wait / 1000).toFixed(1)} s for the registrations to leave the delta window`);
      await sleep(wait);
    }
    // Steady state: a handful of changes in the window, as in a running estate.
    for (let i = 0; i < 20; i++) await load.override(i % EUREKA.apps, 1, 'OUT_OF_SERVICE');
    const deltaSteady = await sample(50, () => load.fetch('/eureka/apps/delta'));
    let heartbeatsPerS = NaN;
    let heartbeatP50Ms = NaN;
    let heartbeatP99Ms = NaN;
    let heartbeatErrors = NaN;
    if (wrkAvailable()) {
      log(`eureka: heartbeats from wrk, ${HEARTBEAT_CONNECTIONS} connections, ${HEARTBEAT_SECONDS} s`);
      const hb = await heartbeats(child.port, EUREKA, HEARTBEAT_CONNECTIONS, HEARTBEAT_SECONDS);
      heartbeatsPerS = hb.rps;
      heartbeatP50Ms = hb.p50us / 1000;
      heartbeatP99Ms = hb.p99us / 1000;
      heartbeatErrors = hb.errors;
    } else log('eureka: wrk not installed; heartbeats not measured');
    const rssMb = sampleProc(child.pid).rssMb;
    return { instances: total, registerSeconds, fullCold, fullWarm, deltaMass, deltaSteady, heartbeatsPerS, heartbeatP50Ms, heartbeatP99Ms, heartbeatErrors, rssMb };
  } finally {
    await load.close();
    await stopChild(child);
  }
}

// ---- report ----

/** The change latency's tail, and which slow changes a GC in the syncing process overlapped. */
function describeChanges(r: SyncResult): string {
  const ms = r.changeMs;
  const median = percentile(ms, 50);
  const overlapping = (c: Change): GcEvent[] => r.gcs.filter((g) => g.start < c.seen && g.end > c.sent);
  const slow = r.changes.filter((c) => c.ms > 2 * median);
  const slowWithGc = slow.filter((c) => overlapping(c).length > 0);
  const worst = [...r.changes]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 4)
    .map((c) => {
      const g = overlapping(c);
      return `${fmt(c.ms, 2)} ms ${c.op}${g.length > 0 ? ` (GC ${g.map((e) => `${e.kind} ${fmt(e.ms, 1)} ms`).join(', ')})` : ''}`;
    });
  const byKind = new Map<string, { n: number; max: number }>();
  for (const g of r.gcs) {
    const k = byKind.get(g.kind) ?? { n: 0, max: 0 };
    k.n++;
    k.max = Math.max(k.max, g.ms);
    byKind.set(g.kind, k);
  }
  const gcText = [...byKind].map(([kind, k]) => `${k.n} ${kind} (max ${fmt(k.max, 1)} ms)`).join(', ') || 'none';
  return (
    `p90 ${fmt(percentile(ms, 90), 2)} ms, p95 ${fmt(percentile(ms, 95), 2)} ms, max ${fmt(Math.max(...ms), 2)} ms; ` +
    `${slow.length} changes over 2x p50, ${slowWithGc.length} of them overlapped a GC; slowest: ${worst.join('; ')}; GCs meanwhile: ${gcText}`
  );
}

/** Where the syncing process's RSS growth sits: V8's spaces (committed), outside V8. */
function describeMemory(s: SyncedReport): string {
  const grown = (name: string): number => ((s.after.spaces[name]?.committed ?? 0) - (s.before.spaces[name]?.committed ?? 0)) / MIB;
  const used = (name: string): number => ((s.after.spaces[name]?.used ?? 0) - (s.before.spaces[name]?.used ?? 0)) / MIB;
  const rss = (s.after.rss - s.before.rss) / MIB;
  const heap = (s.after.heapTotal - s.before.heapTotal) / MIB;
  const spaces = ['old_space', 'new_space', 'large_object_space', 'code_space']
    .map((n) => `${n} +${fmt(grown(n), 0)} committed / +${fmt(used(n), 0)} used`)
    .join(', ');
  return (
    `peak during sync: RSS ${fmt(s.peakRss / MIB, 0)} MiB, heap used ${fmt(s.peakHeap / MIB, 0)} MiB; after: ` +
    `RSS +${fmt(rss, 0)} MiB = V8 heap committed +${fmt(heap, 0)} MiB (${spaces}) + outside V8 +${fmt(rss - heap, 0)} MiB ` +
    `(external +${fmt((s.after.external - s.before.external) / MIB, 1)} MiB, of it ArrayBuffers +${fmt((s.after.arrayBuffers - s.before.arrayBuffers) / MIB, 1)} MiB)`
  );
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  let zk: ZookeeperServer | null = null;
  const cleanup = (): void => {
    killAllNow();
    if (zk?.pid !== undefined) {
      try {
        process.kill(zk.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  const runStarted = performance.now();
  const results: { big?: SyncResult; small?: SyncResult; eureka?: EurekaResult; populateS?: number; populateNodes?: number } = {};
  try {
    if (ONLY !== 'eureka') {
      log('starting ZooKeeper (-Xmx3g, forceSync=no)');
      zk = await ZookeeperServer.start({ jvmArgs: ['-Xms1g', '-Xmx3g', '-Dzookeeper.forceSync=no'] });
      const populateStarted = performance.now();
      const writer = await connectClient(zk.connectString);
      let nodes = 0;
      try {
        for (const estate of [BIG, SMALL]) {
          log(`populating ${estate.root}: ${estate.interfaces} interfaces x ${estate.providersPerInterface} providers`);
          nodes += await populate(writer, estate, { progress: (done) => log(`  ${done} znodes`) });
        }
      } finally {
        closeClient(writer);
      }
      results.populateS = (performance.now() - populateStarted) / 1000;
      results.populateNodes = nodes;
      log(`populated ${nodes} znodes in ${results.populateS.toFixed(1)} s`);
      const syncers: Syncer[] = [];
      try {
        syncers.push(await startSyncer(`${instanceCount(BIG) / 1000}k`, BIG, zk.connectString));
        syncers.push(await startSyncer(`${instanceCount(SMALL) / 1000}k`, SMALL, zk.connectString));
        await runChanges(syncers, zk.connectString);
        results.big = await finishSyncer(syncers[0]);
        results.small = await finishSyncer(syncers[1]);
      } finally {
        for (const s of syncers) await stopChild(s.child);
      }
      await zk.destroy();
      zk = null;
    }
    if (ONLY !== 'zk') results.eureka = await runEureka();
  } finally {
    cleanup();
    if (zk !== null) await zk.destroy();
  }

  const out: string[] = [];
  const { big, small, eureka } = results;
  if (big && small) {
    out.push(`ZooKeeper -> catalog (populate: ${results.populateNodes} znodes in ${fmt(results.populateS ?? NaN)} s, not part of any bar)`);
    const rows = [['', 'instances', 'interfaces', 'sync s', 'sync CPU s', 'RSS MiB before/after/+2s', 'RSS B/inst', 'heap B/inst', 'chg p50 ms', 'chg p99 ms', 'add p99', 'remove p99', 'zk ack p50', 'missed', 'reconnects']];
    for (const [r, estate] of [
      [big, BIG],
      [small, SMALL],
    ] as const) {
      rows.push([
        r.label,
        String(r.synced.instances),
        String(estate.interfaces),
        fmt(r.synced.seconds, 2),
        fmt((r.synced.cpuUserMs + r.synced.cpuSystemMs) / 1000, 2),
        `${fmt(r.synced.before.rss / MIB, 0)}/${fmt(r.synced.after.rss / MIB, 0)}/${fmt(r.settledRss / MIB, 0)}`,
        fmt(r.bytesPerInstance, 0),
        fmt(r.heapBytesPerInstance, 0),
        fmt(percentile(r.changeMs, 50), 2),
        fmt(percentile(r.changeMs, 99), 2),
        fmt(percentile(r.addMs, 99), 2),
        fmt(percentile(r.removeMs, 99), 2),
        fmt(percentile(r.ackMs, 50), 2),
        String(r.missed),
        String(r.reconnects),
      ]);
    }
    out.push(table(rows));
    out.push(`  changes: ${CHANGES} per estate (half adds, half removes, the two estates interleaved) over ${TARGETS} subscribed interfaces each; latency = request sent -> subscriber's delta`);
    if (PROFILE) out.push('  PROFILE run: the profilers slow the sync and disturb latencies; use these numbers for attribution only');
    for (const r of [big, small]) {
      out.push(`  ${r.label}: ${describeChanges(r)}`);
      out.push(`  ${r.label}: ${describeMemory(r.synced)}`);
    }
    out.push('');
  }
  if (eureka) {
    out.push(`Embedded Eureka (${eureka.instances} registered instances, ${EUREKA.apps} apps; registration over HTTP took ${fmt(eureka.registerSeconds, 2)} s; server RSS ${fmt(eureka.rssMb, 0)} MiB)`);
    const rows = [['', 'p50 ms', 'p99 ms', 'samples', 'instances in reply', 'reply KiB']];
    const row = (name: string, l: Latency): string[] => [name, fmt(l.p50, 2), fmt(l.p99, 2), String(l.n), String(l.instances), fmt(l.bytes / 1024, 0)];
    rows.push(row('full fetch, cached (GET /eureka/apps)', eureka.fullWarm));
    rows.push(row('full fetch after a change (formatted anew)', eureka.fullCold));
    rows.push(row(`delta fetch, steady (20 changes in window)`, eureka.deltaSteady));
    rows.push(row('delta fetch, all registrations in window', eureka.deltaMass));
    out.push(table(rows));
    out.push(
      `  heartbeats (wrk, ${HEARTBEAT_CONNECTIONS} connections, ${HEARTBEAT_SECONDS} s): ${fmt(eureka.heartbeatsPerS, 0)}/s, p50 ${fmt(eureka.heartbeatP50Ms, 2)} ms, p99 ${fmt(eureka.heartbeatP99Ms, 2)} ms, errors ${eureka.heartbeatErrors}`,
    );
    out.push('');
  }
  for (const r of [big, small]) if (r?.profile) out.push(r.profile, '');

  const pairs: Array<[string, number, number | undefined]> = [];
  if (big && small) {
    const p99Big = percentile(big.changeMs, 99);
    const p99Small = percentile(small.changeMs, 99);
    pairs.push(['initial_100k_s', big.synced.seconds, BARS.initialS]);
    pairs.push(['bytes_per_instance', big.bytesPerInstance, BARS.bytesPerInstance]);
    pairs.push(['change_p99_ms', p99Big, BARS.changeP99Ms]);
    pairs.push(['change_ratio_100k_1k', p99Big / p99Small, BARS.changeRatio]);
  }
  if (eureka) {
    pairs.push(['eureka_full_fetch_ms', eureka.fullWarm.p99, undefined]);
    pairs.push(['eureka_delta_fetch_ms', eureka.deltaSteady.p99, undefined]);
    pairs.push(['eureka_heartbeats_per_s', eureka.heartbeatsPerS, undefined]);
  }
  const missedBars = pairs.filter(([, value, bar]) => bar !== undefined && !(value <= bar)).map(([name, value, bar]) => `${name}=${fmt(value, 2)} > ${bar}`);
  out.push(missedBars.length === 0 ? 'bars: all met' : `bars missed: ${missedBars.join(', ')}`);
  out.push(`run took ${fmt((performance.now() - runStarted) / 1000, 0)} s`);
  out.push(pairs.map(([name, value]) => `${name}=${fmt(value, name.endsWith('per_s') || name === 'bytes_per_instance' ? 0 : 2)}`).join(' '));
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:sync failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  killAllNow();
  process.exit(1);
});

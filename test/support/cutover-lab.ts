// A cutover lab with real peers: a ZooKeeper, bridge replicas (real processes sharing weights
// through ZooKeeper), per service a legacy sofa-rpc-node provider registered in ZooKeeper and a
// mesh twin declared to the bridges (which can be made to throw for some calls), callers sending
// Dubbo traffic through every bridge, and `mesh-bridge cutover run --json` runners as processes.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { silentLogger } from '../../src/telemetry/logger';
import { zkCode, zookeeper } from '../../src/zookeeper-sync/zk-client';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { BridgeProcess } from './bridge-process';
import { RawDubboClient } from './dubbo-client';
import { SofaProvider, startSofaProvider } from './dubbo-peers';
import { ZookeeperServer } from './zookeeper';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
export const VERSION = '1.0.0';

export interface LabService {
  name: string;
  methods: string[];
  /** Methods whose mesh twin throws, and for which share of calls (0..1); changed at will. */
  meshFailing: Map<string, number>;
  legacy: SofaProvider;
  mesh: SofaProvider;
}

function provider(stack: 'legacy' | 'mesh', methods: string[], failing: Map<string, number>): Record<string, (...args: unknown[]) => unknown> {
  const impls: Record<string, (...args: unknown[]) => unknown> = {};
  for (const method of methods) {
    let calls = 0;
    impls[method] = (name: unknown) => {
      const share = stack === 'mesh' ? (failing.get(method) ?? 0) : 0;
      calls++;
      // Deterministic: every k-th call fails, so a share is exact over any window.
      if (share > 0 && calls % Math.max(1, Math.round(1 / share)) === 0) throw new Error(`${stack} ${method} broke`);
      return `${stack}:${String(name)}`;
    };
  }
  return impls;
}

/** Calls through the bridges at a steady rate per method, round robin over the bridges. */
export class Traffic {
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  readonly answered = new Map<string, number>();

  constructor(
    private readonly clients: RawDubboClient[],
    private readonly service: string,
    ratePerMethod: Record<string, number>,
  ) {
    for (const [method, rate] of Object.entries(ratePerMethod)) this.loops.push(this.loop(method, rate));
  }

  private async loop(method: string, rate: number): Promise<void> {
    // Ten batches a second, or one call every 1/rate s for slower methods.
    const batch = Math.max(1, Math.round(rate / 10));
    const periodMs = (batch * 1000) / rate;
    let turn = 0;
    while (!this.stopped) {
      const started = Date.now();
      await Promise.all(
        Array.from({ length: batch }, () => {
          const client = this.clients[turn++ % this.clients.length];
          const call = client
            .call({ path: this.service, version: VERSION, method, parameterTypes: 'Ljava/lang/String;', args: ['x'] })
            .then(() => this.answered.set(method, (this.answered.get(method) ?? 0) + 1));
          return atMost(call, 5000);
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, periodMs - (Date.now() - started))));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/** Resolves when `promise` does, or after `ms` at the latest: a peer that never answers must not hang a test's cleanup. */
async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export type RunnerEvent = Record<string, unknown> & { event: string };

/** A `cutover run --json` process: its events as they come. */
export class RunnerProcess {
  private output = '';
  private errors = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (c: Buffer) => (this.output += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (this.errors = (this.errors + c.toString('utf8')).slice(-20_000)));
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderr(): string {
    return this.errors;
  }

  events(): RunnerEvent[] {
    const out: RunnerEvent[] = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as RunnerEvent);
      } catch {
        // a line still being written
      }
    }
    return out;
  }

  async waitForEvent(what: string, match: (e: RunnerEvent) => boolean, timeoutMs = 60_000): Promise<RunnerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events().find(match);
      if (found) return found;
      if (this.exited) throw new Error(`runner exited (${JSON.stringify(this.exited)}) before ${what}:\n${this.output.slice(-3000)}\n${this.errors.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${this.output.slice(-3000)}\n${this.errors.slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(timer);
  }
}

export class CutoverLab {
  zk!: ZookeeperServer;
  readonly bridges: BridgeProcess[] = [];
  readonly services = new Map<string, LabService>();
  private readonly clients: RawDubboClient[] = [];
  private readonly runners: RunnerProcess[] = [];
  private readonly traffic: Traffic[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-cutover-'));
  private registry: ZkSession | null = null;
  /** What the bridges, runners and commands get in their environment (the admin token). */
  env: Record<string, string> = {};

  /** Starts ZooKeeper, the providers of each service and `replicas` bridges. */
  /**
   * `token`: the bridges' admin token (MESH_BRIDGE_ADMIN_TOKEN), which the lab's runners and
   * commands are given too; writes without it are refused.
   */
  static async start(services: Array<{ name: string; methods: string[] }>, replicas = 2, options: { token?: string } = {}): Promise<CutoverLab> {
    const lab = new CutoverLab();
    lab.env = options.token ? { MESH_BRIDGE_ADMIN_TOKEN: options.token } : {};
    try {
      lab.zk = await ZookeeperServer.start();
      lab.registry = new ZkSession({ connectString: lab.zk.connectString, sessionTimeoutMs: 10_000, logger: silentLogger() });
      lab.registry.start();
      await lab.registry.whenConnected(15_000);
      // As a Dubbo provider does: registered again with a new session (after an expiry).
      lab.registry.on('connected', (info) => {
        if (info.newSession) void lab.registerLegacy().catch(() => undefined);
      });
      for (const { name, methods } of services) {
        const meshFailing = new Map<string, number>();
        const legacy = await startSofaProvider({ interface: name, version: VERSION, methods: provider('legacy', methods, meshFailing), register: false });
        const mesh = await startSofaProvider({ interface: name, version: VERSION, methods: provider('mesh', methods, meshFailing), register: false });
        lab.services.set(name, { name, methods, meshFailing, legacy, mesh });
        // The legacy provider has served calls before a cutover starts, a fresh twin has not: its
        // first calls run unoptimised code, slow enough on a loaded machine (CI) for the latency
        // gate to fail a first step at 10 % on 21 mesh calls. Warm it as the legacy one is.
        await warmUp(mesh.port, name, methods);
      }
      await lab.registerLegacy();
      for (let i = 0; i < replicas; i++) lab.bridges.push(await BridgeProcess.start(lab.bridgeConfig(`bridge-${i}`), { env: lab.env }));
      for (const bridge of lab.bridges) {
        const port = Number(String(bridge.addresses.dubbo).split(':').pop());
        lab.clients.push(await RawDubboClient.connect(port));
      }
    } catch (err) {
      await lab.stop();
      throw err;
    }
    return lab;
  }

  /**
   * The legacy providers' URLs in ZooKeeper, ephemeral, in a session of the lab's own (closed with
   * a deadline at the end, unlike a client that waits forever for a server that was restarted).
   */
  private async registerLegacy(): Promise<void> {
    for (const service of this.services.values()) {
      await this.registry!.createWithParents(`/dubbo/${service.name}/providers/${encodeURIComponent(service.legacy.url)}`, null, 'ephemeral').catch((err: unknown) => {
        if (zkCode(err) !== zookeeper.Exception.NODE_EXISTS) throw err;
      });
    }
  }

  private bridgeConfig(id: string): object {
    return {
      bridge: { id },
      admin: { port: 0 },
      zookeeper: { connect: this.zk.connectString, sessionTimeoutMs: 6000 },
      dubbo: { port: 0 },
      http: { enabled: false },
      mesh: {
        services: [...this.services.values()].map((s) => ({ name: s.name, protocol: 'dubbo', instances: [{ host: '127.0.0.1', port: s.mesh.port, version: VERSION }] })),
      },
      routes: [...this.services.values()].map((s) => ({ service: s.name, mesh: 0 })),
    };
  }

  get adminUrls(): string[] {
    return this.bridges.map((b) => b.admin);
  }

  /** Starts callers of `service` through every bridge. */
  startTraffic(service: string, ratePerMethod: Record<string, number>): Traffic {
    const traffic = new Traffic(this.clients, service, ratePerMethod);
    this.traffic.push(traffic);
    return traffic;
  }

  writePlaybook(name: string, playbook: object): string {
    const file = join(this.dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(playbook, null, 2));
    return file;
  }

  /** Starts `mesh-bridge cutover run --json` for a playbook file. */
  startRunner(playbook: string, extra: string[] = []): RunnerProcess {
    const args = ['--import', 'tsx', CLI, 'cutover', 'run', '--json', '--playbook', playbook, '--zookeeper', this.zk.connectString, '--bridges', this.adminUrls.join(','), '--session-timeout', '4000', '--tick-ms', '200', ...extra];
    const runner = new RunnerProcess(spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.runners.push(runner);
    return runner;
  }

  /** Runs another cutover CLI command to its end. */
  async cli(args: string[], timeoutMs = 40_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'cutover', ...args], { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** The weight a bridge applies to a service (or one method). */
  async weightOn(bridge: BridgeProcess, service: string, method?: string): Promise<number> {
    const answer = await request(`${bridge.admin}/weights/${encodeURIComponent(service)}`);
    const json = (await answer.body.json()) as { mesh: number; methods: Array<{ method?: string; mesh: number }> };
    if (method === undefined) return json.mesh;
    return json.methods.find((m) => m.method === method)?.mesh ?? json.mesh;
  }

  /** What ZooKeeper holds for a Dubbo interface under a category (URL-decoded znode names). */
  async registryNodes(service: string, category: 'providers' | 'configurators'): Promise<string[]> {
    const session = new ZkSession({ connectString: this.zk.connectString, sessionTimeoutMs: 4000, logger: silentLogger() });
    session.start();
    try {
      await session.whenConnected(10_000);
      const names = await session.getChildren(`/dubbo/${service}/${category}`).catch(() => [] as string[]);
      return names.map((n) => decodeURIComponent(n)).sort();
    } finally {
      await session.close();
    }
  }

  /** Every weight change the bridges' audit logs recorded for a service, in order per bridge, merged by time. */
  weightHistory(service: string, method?: string): Array<{ at: string; before: number; after: number; bridge: number; auth: string }> {
    const out: Array<{ at: string; before: number; after: number; bridge: number; auth: string }> = [];
    this.bridges.forEach((bridge, i) => {
      for (const e of bridge.logEntries()) {
        if (e.audit !== 'weight' || e.service !== service || (e.method ?? undefined) !== method) continue;
        out.push({ at: String(e.at), before: Number(e.before), after: Number(e.after), bridge: i, auth: String((e.who as { auth?: string } | undefined)?.auth) });
      }
    });
    return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  async stop(): Promise<void> {
    await Promise.all(this.traffic.map((t) => t.stop()));
    await Promise.all(this.runners.map((r) => r.stop()));
    for (const client of this.clients) client.close();
    for (const bridge of this.bridges) await bridge.stop();
    await this.registry?.close();
    for (const service of this.services.values()) await atMost(Promise.all([service.legacy.stop(), service.mesh.stop()]), 10_000);
    await this.zk?.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A few hundred calls straight to a provider, so its code is optimised before it is judged. */
async function warmUp(port: number, service: string, methods: string[]): Promise<void> {
  const client = await RawDubboClient.connect(port);
  try {
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        methods.flatMap((method) =>
          Array.from({ length: 10 }, () => client.call({ path: service, version: VERSION, method, parameterTypes: 'Ljava/lang/String;', args: ['x'] }).catch(() => undefined)),
        ),
      );
    }
  } finally {
    client.close();
  }
}


// `mesh-bridge cutover plan --playbook FILE [--graph FILE] [--json] [--out FILE]`: the waves of a
// migration with the reason for each service's place, and per step the calls its gate needs and
// the minimum hold the traffic implies; and the commands that act: `run` (a runner: waits to lead,
// then drives the weights), `status`, `pause`, `resume`, `approve`, `rollback` (through the run's
// state in ZooKeeper) and `export` (the bridges' weights as Istio or Dubbo override rules).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { MeshBridgeError } from '../../errors';
import { DependencyGraph, buildDependencyGraph, parseGraphInput } from '../../cutover-planner/dependency-graph';
import { CutoverPlan, PlannedStep, PlannedUnit, buildPlan, formatSeconds } from '../../cutover-planner/plan';
import { loadPlaybook } from '../../cutover-planner/playbook';
import { DEFAULT_RUN_TIMINGS, RunTimings } from '../../cutover-planner/run-plan';
import { BridgeClient } from '../../cutover-planner/runner/bridge-client';
import { ExportInstance, dubboOverrides, istioYaml } from '../../cutover-planner/runner/exports';
import { approvalCommands, formatStatus, readStatus, sendCommands } from '../../cutover-planner/runner/operator';
import { JsonLinesView, ProgressView, TerminalView } from '../../cutover-planner/runner/progress-view';
import { CUTOVER_ROOT, OperatorCommand, RunStore, checkRunId, runIdFromName } from '../../cutover-planner/runner/run-store';
import { CutoverRunner } from '../../cutover-planner/runner/runner';
import { loadAdminToken } from '../../bridge/admin-guard';
import type { Logger } from '../../telemetry/logger';
import { Registry } from '../../telemetry/metrics';
import { ZkSession } from '../../zookeeper-sync/zk-session';
import pino from 'pino';

export interface PlanOptions {
  playbook: string;
  graph?: string;
}

function loadGraph(file: string | undefined): DependencyGraph {
  if (file === undefined) return buildDependencyGraph({});
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MeshBridgeError('CUTOVER_BAD_GRAPH', `cannot read dependency graph ${file}: ${(err as Error).message}`, { where: file, cause: err });
  }
  return buildDependencyGraph(parseGraphInput(raw, file));
}

/** Reads the playbook (and graph) and builds the plan. */
export function planFromFiles(options: PlanOptions): CutoverPlan {
  return buildPlan(loadPlaybook(options.playbook), loadGraph(options.graph));
}

const percent = (share: number): string => `${Number((share * 100).toPrecision(3))} %`;

function gateLine(unit: PlannedUnit): string {
  const { settings, intervalSeconds, shadowMismatch, prometheus } = unit.gate;
  const parts: string[] = [];
  if (settings.errors) parts.push(`errors ${percent(settings.errors.baselineRate)} -> ${percent(settings.errors.detectRate)}`);
  if (settings.latency) parts.push(`latency x${settings.latency.detectSlowdown} (min delta ${settings.latency.minDelta})`);
  if (parts.length === 0) parts.push('no statistical tests');
  let line = `${parts.join(', ')}; alpha ${settings.alpha}, power ${settings.power}, judged every ${formatSeconds(intervalSeconds)}`;
  if (shadowMismatch) line += `; shadow mismatch <= ${shadowMismatch.maxRate} (not judged yet)`;
  if (prometheus) line += `; prometheus <= ${prometheus.max} (not judged yet)`;
  return line;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function stepRows(steps: PlannedStep[], indent: string): string[] {
  const rows = [`${indent}step  weight  hold      min hold  calls needed  notes`];
  for (const s of steps) {
    const flags = [s.approval ? 'approval' : '', s.freeze ? 'freeze' : '', s.weight >= 100 ? 'soak: nothing to compare at 100 %' : ''].filter(Boolean);
    if (s.note) flags.push(s.note);
    const calls = s.requiredCalls === null ? '-' : Number.isFinite(s.requiredCalls) ? s.requiredCalls.toLocaleString('en-US') : 'never';
    rows.push(
      `${indent}${pad(String(s.index + 1), 4)}  ${pad(`${s.weight} %`, 6, true)}  ${pad(s.holdSeconds === null ? '-' : formatSeconds(s.holdSeconds), 8)}  ` +
        `${pad(s.minimumHoldSeconds === null ? '-' : formatSeconds(s.minimumHoldSeconds), 8)}  ${pad(calls, 12, true)}  ${flags.join('; ')}`.trimEnd(),
    );
  }
  return rows;
}

function rate(unit: PlannedUnit): string {
  return unit.callsPerSecond === null ? 'call rate unknown' : `${unit.callsPerSecond} call/s (${unit.rateSource === 'traffic' ? 'observed' : 'playbook'})`;
}

/** The plan as a table a person can review. */
export function formatPlan(plan: CutoverPlan): string {
  const lines: string[] = [];
  const order = plan.order === 'providers_first' ? 'providers first' : 'callers first';
  lines.push(`Cutover plan "${plan.playbook}": ${plan.waves.length} wave${plan.waves.length === 1 ? '' : 's'}, ${order}, at most ${plan.maxServicesPerWave} services per wave`);
  for (const wave of plan.waves) {
    lines.push('', `Wave ${wave.number}${wave.approval ? ' (approval before it starts)' : ''}`);
    for (const service of wave.services) {
      lines.push(`  ${service.service}  ${service.kind}, ${rate(service)}`);
      lines.push(`    why: ${service.reason}`);
      lines.push(`    gate: ${gateLine(service)}`);
      const restores = service.rollback.restores.map((r) => r.replace('_', ' ')).join(' and ');
      lines.push(`    rollback: to ${service.rollback.to === 'zero' ? '0 %' : 'the last passed step'}, restoring ${restores}`);
      lines.push(...stepRows(service.steps, '    '));
      for (const canary of service.methodCanaries) {
        lines.push(`    method ${canary.method} moves ahead of the service: ${rate(canary)}`);
        lines.push(...stepRows(canary.steps, '      '));
      }
    }
  }
  if (plan.warnings.length > 0) lines.push('', 'Warnings:', ...plan.warnings.map((w) => `  - ${w}`));
  return lines.join('\n') + '\n';
}

/** JSON has no Infinity: a gate that can never be met at a weight says so with null. */
function toJson(plan: CutoverPlan): string {
  return JSON.stringify(plan, (_key, value: unknown) => (value === Infinity ? null : value), 2) + '\n';
}

export function cutoverCommand(): Command {
  const cutover = new Command('cutover').description('plan a migration in waves and judge each step mesh against legacy');
  cutover
    .command('plan')
    .description('print the waves, the reason for each service, and per step the minimum hold its traffic implies')
    .requiredOption('--playbook <file>', 'the playbook (YAML or JSON), see migration-playbooks/')
    .option('--graph <file>', 'the dependency graph (YAML or JSON): dubbo providers/consumers, eureka apps, traffic')
    .option('--json', 'print the plan as JSON')
    .option('--out <file>', 'also write the plan as YAML to this file')
    .action((opts: { playbook: string; graph?: string; json?: boolean; out?: string }) => {
      const plan = planFromFiles(opts);
      process.stdout.write(opts.json ? toJson(plan) : formatPlan(plan));
      if (opts.out) writeFileSync(opts.out, stringifyYaml(plan));
    });
  for (const command of runCommands()) cutover.addCommand(command);
  return cutover;
}

// ---- the commands that act ----

interface ZkOptions {
  zookeeper: string;
  run?: string;
  sessionTimeout: string;
}

function positiveNumber(name: string, raw: string): number {
  const value = Number(raw);
  if (!(value > 0) || !Number.isFinite(value)) throw new MeshBridgeError('CLI_USAGE', `${name} takes a positive number, got ${JSON.stringify(raw)}`, { value: raw, where: name });
  return value;
}

function stderrLogger(): Logger {
  return pino({ level: process.env.MESH_BRIDGE_LOG_LEVEL ?? 'warn', name: 'mesh-bridge-cutover' }, pino.destination(2));
}

async function openSession(options: ZkOptions, logger: Logger): Promise<ZkSession> {
  const session = new ZkSession({ connectString: options.zookeeper, sessionTimeoutMs: positiveNumber('--session-timeout', options.sessionTimeout), logger });
  session.start();
  try {
    await session.whenConnected(15_000);
  } catch (err) {
    await session.close();
    throw err;
  }
  return session;
}

/** The run named, or the only one recorded. */
async function storeFor(session: ZkSession, options: ZkOptions): Promise<RunStore> {
  if (options.run !== undefined) return new RunStore(session, checkRunId(options.run));
  const runs = await session.getChildren(CUTOVER_ROOT).catch(() => [] as string[]);
  if (runs.length === 1) return new RunStore(session, runs[0]);
  throw new MeshBridgeError('CLI_USAGE', runs.length === 0 ? `no cutover run in ZooKeeper ${options.zookeeper}` : `several runs are recorded, name one with --run: ${runs.sort().join(', ')}`, {
    value: runs.length,
    where: '--run',
  });
}

function withZk(command: Command): Command {
  return command
    .requiredOption('--zookeeper <connect>', 'ZooKeeper connect string (host:port[,host:port...]) holding the run state')
    .option('--run <id>', 'run id (default: the playbook name for run; the only recorded run otherwise)')
    .option('--session-timeout <ms>', 'ZooKeeper session timeout: how long a killed runner leads before another takes over', '10000');
}

async function withStore<T>(options: ZkOptions, act: (store: RunStore) => Promise<T>): Promise<T> {
  const session = await openSession(options, stderrLogger());
  try {
    return await act(await storeFor(session, options));
  } finally {
    await session.close();
  }
}

function bridgeClient(opts: { bridges: string; tokenFile?: string }): BridgeClient {
  const bridges = opts.bridges
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean)
    .map((b) => (/^https?:\/\//.test(b) ? b : `http://${b}`));
  const isUrl = (text: string): boolean => {
    try {
      return new URL(text).hostname !== '';
    } catch {
      return false;
    }
  };
  for (const bridge of bridges) {
    if (!isUrl(bridge)) throw new MeshBridgeError('CLI_USAGE', `--bridges takes admin API base URLs (http://host:port), got ${JSON.stringify(bridge)}`, { value: bridge, where: '--bridges' });
  }
  // The same rules as the bridge's own: a file, else MESH_BRIDGE_ADMIN_TOKEN; at least 16 characters.
  const token = loadAdminToken({ host: '127.0.0.1', tokenFile: opts.tokenFile });
  return new BridgeClient({ bridges, token });
}

interface RunOptions extends ZkOptions {
  playbook: string;
  graph?: string;
  bridges: string;
  tokenFile?: string;
  json?: boolean;
  maxHold?: string;
  retry?: string;
  promoteTimeout?: string;
  tickMs: string;
  metricsPort?: string;
}

/** The runner's metrics on 127.0.0.1:<port>/metrics, for the Prometheus that watches the migration. */
async function serveMetrics(registry: Registry, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new MeshBridgeError('LISTEN_FAILED', `cannot serve metrics on 127.0.0.1:${port}: ${err.message}`, { value: port, where: '--metrics-port', cause: err })));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

async function runCutover(opts: RunOptions): Promise<void> {
  const plan = planFromFiles(opts);
  const timings: RunTimings = {
    maxHoldSeconds: opts.maxHold ? positiveNumber('--max-hold', opts.maxHold) : DEFAULT_RUN_TIMINGS.maxHoldSeconds,
    retrySeconds: opts.retry ? positiveNumber('--retry', opts.retry) : DEFAULT_RUN_TIMINGS.retrySeconds,
    promoteTimeoutSeconds: opts.promoteTimeout ? positiveNumber('--promote-timeout', opts.promoteTimeout) : DEFAULT_RUN_TIMINGS.promoteTimeoutSeconds,
  };
  const bridges = bridgeClient(opts);
  const logger = stderrLogger();
  const metrics = new Registry();
  const metricsServer = opts.metricsPort ? await serveMetrics(metrics, positiveNumber('--metrics-port', opts.metricsPort)) : null;
  let session: ZkSession;
  try {
    session = await openSession(opts, logger);
  } catch (err) {
    metricsServer?.close();
    throw err;
  }
  const view: ProgressView = opts.json || !process.stdout.isTTY ? new JsonLinesView() : new TerminalView();
  let runner: CutoverRunner | null = null;
  const stop = (): void => runner?.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const store = new RunStore(session, opts.run !== undefined ? checkRunId(opts.run) : runIdFromName(plan.playbook));
    const record = await store.createOrCheck({ runId: store.runId, createdAt: Date.now(), timings, plan });
    runner = new CutoverRunner({
      session,
      store,
      record,
      bridges,
      owner: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      logger,
      onEvent: (event) => view.update(event),
      tickMs: positiveNumber('--tick-ms', opts.tickMs),
      metrics,
    });
    const outcome = await runner.run();
    // A halted run (a unit rolled back) is not a success: scripts see it.
    if (outcome === 'halted') process.exitCode = 3;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    view.close();
    metricsServer?.close();
    await session.close();
  }
}

function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? JSON.stringify(value) + '\n' : text);
}

function commandWait(raw: string): number {
  return positiveNumber('--wait', raw) * 1000;
}

function runCommands(): Command[] {
  const run = withZk(new Command('run'))
    .description('run a playbook against the bridges: waits to lead (one runner at a time), then moves weights step by step, judging each')
    .requiredOption('--playbook <file>', 'the playbook (YAML or JSON)')
    .option('--graph <file>', 'the dependency graph (YAML or JSON)')
    .requiredOption('--bridges <urls>', 'admin API base URLs of every bridge replica, comma-separated')
    .option('--token-file <file>', 'the bridges\' admin token (else MESH_BRIDGE_ADMIN_TOKEN)')
    .option('--json', 'one JSON line per event instead of progress bars')
    .option('--max-hold <seconds>', `a step still not judged this long after its hold pauses for a person (default ${DEFAULT_RUN_TIMINGS.maxHoldSeconds})`)
    .option('--retry <seconds>', `an unacknowledged weight change is sent again after this long (default ${DEFAULT_RUN_TIMINGS.retrySeconds})`)
    .option('--promote-timeout <seconds>', `a step not applied after this long rolls back (default ${DEFAULT_RUN_TIMINGS.promoteTimeoutSeconds})`)
    .option('--tick-ms <ms>', 'how often the leader looks at its units', '500')
    .option('--metrics-port <port>', 'serve the runner\'s Prometheus metrics (mesh_bridge_cutover_*) on 127.0.0.1:<port>/metrics')
    .action((opts: RunOptions) => runCutover(opts));

  const status = withZk(new Command('status'))
    .description('where a run stands: each unit\'s state, step, weight and last verdict, and which runner leads')
    .option('--json', 'print JSON')
    .action((opts: ZkOptions & { json?: boolean }) =>
      withStore(opts, async (store) => {
        const s = await readStatus(store);
        print(opts.json, s, formatStatus(s));
      }),
    );

  const operatorCommand = (name: string, description: string, build: (store: RunStore, unit: string | undefined, opts: Record<string, string | undefined>) => Promise<OperatorCommand[]>): Command =>
    withZk(new Command(name))
      .description(description)
      .argument('[unit]', 'a service, or service#method for a method canary (default: the whole run)')
      .option('--reason <text>', 'why, for the record', 'operator')
      .option('--wait <seconds>', 'how long to wait for the leading runner to take the command', '30')
      .option('--json', 'print JSON')
      .action((unit: string | undefined, opts: ZkOptions & { wait: string; json?: boolean } & Record<string, string | undefined>) =>
        withStore(opts, async (store) => {
          const commands = await build(store, unit, opts);
          await sendCommands(store, commands, commandWait(opts.wait));
          print(opts.json, { taken: commands }, `taken: ${commands.map((c) => `${c.type}${c.unit ? ` ${c.unit}` : ''}${c.type === 'approve' && c.wave !== undefined ? ` wave ${c.wave}` : ''}`).join(', ')}\n`);
        }),
      );

  const pause = operatorCommand('pause', 'pause a unit, or the whole run (no unit starts, none moves on)', async (_s, unit, o) => [{ type: 'pause', unit, reason: o.reason ?? 'operator' }]);
  const resume = operatorCommand('resume', 'resume a paused unit, or the whole run', async (_s, unit) => [{ type: 'resume', unit }]);
  const rollback = operatorCommand('rollback', 'roll a unit (or every active unit) back: weights, and so the registry exports that follow them', async (_s, unit, o) => [
    { type: 'rollback', unit, reason: o.reason ?? 'operator' },
  ]);
  const approve = operatorCommand('approve', 'approve the step a unit waits on, or the wave the run waits on', async (store, unit, o) => {
    const record = await store.readOrThrow();
    const wave = o.wave === undefined ? undefined : positiveNumber('--wave', o.wave);
    return approvalCommands(record, await readStatus(store), unit, wave);
  }).option('--wave <n>', 'approve this wave');

  const exportCommand = new Command('export')
    .description('the weights in force as Istio VirtualService/DestinationRule YAML, or as Dubbo override configurator URLs')
    .requiredOption('--format <format>', 'istio or dubbo')
    .requiredOption('--bridges <urls>', 'admin API base URLs of the bridges, comma-separated (the first that answers is read)')
    .option('--token-file <file>', 'the admin token, if reading needs one')
    .option('--namespace <ns>', 'Istio: the namespace of the resources', 'default')
    .option('--label <key>', 'Istio: the pod label that tells the stacks apart (its values: legacy, mesh)', 'mesh-bridge/stack')
    .option('--host-suffix <suffix>', 'Istio: appended to a service name to make its host', '')
    .option('--application <name>', 'Dubbo: the consumer application the overrides apply to (default: every consumer)')
    .action(async (opts: { format: string; bridges: string; tokenFile?: string; namespace: string; label: string; hostSuffix: string; application?: string }) => {
      if (opts.format !== 'istio' && opts.format !== 'dubbo') {
        throw new MeshBridgeError('CLI_USAGE', `--format is istio or dubbo, got ${JSON.stringify(opts.format)}`, { value: opts.format, where: '--format' });
      }
      const client = bridgeClient(opts);
      const weights = await client.listWeights();
      if (opts.format === 'istio') {
        process.stdout.write(istioYaml(weights, { namespace: opts.namespace, label: opts.label, hostSuffix: opts.hostSuffix }));
        return;
      }
      const instances = new Map<string, ExportInstance[]>();
      for (const service of new Set(weights.map((w) => w.service))) instances.set(service, await client.instancesOf(service));
      process.stdout.write(dubboOverrides(weights, instances, { application: opts.application }).join('\n') + '\n');
    });

  return [run, status, pause, resume, approve, rollback, exportCommand];
}

// `mesh-bridge cutover plan --playbook FILE [--graph FILE] [--json] [--out FILE]`: the waves of a
// migration with the reason for each service's place, and per step the calls its gate needs and
// the minimum hold the traffic implies. run/status/pause/resume/approve/rollback are not built yet.
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { MeshBridgeError } from '../../errors';
import { DependencyGraph, buildDependencyGraph, parseGraphInput } from '../../cutover-planner/dependency-graph';
import { CutoverPlan, PlannedStep, PlannedUnit, buildPlan, formatSeconds } from '../../cutover-planner/plan';
import { loadPlaybook } from '../../cutover-planner/playbook';

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

function notBuilt(name: string, description: string): Command {
  return new Command(name)
    .description(`${description} (not built yet)`)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new MeshBridgeError('CUTOVER_NOT_BUILT', `cutover ${name} is not built yet: only "cutover plan" is. Move weights through the admin API by hand meanwhile.`, { value: name });
    });
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
  cutover.addCommand(notBuilt('run', 'run a playbook against the bridges'));
  cutover.addCommand(notBuilt('status', 'show the progress of a run'));
  cutover.addCommand(notBuilt('pause', 'pause a run'));
  cutover.addCommand(notBuilt('resume', 'resume a paused run'));
  cutover.addCommand(notBuilt('approve', 'approve the step or wave a run waits on'));
  cutover.addCommand(notBuilt('rollback', 'roll a service back'));
  return cutover;
}

// The cutover runner: drives a plan's units (run-state.ts) against the bridges. Any number may
// run; one leads (ZooKeeper election under the run's leader/ node) and the others wait. The leader
// records each unit's new state (compare-and-set) before it acts, so a leader killed at any moment
// is replaced by one that reads the states and sends `recover`: a step in flight is finished under
// its recorded id, a rollback in flight re-issued. Every interval it scrapes every replica's call
// histograms, diffs them against the scrape taken when the step's hold began, and feeds the judge.
import type { Logger } from '../../telemetry/logger';
import { Registry, counter, gauge } from '../../telemetry/metrics';
import { isMeshBridgeError, MeshBridgeError } from '../../errors';
import { WriterElection } from '../../zookeeper-sync/writer-election';
import type { ZkSession } from '../../zookeeper-sync/zk-session';
import { DEFAULT_GATE, GateSettings, judgeService } from '../judge';
import type { PlannedUnit } from '../plan';
import { runProgress, RunProgress, unitId, unitSpecs } from '../run-plan';
import { initialState, transition, UnitAction, UnitEvent, UnitSpec, UnitState, UnitStatus } from '../run-state';
import { BridgeChangeError, BridgeClient, targetOf } from './bridge-client';
import { Snapshot, diffSnapshots, serviceWindow, sumSnapshots } from './call-histograms';
import { OperatorCommand, RunControl, RunRecord, RunStore, Versioned } from './run-store';

/** What the runner reports, as it happens: the progress view draws these, `--json` prints them. */
export type RunEvent =
  | { event: 'waiting'; runner: string; leader: string | null }
  | { event: 'leading'; runner: string; units: number }
  | { event: 'unit'; unit: string; status: UnitStatus; step: number; steps: number; weight: number; reason: string; appliedStepIds: string[] }
  | { event: 'apply'; unit: string; stepId: string; weight: number }
  | { event: 'applied'; unit: string; stepId: string; weight: number; unreachable: string[] }
  | { event: 'restore'; unit: string; rollbackId: string; weight: number }
  | { event: 'restored'; unit: string; rollbackId: string; weight: number; unreachable: string[] }
  | { event: 'bridge_error'; unit: string; message: string; permanent: boolean }
  | { event: 'verdict'; unit: string; step: number; verdict: string; reason: string; failedMethods: string[]; meshCalls: number; legacyCalls: number; moreCalls: number | null }
  | { event: 'scrape_failed'; message: string }
  | { event: 'notify'; unit: string; message: string }
  | { event: 'command'; command: OperatorCommand; result: 'done' | 'refused'; message: string }
  | { event: 'progress'; status: RunProgress['status']; wave: number | null; reason: string }
  | { event: 'done'; status: 'completed' | 'halted' | 'stopped'; reason: string };

export interface RunnerOptions {
  session: ZkSession;
  store: RunStore;
  record: RunRecord;
  bridges: BridgeClient;
  /** This runner's id in the election (unique per process). */
  owner: string;
  logger: Logger;
  onEvent?: (event: RunEvent) => void;
  /** How often the leader looks at its units (default 500 ms). */
  tickMs?: number;
  /** How long a weight change may take to show on every replica before it is retried later (default 10 s). */
  applyWaitMs?: number;
  /** Where the runner counts what it did and what went wrong (`mesh_bridge_cutover_*`). */
  metrics?: Registry;
}

/** The runner's Prometheus metrics: every event counted by kind (and by verdict or outcome). */
function runnerMetrics(registry: Registry) {
  return {
    events: counter(registry, 'mesh_bridge_cutover_events_total', 'Cutover runner events by kind (apply, applied, restore, restored, bridge_error, scrape_failed, command ...)', ['event']),
    verdicts: counter(registry, 'mesh_bridge_cutover_verdicts_total', 'Gate verdicts by outcome', ['verdict']),
    conflicts: counter(registry, 'mesh_bridge_cutover_state_conflicts_total', 'Unit states changed under this runner (another runner wrote): state read again'),
    turnFailures: counter(registry, 'mesh_bridge_cutover_turn_failures_total', 'Leader turns that failed (ZooKeeper unreachable, ...) and were tried again'),
    leader: gauge(registry, 'mesh_bridge_cutover_leader', '1 while this runner leads its run'),
  };
}

export type RunOutcome = 'completed' | 'halted' | 'stopped';

interface Baseline {
  /** The hold it belongs to: step index and hold start. */
  key: string;
  at: number;
  snapshots: Snapshot[];
}

const ACTIVE_EXCLUDED: ReadonlySet<UnitStatus> = new Set(['pending', 'completed', 'rolled_back']);

export class CutoverRunner {
  private readonly specs = new Map<string, UnitSpec>();
  private readonly planned = new Map<string, PlannedUnit>();
  /** Methods with canaries of their own, per service: the service's gate leaves them out. */
  private readonly canaryMethods = new Map<string, Set<string>>();
  private readonly election: WriterElection;
  private units = new Map<string, Versioned<UnitState>>();
  private control: Versioned<RunControl> = { value: { approvedWaves: [], paused: false }, version: -1 };
  private loaded = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly baselines = new Map<string, Baseline>();
  private readonly lastJudged = new Map<string, number>();
  private lastProgress = '';
  private lastTurnFailure: string | null = null;
  private readonly tickMs: number;
  private readonly applyWaitMs: number;
  private readonly metrics: ReturnType<typeof runnerMetrics> | null;

  constructor(private readonly options: RunnerOptions) {
    const { plan, timings } = options.record;
    for (const spec of unitSpecs(plan, timings)) this.specs.set(spec.unit, spec);
    for (const wave of plan.waves) {
      for (const service of wave.services) {
        this.planned.set(unitId(service), service);
        for (const canary of service.methodCanaries) this.planned.set(unitId(canary), canary);
        this.canaryMethods.set(service.service, new Set(service.methodCanaries.map((c) => c.method as string)));
      }
    }
    this.tickMs = options.tickMs ?? 500;
    this.applyWaitMs = options.applyWaitMs ?? 10_000;
    this.election = new WriterElection({
      session: options.session,
      owner: options.owner,
      logger: options.logger,
      dir: options.store.leaderDir,
      role: `leads cutover run ${options.store.runId}`,
    });
    this.metrics = options.metrics ? runnerMetrics(options.metrics) : null;
    this.election.on('change', (leader) => {
      this.metrics?.leader.set(leader ? 1 : 0);
      this.wake?.();
    });
  }

  /**
   * Leading, and still connected: a runner cut off from ZooKeeper may already have been replaced
   * (its session expired on the server before it hears so), so it changes nothing meanwhile.
   */
  private leading(): boolean {
    return this.election.isLeader && this.options.session.connected;
  }

  private emit(event: RunEvent): void {
    if (this.metrics) {
      this.metrics.events.inc({ event: event.event });
      if (event.event === 'verdict') this.metrics.verdicts.inc({ verdict: event.verdict });
    }
    this.options.onEvent?.(event);
  }

  /** Ends run() at the next turn and leaves the election, so a waiting runner takes over. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
  }

  /** Waits to lead, then drives the run until it completes, halts with nothing left to do, or stop(). */
  async run(): Promise<RunOutcome> {
    this.election.start();
    // Say "waiting" only once the election says so, not while this runner is still joining it.
    await Promise.race([this.election.whenDecided(), new Promise<void>((resolve) => (this.wake = resolve))]);
    this.wake = null;
    let waitingSaid = false;
    try {
      while (!this.stopped) {
        if (!this.election.isLeader) {
          this.loaded = false;
          if (!waitingSaid) {
            waitingSaid = true;
            this.emit({ event: 'waiting', runner: this.options.owner, leader: this.election.leaderOwner });
          }
          await this.pause(this.tickMs * 4);
          continue;
        }
        waitingSaid = false;
        try {
          if (!this.loaded) await this.takeOver();
          const outcome = await this.leadTick(Date.now());
          this.lastTurnFailure = null;
          if (outcome !== null) return outcome;
        } catch (err) {
          if (isMeshBridgeError(err) && err.code === 'CUTOVER_STATE_CONFLICT') {
            // Someone else wrote: read everything again before acting once more.
            this.metrics?.conflicts.inc();
            this.options.logger.error({ err }, 'cutover state changed under this runner; reading it again');
            this.loaded = false;
          } else {
            this.metrics?.turnFailures.inc();
            // Once per distinct failure: a ZooKeeper away for a minute is not 120 log lines.
            const message = (err as Error).message;
            if (message !== this.lastTurnFailure) this.options.logger.error({ err }, 'cutover runner turn failed; trying again each turn');
            this.lastTurnFailure = message;
          }
        }
        await this.pause(this.tickMs);
      }
      this.emit({ event: 'done', status: 'stopped', reason: 'runner stopped' });
      return 'stopped';
    } finally {
      await this.election.stop();
    }
  }

  /** A new leader: read the recorded states and finish whatever was in flight. */
  private async takeOver(): Promise<void> {
    this.units = await this.options.store.readUnits();
    this.control = await this.options.store.readControl();
    this.baselines.clear();
    this.lastJudged.clear();
    this.loaded = true;
    this.emit({ event: 'leading', runner: this.options.owner, units: this.units.size });
    for (const [unit, { value }] of this.units) {
      if (!this.specs.has(unit)) continue;
      this.emitUnit(value);
      await this.send(unit, { type: 'recover' }, Date.now());
    }
  }

  private emitUnit(state: UnitState): void {
    const spec = this.specs.get(state.unit)!;
    const index = state.stepIndex;
    this.emit({
      event: 'unit',
      unit: state.unit,
      status: state.status,
      step: index + 1,
      steps: spec.steps.length,
      weight: state.rollback && (state.status === 'rolling_back' || state.status === 'rolled_back') ? state.rollback.weight : index >= 0 ? spec.steps[index].weight : 0,
      reason: state.reason,
      appliedStepIds: state.appliedStepIds,
    });
  }

  private stateOf(unit: string, now: number): Versioned<UnitState> {
    return this.units.get(unit) ?? { value: initialState(this.specs.get(unit)!, now), version: -1 };
  }

  /** Feeds one event to a unit: records the new state first, then acts. */
  private async send(unit: string, event: UnitEvent, now: number): Promise<void> {
    const spec = this.specs.get(unit)!;
    const current = this.stateOf(unit, now);
    const result = transition(spec, current.value, event, now);
    if (result.state !== current.value) {
      // Not leading (or cut off): the turn ends here, nothing recorded, nothing done.
      if (!this.leading()) throw new MeshBridgeError('ZK_UNAVAILABLE', `not leading run ${this.options.store.runId} with a live ZooKeeper session: ${unit} left as recorded`, { where: unit });
      const version = await this.options.store.writeUnit(result.state, current.version);
      this.units.set(unit, { value: result.state, version });
      this.emitUnit(result.state);
    }
    for (const action of result.actions) await this.perform(action);
  }

  private async perform(action: UnitAction): Promise<void> {
    if (action.type === 'notify') {
      this.emit({ event: 'notify', unit: action.unit, message: action.message });
      return;
    }
    // A runner that lost the lead changes nothing: the new leader re-sends what is in flight.
    if (!this.leading() || this.stopped) return;
    const target = targetOf(action.unit);
    if (action.type === 'apply_weight') this.emit({ event: 'apply', unit: action.unit, stepId: action.stepId, weight: action.weight });
    else this.emit({ event: 'restore', unit: action.unit, rollbackId: action.rollbackId, weight: action.weight });
    try {
      // Registry exports follow the weight on every bridge: restoring the weight restores them.
      await this.options.bridges.setWeight(target, action.weight);
    } catch (err) {
      const permanent = err instanceof BridgeChangeError && err.permanent;
      this.emit({ event: 'bridge_error', unit: action.unit, message: (err as Error).message, permanent });
      if (permanent && action.type === 'apply_weight') await this.send(action.unit, { type: 'apply_failed', stepId: action.stepId, error: (err as Error).message }, Date.now());
      // Otherwise the state machine sends it again after retrySeconds (a rollback forever, until it lands).
      return;
    }
    const { applied, unreachable } = await this.options.bridges.waitApplied(target, action.weight, Date.now() + this.applyWaitMs);
    if (!applied) {
      this.emit({ event: 'bridge_error', unit: action.unit, message: `the replicas did not all show ${action.weight} % within ${this.applyWaitMs} ms`, permanent: false });
      return;
    }
    if (action.type === 'apply_weight') {
      this.emit({ event: 'applied', unit: action.unit, stepId: action.stepId, weight: action.weight, unreachable });
      await this.send(action.unit, { type: 'applied', stepId: action.stepId }, Date.now());
    } else {
      this.emit({ event: 'restored', unit: action.unit, rollbackId: action.rollbackId, weight: action.weight, unreachable });
      await this.send(action.unit, { type: 'restored', rollbackId: action.rollbackId }, Date.now());
    }
  }

  private statusMap(): Map<string, UnitState> {
    return new Map([...this.units].map(([unit, v]) => [unit, v.value]));
  }

  private activeUnits(): string[] {
    return [...this.units.values()].filter((v) => this.specs.has(v.value.unit) && !ACTIVE_EXCLUDED.has(v.value.status)).map((v) => v.value.unit);
  }

  /** One turn of the leader; returns the run's outcome once there is nothing left to do. */
  private async leadTick(now: number): Promise<RunOutcome | null> {
    for (const { name, command } of await this.options.store.commands()) {
      await this.execute(command, now);
      await this.options.store.removeCommand(name);
    }
    const progress = runProgress(this.options.record.plan, this.statusMap(), new Set(this.control.value.approvedWaves));
    const summary = `${progress.status}|${progress.wave}|${progress.reason}`;
    if (summary !== this.lastProgress) {
      this.lastProgress = summary;
      this.emit({ event: 'progress', status: progress.status, wave: progress.wave, reason: progress.reason });
    }
    if (!this.control.value.paused) for (const unit of progress.startable) await this.send(unit, { type: 'start' }, now);
    for (const unit of this.activeUnits()) await this.send(unit, { type: 'tick' }, now);
    await this.judge(now);
    if (this.activeUnits().length > 0) return null;
    if (progress.status === 'completed') {
      this.emit({ event: 'done', status: 'completed', reason: progress.reason });
      return 'completed';
    }
    if (progress.status === 'halted') {
      this.emit({ event: 'done', status: 'halted', reason: progress.reason });
      return 'halted';
    }
    return null;
  }

  /** Units holding a step with two stacks to compare: due for a look every gate interval. */
  private async judge(now: number): Promise<void> {
    const due: Array<{ unit: string; state: UnitState; baselineKey: string }> = [];
    for (const unit of this.activeUnits()) {
      const state = this.units.get(unit)!.value;
      if (state.status !== 'holding' || state.holdStartedAt === null) continue;
      const weight = this.specs.get(unit)!.steps[state.stepIndex].weight;
      if (weight <= 0 || weight >= 100) continue;
      const baselineKey = `${state.stepIndex}:${state.holdStartedAt}`;
      const interval = this.planned.get(unit)!.gate.intervalSeconds * 1000;
      const baseline = this.baselines.get(unit);
      if (baseline?.key === baselineKey && now - (this.lastJudged.get(unit) ?? 0) < interval) continue;
      due.push({ unit, state, baselineKey });
    }
    if (due.length === 0) return;
    let snapshots: Snapshot[];
    try {
      snapshots = await this.options.bridges.scrape();
    } catch (err) {
      // A look without every replica would judge part of the traffic: skip it, try again next turn.
      this.emit({ event: 'scrape_failed', message: (err as Error).message });
      return;
    }
    const at = Date.now();
    for (const { unit, state, baselineKey } of due) {
      const baseline = this.baselines.get(unit);
      this.lastJudged.set(unit, at);
      if (baseline?.key !== baselineKey) {
        // The hold's first scrape: the window starts here.
        this.baselines.set(unit, { key: baselineKey, at, snapshots });
        continue;
      }
      await this.judgeUnit(unit, state, baseline, snapshots, at);
    }
  }

  private async judgeUnit(unit: string, state: UnitState, baseline: Baseline, snapshots: Snapshot[], at: number): Promise<void> {
    const planned = this.planned.get(unit)!;
    const spec = this.specs.get(unit)!;
    const step = spec.steps[state.stepIndex];
    const diff = sumSnapshots(snapshots.map((s, i) => diffSnapshots(baseline.snapshots[i], s)));
    let window = serviceWindow(diff, planned.service, planned.method, baseline.at, at, step.weight);
    if (planned.method === null) {
      // Methods moving on their own canaries are judged there, at their own weights.
      const own = this.canaryMethods.get(planned.service);
      if (own && own.size > 0) window = { ...window, methods: window.methods.filter((m) => !own.has(m.method)) };
    }
    const looks = step.holdSeconds ? Math.max(1, Math.ceil(step.holdSeconds / planned.gate.intervalSeconds)) : 1;
    const settings: GateSettings = { ...DEFAULT_GATE, ...planned.gate.settings, looks };
    let verdict;
    try {
      verdict = judgeService(window, settings, at);
    } catch (err) {
      if (!(err instanceof MeshBridgeError)) throw err;
      this.emit({ event: 'scrape_failed', message: err.message });
      return;
    }
    this.emit({
      event: 'verdict',
      unit,
      step: state.stepIndex + 1,
      verdict: verdict.verdict,
      reason: verdict.reason,
      failedMethods: verdict.failedMethods,
      meshCalls: verdict.aggregate.meshCalls,
      legacyCalls: verdict.aggregate.legacyCalls,
      moreCalls: Number.isFinite(verdict.aggregate.moreCalls) ? verdict.aggregate.moreCalls : null,
    });
    await this.send(unit, { type: 'verdict', verdict: verdict.verdict, reason: verdict.reason }, at);
  }

  /** An operator's command; one that does not fit a unit's state is reported, not fatal. */
  private async execute(command: OperatorCommand, now: number): Promise<void> {
    const refused: string[] = [];
    const each = async (units: string[], event: UnitEvent): Promise<void> => {
      for (const unit of units) {
        try {
          await this.send(unit, event, now);
        } catch (err) {
          if (!isMeshBridgeError(err) || err.code !== 'CUTOVER_BAD_COMMAND') throw err;
          refused.push(err.message);
        }
      }
    };
    const named = (unit: string | undefined): string[] | null => {
      if (unit === undefined) return null;
      if (!this.specs.has(unit)) {
        refused.push(`no unit ${unit} in this run`);
        return [];
      }
      return [unit];
    };
    const active = (): string[] => this.activeUnits();
    const setControl = async (change: Partial<RunControl>): Promise<void> => {
      const value = { ...this.control.value, ...change };
      const version = await this.options.store.writeControl(value, this.control.version);
      this.control = { value, version };
    };
    switch (command.type) {
      case 'pause':
        if (command.unit === undefined) await setControl({ paused: true });
        await each(named(command.unit) ?? active().filter((u) => this.units.get(u)!.value.status !== 'rolling_back' && this.units.get(u)!.value.status !== 'paused'), { type: 'pause', reason: command.reason });
        break;
      case 'resume':
        if (command.unit === undefined) await setControl({ paused: false });
        await each(named(command.unit) ?? active().filter((u) => this.units.get(u)!.value.status === 'paused'), { type: 'resume' });
        break;
      case 'approve':
        if (command.wave !== undefined && !this.control.value.approvedWaves.includes(command.wave)) await setControl({ approvedWaves: [...this.control.value.approvedWaves, command.wave] });
        if (command.unit !== undefined) await each(named(command.unit) ?? [], { type: 'approve', stepId: command.stepId });
        break;
      case 'rollback':
        await each(named(command.unit) ?? active().filter((u) => this.units.get(u)!.value.status !== 'rolling_back'), { type: 'rollback', reason: command.reason });
        break;
    }
    this.emit({ event: 'command', command, result: refused.length > 0 ? 'refused' : 'done', message: refused.join('; ') });
  }
}

// The cutover plan: a playbook applied to the dependency graph. Waves with the reason for each
// service's place, every step with its settings resolved, and per step the calls the gate needs
// and the minimum hold time the service's (or method's) traffic implies. Pure.
import { MeshBridgeError } from '../errors';
import { DependencyGraph } from './dependency-graph';
import { GateOverride, Playbook, PlaybookService, PlaybookStep, ResolvedGate, RollbackSettings, resolveGate } from './playbook';
import { gateRequirement, lognormalSlowdownDelta } from './sample-size';
import { WaveOrder, planWaves } from './waves';

export interface PlannedStep {
  /** 0-based position in its unit's steps. */
  index: number;
  /** Mesh weight, percent. */
  weight: number;
  holdSeconds: number | null;
  approval: boolean;
  freeze: boolean;
  /** Calls (both stacks) the gate needs at this weight; null at 0 % and 100 % where nothing is compared. */
  requiredCalls: number | null;
  /** requiredCalls at the unit's call rate; null without a rate or a comparison. */
  minimumHoldSeconds: number | null;
  /** Set when the configured hold is shorter than the minimum: the step will hold longer. */
  note: string | null;
}

export interface PlannedUnit {
  service: string;
  /** null for the service; a method name for a per-method canary. */
  method: string | null;
  callsPerSecond: number | null;
  rateSource: 'playbook' | 'traffic' | null;
  steps: PlannedStep[];
  gate: ResolvedGate;
}

export interface PlannedService extends PlannedUnit {
  method: null;
  kind: PlaybookService['kind'];
  wave: number;
  reason: string;
  cycle: string[];
  rollback: RollbackSettings;
  /** Per-method canaries, each moving ahead of the service through its own steps. */
  methodCanaries: PlannedUnit[];
}

export interface PlannedWave {
  number: number;
  /** A person approves before the wave starts. */
  approval: boolean;
  services: PlannedService[];
}

export interface CutoverPlan {
  playbook: string;
  order: WaveOrder;
  maxServicesPerWave: number;
  waves: PlannedWave[];
  /** Things a reviewer should see: holds shorter than the traffic needs, unknown rates. */
  warnings: string[];
}

function invalid(message: string, where: string, value: unknown): MeshBridgeError {
  return new MeshBridgeError('PLAYBOOK_INVALID', message, { where, value });
}

function checkGate(gate: ResolvedGate, where: string): void {
  const { errors, latency } = gate.settings;
  if (errors && !(errors.detectRate > errors.baselineRate)) {
    throw invalid(`${where}.errors: detectRate (${errors.detectRate}) must exceed baselineRate (${errors.baselineRate})`, `${where}.errors.detectRate`, errors.detectRate);
  }
  if (latency) {
    const delta = lognormalSlowdownDelta(latency.detectSlowdown, latency.assumedLogSpread);
    if (!(delta > latency.minDelta)) {
      throw invalid(
        `${where}.latency: a ${latency.detectSlowdown}x slowdown is a delta of ${delta.toFixed(3)} at log spread ${latency.assumedLogSpread}, not above minDelta ${latency.minDelta}: the gate could never fail on it`,
        `${where}.latency.minDelta`,
        latency.minDelta,
      );
    }
    if (!(latency.detectSlowdown > 1 + latency.minTailIncrease)) {
      throw invalid(
        `${where}.latency: minTailIncrease ${latency.minTailIncrease} is not below the ${latency.detectSlowdown}x slowdown to catch: the tail test could never fail on it`,
        `${where}.latency.minTailIncrease`,
        latency.minTailIncrease,
      );
    }
  }
}

function planSteps(unit: string, steps: PlaybookStep[], gate: ResolvedGate, scopes: number, callsPerSecond: number | null, warnings: string[]): PlannedStep[] {
  return steps.map((s, index) => {
    const holdSeconds = s.hold ?? null;
    let requiredCalls: number | null = null;
    let minimumHoldSeconds: number | null = null;
    let note: string | null = null;
    if (s.weight > 0 && s.weight < 100 && (gate.settings.errors || gate.settings.latency)) {
      const looks = holdSeconds ? Math.max(1, Math.ceil(holdSeconds / gate.intervalSeconds)) : 1;
      const alpha = gate.settings.alpha / (looks * scopes);
      const requirement = gateRequirement(s.weight / 100, gate.settings.errors, gate.settings.latency, alpha, gate.settings.power, callsPerSecond);
      requiredCalls = requirement.calls;
      minimumHoldSeconds = requirement.holdSeconds;
      if (minimumHoldSeconds !== null && holdSeconds !== null && minimumHoldSeconds > holdSeconds) {
        note = `hold ${formatSeconds(holdSeconds)} is shorter than the ${formatSeconds(minimumHoldSeconds)} the traffic needs: the step holds until the calls are in`;
        warnings.push(`${unit} step ${index + 1} (${s.weight} %): ${note}`);
      }
    }
    return { index, weight: s.weight, holdSeconds, approval: s.approval, freeze: s.freeze, requiredCalls, minimumHoldSeconds, note };
  });
}

/** Builds the plan; throws PLAYBOOK_INVALID for settings that cannot work together. */
export function buildPlan(playbook: Playbook, graph: DependencyGraph): CutoverPlan {
  const warnings: string[] = [];
  const names = playbook.services.map((s) => s.name);
  const waves = planWaves(graph, names, playbook.order, playbook.maxServicesPerWave);
  const byName = new Map(playbook.services.map((s, i) => [s.name, { service: s, index: i }]));
  const waveOverrides = new Map(playbook.waves.map((w, i) => [w.wave, { wave: w, index: i }]));
  for (const [number, { index }] of waveOverrides) {
    if (number > waves.length) throw invalid(`waves.${index}: wave ${number} is configured but the plan has ${waves.length} waves`, `waves.${index}.wave`, number);
  }
  const planned: PlannedWave[] = waves.map((wave) => {
    const override = waveOverrides.get(wave.number)?.wave;
    const services = wave.services.map((placed): PlannedService => {
      const { service, index } = byName.get(placed.service)!;
      const layers: GateOverride[] = [playbook.defaults.gate, override?.gate ?? {}, service.gate ?? {}];
      const gate = resolveGate(...layers);
      checkGate(gate, `services.${index}.gate`);
      const observed = graph.inboundCallsPerSecond.get(service.name);
      const callsPerSecond = service.callsPerSecond ?? observed ?? null;
      const rateSource = service.callsPerSecond !== undefined ? 'playbook' : observed !== undefined ? 'traffic' : null;
      if (callsPerSecond === null) warnings.push(`${service.name}: no call rate (set callsPerSecond or give a graph with traffic): minimum holds unknown`);
      const scopes = service.methods.length > 1 ? service.methods.length + 1 : 1;
      const steps = service.steps ?? override?.steps ?? playbook.defaults.steps;
      const methodCanaries = service.methods
        .filter((m) => m.steps)
        .map((m, j): PlannedUnit => {
          const methodGate = resolveGate(...layers, m.gate ?? {});
          checkGate(methodGate, `services.${index}.methods.${j}.gate`);
          const rate = m.callsPerSecond ?? null;
          const unit = `${service.name}#${m.name}`;
          if (rate === null) warnings.push(`${unit}: no call rate: minimum holds unknown`);
          return { service: service.name, method: m.name, callsPerSecond: rate, rateSource: rate === null ? null : 'playbook', steps: planSteps(unit, m.steps!, methodGate, 1, rate, warnings), gate: methodGate };
        });
      return {
        service: service.name,
        method: null,
        kind: service.kind,
        wave: wave.number,
        reason: placed.reason,
        cycle: placed.cycle,
        callsPerSecond,
        rateSource,
        steps: planSteps(service.name, steps, gate, scopes, callsPerSecond, warnings),
        gate,
        rollback: { ...playbook.defaults.rollback, ...service.rollback },
        methodCanaries,
      };
    });
    return { number: wave.number, approval: override?.approval ?? (playbook.approvalBetweenWaves && wave.number > 1), services };
  });
  return { playbook: playbook.name, order: playbook.order, maxServicesPerWave: playbook.maxServicesPerWave, waves: planned, warnings };
}

/** 90 -> "1m30s", 3600 -> "1h", 45 -> "45s". */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', rest || s === 0 ? `${rest}s` : ''].join('');
}

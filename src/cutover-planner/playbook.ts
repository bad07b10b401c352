// Migration playbooks (migration-playbooks/*.yaml): how the services of a migration move, wave by
// wave and step by step. One zod schema; a bad file fails with the key path of every bad entry.
// Settings layer: the playbook's defaults, then the wave's, then the service's, then a method's.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MeshBridgeError } from '../errors';
import { DEFAULT_GATE, GateSettings } from './judge';
import { parseOrThrow } from './schema-errors';

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** A duration: seconds as a number, or "90s", "30m", "1.5h", "500ms". */
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const match = typeof value === 'string' ? DURATION.exec(value) : null;
  const seconds = typeof value === 'number' ? value : match ? Number(match[1]) * UNIT_SECONDS[match[2]] : NaN;
  if (!(seconds > 0) || seconds === Infinity) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 90s, 30m or 1h (or seconds), got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return seconds;
});

const percent = z.number().min(0).max(100);
const share = z.number().gt(0).lt(1);

const step = z
  .object({
    /** The mesh weight of this step, percent of calls. */
    weight: percent,
    /** How long the step is held and judged before the next; required below 100 %. */
    hold: duration.optional(),
    /** A person approves (`cutover approve`) before this step is applied. */
    approval: z.boolean().default(false),
    /**
     * Once this step is applied, a failing gate does not roll back automatically: the run pauses
     * for a person (a step after an irreversible data migration, say).
     */
    freeze: z.boolean().default(false),
  })
  .strict();

const errorGate = z
  .object({
    /** The legacy error rate per call the sample sizes assume. */
    baselineRate: z.number().min(0).lt(1),
    /** The mesh error rate the gate must catch. */
    detectRate: share,
    /** The mesh rate must be this multiple of the legacy rate to fail a step. */
    minRatio: z.number().min(1),
  })
  .strict();

const latencyGate = z
  .object({
    /** The uniform slowdown to catch: 1.3 is +30 % at every percentile. */
    detectSlowdown: z.number().gt(1),
    /** Cliff's delta the mesh must reach to fail a step on latency. */
    minDelta: z.number().min(0).lt(1),
    /** σ of ln(latency) assumed for planning, before the legacy stack's samples are known. */
    assumedLogSpread: z.number().positive(),
    minSamples: z.number().int().min(1),
    /** The quantile the tail test watches (0.99: the p99). */
    tailQuantile: z.number().gt(0.5).lt(1),
    /** The mesh's tail quantile must be this much higher (0.1: +10 %) to fail a step on it. */
    minTailIncrease: z.number().min(0),
  })
  .strict();

const gateFields = {
  /** How often the runner judges a held step. */
  interval: duration,
  alpha: share,
  power: z.number().gt(0.5).lt(1),
  /** false turns the error tests off. */
  errors: z.union([errorGate.partial(), z.literal(false)]),
  /** false turns the latency test off. */
  latency: z.union([latencyGate.partial(), z.literal(false)]),
  /** Optional: the sidecar's shadow comparison, once mirroring exists (not judged yet). */
  shadowMismatch: z.object({ maxRate: z.number().min(0).max(1) }).strict(),
  /** Optional: a PromQL query a team already alerts on; the step fails when it exceeds `max` (not judged yet). */
  prometheus: z.object({ query: z.string().min(1), max: z.number() }).strict(),
};
const gateOverride = z.object(gateFields).partial().strict();

const rollback = z
  .object({
    /** What a rollback puts back: route weights, and the registry exports made for the mesh stack. */
    restores: z.array(z.enum(['weights', 'registry_exports'])).min(1),
    /** Back to 0 % (the legacy stack alone), or to the last step whose gate passed. */
    to: z.enum(['zero', 'last_passed_step']),
  })
  .strict();

const steps = z.array(step).min(1);

const method = z
  .object({
    name: z.string().min(1),
    /** Calls per second this method serves, for the plan's hold times. */
    callsPerSecond: z.number().positive().optional(),
    /** The method's own canary: it moves through these steps ahead of its service. */
    steps: steps.optional(),
    gate: gateOverride.optional(),
  })
  .strict();

const service = z
  .object({
    /** The Dubbo interface or Eureka app name, as in the bridge's routes. */
    name: z.string().min(1),
    kind: z.enum(['dubbo', 'spring_cloud']),
    /** Calls per second, for the plan's hold times; else the graph's observed rate. */
    callsPerSecond: z.number().positive().optional(),
    steps: steps.optional(),
    gate: gateOverride.optional(),
    rollback: rollback.partial().optional(),
    methods: z.array(method).default([]),
  })
  .strict();

const waveOverride = z
  .object({
    /** The wave number (1-based) as planned. */
    wave: z.number().int().min(1),
    /** A person approves before the wave starts. */
    approval: z.boolean().optional(),
    steps: steps.optional(),
    gate: gateOverride.optional(),
  })
  .strict();

export const playbookSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    /** providers_first: a service moves after the services it calls; callers_first: the reverse. */
    order: z.enum(['providers_first', 'callers_first']).default('providers_first'),
    maxServicesPerWave: z.number().int().min(1).default(5),
    /** A person approves before each wave after the first. */
    approvalBetweenWaves: z.boolean().default(true),
    defaults: z
      .object({
        steps,
        gate: gateOverride.default({}),
        rollback: rollback.default({ restores: ['weights', 'registry_exports'], to: 'zero' }),
      })
      .strict(),
    waves: z.array(waveOverride).default([]),
    services: z.array(service).min(1),
  })
  .strict()
  .superRefine((playbook, ctx) => {
    const checkSteps = (list: z.infer<typeof steps> | undefined, path: (string | number)[]): void => {
      if (!list) return;
      list.forEach((s, i) => {
        if (i > 0 && s.weight <= list[i - 1].weight) {
          ctx.addIssue({ code: 'custom', path: [...path, i, 'weight'], message: `weights rise step by step: ${s.weight} after ${list[i - 1].weight}` });
        }
        if (s.weight < 100 && s.hold === undefined) ctx.addIssue({ code: 'custom', path: [...path, i, 'hold'], message: 'required below 100 %: how long the step is judged' });
      });
    };
    checkSteps(playbook.defaults.steps, ['defaults', 'steps']);
    const seenWaves = new Set<number>();
    playbook.waves.forEach((w, i) => {
      if (seenWaves.has(w.wave)) ctx.addIssue({ code: 'custom', path: ['waves', i, 'wave'], message: `wave ${w.wave} is configured twice` });
      seenWaves.add(w.wave);
      checkSteps(w.steps, ['waves', i, 'steps']);
    });
    const seenServices = new Set<string>();
    playbook.services.forEach((s, i) => {
      if (seenServices.has(s.name)) ctx.addIssue({ code: 'custom', path: ['services', i, 'name'], message: `service ${s.name} is listed twice` });
      seenServices.add(s.name);
      checkSteps(s.steps, ['services', i, 'steps']);
      const seenMethods = new Set<string>();
      s.methods.forEach((m, j) => {
        if (seenMethods.has(m.name)) ctx.addIssue({ code: 'custom', path: ['services', i, 'methods', j, 'name'], message: `method ${m.name} is listed twice` });
        seenMethods.add(m.name);
        if (m.steps && s.kind !== 'dubbo') ctx.addIssue({ code: 'custom', path: ['services', i, 'methods', j, 'steps'], message: 'per-method canaries are for Dubbo services' });
        checkSteps(m.steps, ['services', i, 'methods', j, 'steps']);
      });
    });
  });

export type Playbook = z.output<typeof playbookSchema>;
export type PlaybookService = Playbook['services'][number];
export type PlaybookStep = z.output<typeof step>;
export type GateOverride = z.output<typeof gateOverride>;
export type RollbackSettings = z.output<typeof rollback>;

/** Validates a parsed playbook; throws PLAYBOOK_INVALID naming every bad key. */
export function validatePlaybook(raw: unknown, file = '<playbook>'): Playbook {
  return parseOrThrow(playbookSchema, raw, 'PLAYBOOK_INVALID', `playbook ${file}`);
}

/** Reads and validates a YAML (or JSON) playbook file. */
export function loadPlaybook(file: string): Playbook {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeshBridgeError('PLAYBOOK_INVALID', `cannot read playbook ${file}: ${(err as Error).message}`, { where: file, cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new MeshBridgeError('PLAYBOOK_INVALID', `playbook ${file} is not valid YAML: ${(err as Error).message}`, { where: file, cause: err });
  }
  return validatePlaybook(raw, file);
}

/** A gate with every layer applied: the judge's settings, plus the interval and the optional gates. */
export interface ResolvedGate {
  intervalSeconds: number;
  settings: Omit<GateSettings, 'looks'>;
  shadowMismatch: { maxRate: number } | null;
  prometheus: { query: string; max: number } | null;
}

const DEFAULT_INTERVAL_SECONDS = 60;

/** Applies gate overrides in order (later wins; errors and latency merge field by field). */
export function resolveGate(...layers: Array<GateOverride | undefined>): ResolvedGate {
  let errors: GateSettings['errors'] = DEFAULT_GATE.errors;
  let latency: GateSettings['latency'] = DEFAULT_GATE.latency;
  let alpha = DEFAULT_GATE.alpha;
  let power = DEFAULT_GATE.power;
  let intervalSeconds = DEFAULT_INTERVAL_SECONDS;
  let shadowMismatch: ResolvedGate['shadowMismatch'] = null;
  let prometheus: ResolvedGate['prometheus'] = null;
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.interval !== undefined) intervalSeconds = layer.interval;
    if (layer.alpha !== undefined) alpha = layer.alpha;
    if (layer.power !== undefined) power = layer.power;
    if (layer.errors === false) errors = null;
    else if (layer.errors) errors = { ...(errors ?? DEFAULT_GATE.errors!), ...layer.errors };
    if (layer.latency === false) latency = null;
    else if (layer.latency) latency = { ...(latency ?? DEFAULT_GATE.latency!), ...layer.latency };
    if (layer.shadowMismatch) shadowMismatch = layer.shadowMismatch;
    if (layer.prometheus) prometheus = layer.prometheus;
  }
  return {
    intervalSeconds,
    settings: { alpha, power, errors, latency, maxWindowAgeMs: Math.max(DEFAULT_GATE.maxWindowAgeMs, 2 * intervalSeconds * 1000) },
    shadowMismatch,
    prometheus,
  };
}

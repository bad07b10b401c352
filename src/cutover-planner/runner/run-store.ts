// A cutover run's state in ZooKeeper, under /mesh-bridge/cutover/<run-id>/:
//   plan          the plan and timings the run follows (written once; a runner with another plan is refused)
//   control       the waves a person approved and whether the run as a whole is paused
//   units/<unit>  each unit's recorded state (run-state.ts), written by compare-and-set on the znode version
//   commands/     operator commands (pause, resume, approve, rollback): ephemeral sequential nodes
//                 that live while the CLI that sent them waits; the leading runner acts and deletes them
//   leader/       the runners' leader election (ephemeral sequential, lowest leads)
import { MeshBridgeError } from '../../errors';
import { ZkSession } from '../../zookeeper-sync/zk-session';
import { zkCode, zookeeper } from '../../zookeeper-sync/zk-client';
import type { CutoverPlan } from '../plan';
import type { RunTimings } from '../run-plan';
import type { UnitState } from '../run-state';

export const CUTOVER_ROOT = '/mesh-bridge/cutover';

export interface RunRecord {
  runId: string;
  createdAt: number;
  timings: RunTimings;
  plan: CutoverPlan;
}

export interface RunControl {
  approvedWaves: number[];
  paused: boolean;
}

export type OperatorCommand =
  | { type: 'pause'; unit?: string; reason: string }
  | { type: 'resume'; unit?: string }
  /** A unit's step (stepId as the CLI read it, so a late duplicate approves nothing), or a wave. */
  | { type: 'approve'; unit?: string; stepId?: string; wave?: number }
  | { type: 'rollback'; unit?: string; reason: string };

export interface Versioned<T> {
  value: T;
  /** The znode version, for compare-and-set. */
  version: number;
}

const { Exception } = zookeeper;

/** A run id is one znode name people can type: letters, digits, dot, dash, underscore. */
export function checkRunId(runId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(runId)) {
    throw new MeshBridgeError('CLI_USAGE', `a run id is 1-128 letters, digits, dots, dashes or underscores, got ${JSON.stringify(runId)}`, { value: runId, where: '--run' });
  }
  return runId;
}

/** A run id from a playbook name: `Dubbo payments` -> `dubbo-payments`. */
export function runIdFromName(name: string): string {
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|-+$/g, '')
    .slice(0, 128);
  return checkRunId(id || 'cutover');
}

/** JSON has no Infinity: a gate that can never be met at a weight is stored as null. */
function encode(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, (_key, v: unknown) => (v === Infinity ? null : v)), 'utf8');
}

function decode<T>(data: Buffer, where: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw new MeshBridgeError('CUTOVER_STATE_CONFLICT', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
  }
}

export class RunStore {
  readonly root: string;

  constructor(
    readonly session: ZkSession,
    readonly runId: string,
  ) {
    this.root = `${CUTOVER_ROOT}/${checkRunId(runId)}`;
  }

  get leaderDir(): string {
    return `${this.root}/leader`;
  }

  private unitPath(unit: string): string {
    return `${this.root}/units/${encodeURIComponent(unit)}`;
  }

  /**
   * Records the run's plan, or checks that the recorded one is the same: a runner must never
   * follow one plan while the recorded states belong to another.
   */
  async createOrCheck(record: RunRecord): Promise<RunRecord> {
    const existing = await this.read();
    if (existing === null) {
      await this.session.mkdirp(`${this.root}/units`);
      await this.session.mkdirp(`${this.root}/commands`);
      await this.session.mkdirp(this.leaderDir);
      try {
        await this.session.create(`${this.root}/control`, encode({ approvedWaves: [], paused: false } satisfies RunControl), 'persistent');
      } catch (err) {
        if (zkCode(err) !== Exception.NODE_EXISTS) throw err;
      }
      try {
        await this.session.create(`${this.root}/plan`, encode(record), 'persistent');
        return record;
      } catch (err) {
        if (zkCode(err) !== Exception.NODE_EXISTS) throw err;
      }
      return this.createOrCheck(record);
    }
    const given = JSON.stringify(encodeRecordPlan(record.plan));
    if (JSON.stringify(encodeRecordPlan(existing.plan)) !== given) {
      throw new MeshBridgeError(
        'CUTOVER_PLAN_MISMATCH',
        `run ${this.runId} was started with another plan (playbook "${existing.plan.playbook}"): resume it with the same playbook and graph, or start a new run with --run <id>`,
        { value: record.plan.playbook, where: `${this.root}/plan` },
      );
    }
    return existing;
  }

  /** The recorded run, or null when there is none. */
  async read(): Promise<RunRecord | null> {
    const node = await this.session.getData(`${this.root}/plan`);
    return node === null ? null : decode<RunRecord>(node.data, `${this.root}/plan`);
  }

  /** The recorded run; CUTOVER_RUN_NOT_FOUND when there is none. */
  async readOrThrow(): Promise<RunRecord> {
    const record = await this.read();
    if (record === null) throw new MeshBridgeError('CUTOVER_RUN_NOT_FOUND', `no cutover run ${this.runId} in ZooKeeper (${this.root})`, { value: this.runId, where: this.root });
    return record;
  }

  async readControl(): Promise<Versioned<RunControl>> {
    const node = await this.session.getData(`${this.root}/control`);
    if (node === null) return { value: { approvedWaves: [], paused: false }, version: -1 };
    return { value: decode<RunControl>(node.data, `${this.root}/control`), version: node.stat.version };
  }

  async writeControl(control: RunControl, version: number): Promise<number> {
    return this.casWrite(`${this.root}/control`, control, version);
  }

  async readUnits(): Promise<Map<string, Versioned<UnitState>>> {
    const out = new Map<string, Versioned<UnitState>>();
    const dir = `${this.root}/units`;
    const names = await this.session.getChildren(dir).catch((err) => {
      if (zkCode(err) === Exception.NO_NODE) return [] as string[];
      throw err;
    });
    for (const name of names) {
      const node = await this.session.getData(`${dir}/${name}`);
      if (node === null) continue;
      const state = decode<UnitState>(node.data, `${dir}/${name}`);
      out.set(state.unit, { value: state, version: node.stat.version });
    }
    return out;
  }

  /** Writes a unit's state if its znode is still at `version` (-1: not created yet); returns the new version. */
  async writeUnit(state: UnitState, version: number): Promise<number> {
    return this.casWrite(this.unitPath(state.unit), state, version);
  }

  private async casWrite(path: string, value: unknown, version: number): Promise<number> {
    try {
      if (version === -1) {
        await this.session.createWithParents(path, encode(value), 'persistent');
        return 0;
      }
      return (await this.session.setData(path, encode(value), version)).version;
    } catch (err) {
      const code = zkCode(err);
      if (code === Exception.BAD_VERSION || code === Exception.NODE_EXISTS || code === Exception.NO_NODE) {
        throw new MeshBridgeError('CUTOVER_STATE_CONFLICT', `${path} was changed by someone else (another runner?)`, { where: path, cause: err });
      }
      throw err;
    }
  }

  /** Queues a command; it lives while this session does. Returns its node name. */
  async submit(command: OperatorCommand): Promise<string> {
    const path = await this.session.createWithParents(`${this.root}/commands/cmd-`, encode(command), 'ephemeral-sequential');
    return path.slice(path.lastIndexOf('/') + 1);
  }

  /** True while the command waits to be taken. */
  async pending(name: string): Promise<boolean> {
    return (await this.session.exists(`${this.root}/commands/${name}`)) !== null;
  }

  /** Commands waiting, oldest first. */
  async commands(): Promise<Array<{ name: string; command: OperatorCommand }>> {
    const dir = `${this.root}/commands`;
    const names = await this.session.getChildren(dir).catch((err) => {
      if (zkCode(err) === Exception.NO_NODE) return [] as string[];
      throw err;
    });
    const out: Array<{ name: string; command: OperatorCommand }> = [];
    for (const name of names.sort()) {
      const node = await this.session.getData(`${dir}/${name}`);
      if (node !== null) out.push({ name, command: decode<OperatorCommand>(node.data, `${dir}/${name}`) });
    }
    return out;
  }

  async removeCommand(name: string): Promise<void> {
    await this.session.remove(`${this.root}/commands/${name}`);
  }

  /** The election nodes, lowest first (the first leads). */
  async runners(): Promise<string[]> {
    const names = await this.session.getChildren(this.leaderDir).catch((err) => {
      if (zkCode(err) === Exception.NO_NODE) return [] as string[];
      throw err;
    });
    return names.sort((a, b) => Number(a.slice(-10)) - Number(b.slice(-10)));
  }
}

/** The plan as stored (Infinity as null), so a fresh plan compares equal to a recorded one. */
function encodeRecordPlan(plan: CutoverPlan): unknown {
  return JSON.parse(encode(plan).toString('utf8')) as unknown;
}

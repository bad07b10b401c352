// Weight overrides shared by every bridge on one ZooKeeper, so all replicas send the same share of
// a service to the mesh: one znode per service under /mesh-bridge/weights, holding
// `{"mesh": 30, "methods": {"pay": 100}, "change": {...}}`. Writes are read-change-write with the
// node's version, so two operators changing two methods of one service never lose either change;
// every bridge (the writer included) applies what it reads back through its watch.
//
// A change answered 503 must never land later (issue 8 #10). node-zookeeper-client queues requests
// while disconnected and sends them on reconnect, so: no request is sent unless the session is
// connected at that moment (nothing is queued behind a refusal); a change past its deadline is
// abandoned and sends nothing more; and each write carries a fence (`change`: a token, the
// deadline, the value it replaced). A write whose answer came after its deadline, or never came,
// is reverted by its writer (versioned, so a later change by anyone else is kept), and every
// reader treats a write ZooKeeper stamped after its deadline as the value it replaced.
import { randomUUID } from 'node:crypto';
import { MeshBridgeError } from '../../errors';
import type { Logger } from '../../telemetry/logger';
import { LogOnce } from '../../telemetry/logger';
import { Registry, counter } from '../../telemetry/metrics';
import { ZkStat, zkCode, zookeeper } from '../../zookeeper-sync/zk-client';
import { Watch, ZkSession, isConnectionError } from '../../zookeeper-sync/zk-session';
import { OverrideStore, WeightControl, WeightOverride, methodMap } from './weight-control';

export const WEIGHTS_ROOT = '/mesh-bridge/weights';
const { Exception } = zookeeper;
const MAX_ATTEMPTS = 8;
/**
 * Added to a write's deadline in its fence: readers compare ZooKeeper's clock (the node's mtime)
 * with the writer's. Skew smaller than this never turns a write its writer confirmed into a late one.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 2000;
/** Writes whose outcome is unknown, checked (and reverted if they landed) on the next connection. */
const MAX_IN_DOUBT = 256;

/** The fence a write carries, so a write that lands late is recognised by everyone. */
interface ChangeFence {
  id: string;
  by: string;
  /** ZooKeeper time (ms) after which this write counts as not made. */
  notAfter: number;
  /** The override this write replaced (null: none), in force if the write landed late. */
  previous: WeightOverride | null;
}

function validWeight(w: unknown): w is number {
  return typeof w === 'number' && Number.isFinite(w) && w >= 0 && w <= 100;
}

function readOverride(raw: unknown): WeightOverride | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const { mesh, methods } = raw as { mesh?: unknown; methods?: unknown };
  if (mesh !== undefined && !validWeight(mesh)) return null;
  const out: WeightOverride = { mesh: mesh as number | undefined, methods: methodMap() };
  if (methods !== undefined) {
    if (typeof methods !== 'object' || methods === null || Array.isArray(methods)) return null;
    for (const [method, weight] of Object.entries(methods)) {
      if (!validWeight(weight)) return null;
      out.methods[method] = weight;
    }
  }
  return out;
}

function readFence(raw: unknown): ChangeFence | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const { id, by, notAfter, previous } = raw as Record<string, unknown>;
  if (typeof id !== 'string' || typeof notAfter !== 'number') return null;
  return { id, by: typeof by === 'string' ? by : '', notAfter, previous: previous === null || previous === undefined ? null : readOverride(previous) };
}

/** A stored entry: the override it holds and the fence of the write that made it (if any). */
export interface StoredOverride {
  override: WeightOverride;
  fence: ChangeFence | null;
}

/** Parses a stored entry; null when it is not one (it is then skipped and counted). */
export function parseStored(data: Buffer): StoredOverride | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  const override = readOverride(raw);
  if (override === null) return null;
  return { override, fence: readFence((raw as { change?: unknown }).change) };
}

/** Parses a stored override; null when it is not one. */
export function parseOverride(data: Buffer): WeightOverride | null {
  return parseStored(data)?.override ?? null;
}

/** ZooKeeper's modification time of a node, in ms. */
export function modifiedAt(stat: ZkStat): number {
  return Number(stat.mtime.readBigInt64BE(0));
}

/**
 * The override in force given a stored entry and when ZooKeeper wrote it: the entry's, unless its
 * write landed after the fence's deadline, then the one it replaced. Pure.
 */
export function effectiveOverride(stored: StoredOverride, mtime: number): { override: WeightOverride | null; late: boolean } {
  if (stored.fence !== null && mtime > stored.fence.notAfter) return { override: stored.fence.previous, late: true };
  return { override: stored.override, late: false };
}

/** A stored entry; without a fence for a revert, which must hold whenever it lands. */
function encode(override: WeightOverride, fence?: ChangeFence): Buffer {
  return Buffer.from(JSON.stringify({ mesh: override.mesh, methods: override.methods, change: fence }));
}

export interface SharedWeightsOptions {
  session: ZkSession;
  control: WeightControl;
  metrics: Registry;
  logger: Logger;
  /** This bridge's id, written into each change's fence. */
  owner?: string;
  root?: string;
  /** How long a change may take before it is refused and abandoned for good. */
  writeTimeoutMs?: number;
}

/** One change in progress: once abandoned (its deadline passed), it sends nothing more. */
class PendingChange {
  abandoned = false;
  constructor(readonly deadlineAt: number) {}
}

/** A write whose answer never came after its change was refused: it may have landed. */
interface InDoubt {
  path: string;
  /** The fence id the write carried, or null for a removal. */
  id: string | null;
  /** The override in force before it (null: none), put back if the write landed. */
  previous: WeightOverride | null;
}

export class SharedWeights implements OverrideStore {
  private readonly root: string;
  private readonly watches = new Map<string, Watch>();
  private rootWatch: Watch | null = null;
  private readonly logOnce = new LogOnce();
  private readonly inDoubt: InDoubt[] = [];
  private readonly metrics;

  constructor(private readonly options: SharedWeightsOptions) {
    this.root = options.root ?? WEIGHTS_ROOT;
    const { metrics } = options;
    this.metrics = {
      bad: counter(metrics, 'mesh_bridge_weights_bad_entries_total', 'Stored weight overrides skipped as malformed'),
      refused: counter(metrics, 'mesh_bridge_weights_refused_total', 'Weight changes refused because ZooKeeper was not connected or did not answer in time'),
      late: counter(metrics, 'mesh_bridge_weights_late_writes_total', 'Stored weight changes that landed after their deadline and were not applied'),
      reverted: counter(metrics, 'mesh_bridge_weights_reverted_total', 'Refused weight changes found stored anyway and reverted by their writer'),
    };
  }

  /** Follows the stored overrides and applies them; installs itself as the control's store. */
  start(): void {
    this.options.control.store = this;
    this.rootWatch = this.options.session.watchChildren(this.root, (children) => this.onChildren(children ?? []));
    this.options.session.on('connected', this.onConnected);
  }

  stop(): void {
    this.options.session.off('connected', this.onConnected);
    this.rootWatch?.close();
    for (const watch of this.watches.values()) watch.close();
    this.watches.clear();
  }

  private readonly onConnected = (): void => {
    const entries = this.inDoubt.splice(0);
    for (const entry of entries) {
      this.revert(entry).catch((err) => {
        if (this.inDoubt.length < MAX_IN_DOUBT) this.inDoubt.push(entry);
        this.options.logger.warn({ err, path: entry.path }, 'could not check a refused weight change; retried on the next connection');
      });
    }
  };

  private onChildren(children: string[]): void {
    const present = new Set(children);
    for (const [name, watch] of this.watches) {
      if (present.has(name)) continue;
      watch.close();
      this.watches.delete(name);
      this.options.control.applyOverride(decodeURIComponent(name), null);
    }
    for (const name of children) {
      if (this.watches.has(name)) continue;
      const service = decodeURIComponent(name);
      this.watches.set(
        name,
        this.options.session.watchData(`${this.root}/${name}`, (data, stat) => {
          if (data === null || stat === null) return; // deleted: the children listener applies it
          const stored = parseStored(data);
          if (stored === null) {
            this.metrics.bad.inc();
            if (this.logOnce.first(`${name}|${data.toString('utf8')}`)) {
              this.options.logger.warn({ service, value: data.toString('utf8').slice(0, 200) }, `skipping a malformed weight override for ${service}`);
            }
            return;
          }
          const { override, late } = effectiveOverride(stored, modifiedAt(stat));
          if (late) {
            this.metrics.late.inc();
            if (this.logOnce.first(`late|${stored.fence?.id}`)) {
              this.options.logger.warn({ service, change: stored.fence?.id, by: stored.fence?.by }, `a weight change of ${service} landed after its deadline: keeping the weights it replaced`);
            }
          }
          this.options.control.applyOverride(service, override);
        }),
      );
    }
  }

  async update(service: string, change: (current: WeightOverride | null) => WeightOverride | null): Promise<WeightOverride | null> {
    const timeoutMs = this.options.writeTimeoutMs ?? 3000;
    const pending = new PendingChange(Date.now() + timeoutMs);
    this.ensureLive(pending);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        pending.abandoned = true;
        this.metrics.refused.inc();
        reject(new MeshBridgeError('ZK_UNAVAILABLE', `weights not changed: ZooKeeper did not answer within ${timeoutMs} ms`, { where: this.root }));
      }, timeoutMs);
    });
    const work = this.readChangeWrite(service, change, pending);
    // Past the deadline the work goes on only to undo itself: its outcome is logged, not answered.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Throws (and sends nothing) once the change was abandoned or while ZooKeeper is not connected. */
  private ensureLive(pending: PendingChange): void {
    if (pending.abandoned) throw new MeshBridgeError('ZK_UNAVAILABLE', 'weights not changed: past the deadline', { where: this.root });
    const session = this.options.session;
    if (!session.connected) {
      pending.abandoned = true;
      this.metrics.refused.inc();
      throw new MeshBridgeError('ZK_UNAVAILABLE', `weights not changed: ZooKeeper is ${session.state}`, { where: this.options.session.options.connectString });
    }
  }

  private async readChangeWrite(service: string, change: (current: WeightOverride | null) => WeightOverride | null, pending: PendingChange): Promise<WeightOverride | null> {
    const session = this.options.session;
    const path = `${this.root}/${encodeURIComponent(service)}`;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      this.ensureLive(pending);
      const stored = await session.getData(path);
      this.ensureLive(pending);
      const parsed = stored ? parseStored(stored.data) : null;
      const current = stored && parsed ? effectiveOverride(parsed, modifiedAt(stored.stat)).override : null;
      const next = change(current);
      const fence: ChangeFence = { id: randomUUID(), by: this.options.owner ?? '', notAfter: pending.deadlineAt + CLOCK_SKEW_ALLOWANCE_MS, previous: current };
      const doubt: InDoubt = { path, id: next === null ? null : fence.id, previous: current };
      try {
        if (next === null) {
          if (stored) await session.remove(path, stored.stat.version);
        } else if (stored) {
          await session.setData(path, encode(next, fence), stored.stat.version);
        } else {
          await session.mkdirp(this.root);
          this.ensureLive(pending);
          await session.create(path, encode(next, fence), 'persistent');
        }
      } catch (err) {
        const code = zkCode(err);
        if (pending.abandoned) {
          // Refused already; if the answer was lost on the way the write may still have landed.
          if (isConnectionError(err) && this.inDoubt.length < MAX_IN_DOUBT) this.inDoubt.push(doubt);
          throw err;
        }
        // Another bridge wrote in between: read again and redo the change on what it wrote.
        if (code === Exception.BAD_VERSION || code === Exception.NODE_EXISTS || code === Exception.NO_NODE) continue;
        throw err;
      }
      if (pending.abandoned) {
        // It landed after the caller was told it did not: undo it.
        await this.revert(doubt);
        throw new MeshBridgeError('ZK_UNAVAILABLE', 'weights not changed: ZooKeeper answered after the deadline', { where: path });
      }
      return next;
    }
    throw new MeshBridgeError('ZK_UNAVAILABLE', `weights of ${service} not changed: ${MAX_ATTEMPTS} concurrent writes in a row`, { where: path });
  }

  /** Undoes a refused write if it is what the node holds now (versioned: a later change is kept). */
  private async revert(entry: InDoubt): Promise<void> {
    const session = this.options.session;
    const now = await session.getData(entry.path);
    try {
      if (entry.id === null) {
        // A removal: put back what was removed, unless someone wrote since.
        if (now === null && entry.previous !== null) {
          await session.create(entry.path, encode(entry.previous), 'persistent');
          this.reverted(entry);
        }
        return;
      }
      if (now === null || parseStored(now.data)?.fence?.id !== entry.id) return;
      if (entry.previous === null) await session.remove(entry.path, now.stat.version);
      else await session.setData(entry.path, encode(entry.previous), now.stat.version);
      this.reverted(entry);
    } catch (err) {
      const code = zkCode(err);
      // Someone changed the node in between: theirs is newer than ours, keep it.
      if (code === Exception.BAD_VERSION || code === Exception.NODE_EXISTS || code === Exception.NO_NODE) return;
      throw err;
    }
  }

  private reverted(entry: InDoubt): void {
    this.metrics.reverted.inc();
    this.options.logger.warn({ path: entry.path, change: entry.id }, 'a refused weight change had reached ZooKeeper: reverted');
  }
}

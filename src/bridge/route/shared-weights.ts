// Weight overrides shared by every bridge on one ZooKeeper, so all replicas send the same share of
// a service to the mesh: one znode per service under /mesh-bridge/weights, holding
// `{"mesh": 30, "methods": {"pay": 100}}`. Writes are read-change-write with the node's version,
// so two operators changing two methods of one service never lose either change; every bridge
// (the writer included) applies what it reads back through its watch.
import { MeshBridgeError } from '../../errors';
import type { Logger } from '../../telemetry/logger';
import { LogOnce } from '../../telemetry/logger';
import { Registry, counter } from '../../telemetry/metrics';
import { zkCode, zookeeper } from '../../zookeeper-sync/zk-client';
import { Watch, ZkSession } from '../../zookeeper-sync/zk-session';
import { OverrideStore, WeightControl, WeightOverride } from './weight-control';

export const WEIGHTS_ROOT = '/mesh-bridge/weights';
const { Exception } = zookeeper;
const MAX_ATTEMPTS = 8;

/** Parses a stored override; null when it is not one (it is then skipped and counted). */
export function parseOverride(data: Buffer): WeightOverride | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const { mesh, methods } = raw as { mesh?: unknown; methods?: unknown };
  const valid = (w: unknown): w is number => typeof w === 'number' && Number.isFinite(w) && w >= 0 && w <= 100;
  if (mesh !== undefined && !valid(mesh)) return null;
  const out: WeightOverride = { mesh: mesh as number | undefined, methods: {} };
  if (methods !== undefined) {
    if (typeof methods !== 'object' || methods === null || Array.isArray(methods)) return null;
    for (const [method, weight] of Object.entries(methods)) {
      if (!valid(weight)) return null;
      out.methods[method] = weight;
    }
  }
  return out;
}

export interface SharedWeightsOptions {
  session: ZkSession;
  control: WeightControl;
  metrics: Registry;
  logger: Logger;
  root?: string;
  /** How long a write may wait for ZooKeeper before the change is refused. */
  writeTimeoutMs?: number;
}

export class SharedWeights implements OverrideStore {
  private readonly root: string;
  private readonly watches = new Map<string, Watch>();
  private rootWatch: Watch | null = null;
  private readonly logOnce = new LogOnce();
  private readonly bad;

  constructor(private readonly options: SharedWeightsOptions) {
    this.root = options.root ?? WEIGHTS_ROOT;
    this.bad = counter(options.metrics, 'mesh_bridge_weights_bad_entries_total', 'Stored weight overrides skipped as malformed');
  }

  /** Follows the stored overrides and applies them; installs itself as the control's store. */
  start(): void {
    this.options.control.store = this;
    this.rootWatch = this.options.session.watchChildren(this.root, (children) => this.onChildren(children ?? []));
  }

  stop(): void {
    this.rootWatch?.close();
    for (const watch of this.watches.values()) watch.close();
    this.watches.clear();
  }

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
        this.options.session.watchData(`${this.root}/${name}`, (data) => {
          if (data === null) return; // deleted: the children listener applies it
          const override = parseOverride(data);
          if (override === null) {
            this.bad.inc();
            if (this.logOnce.first(`${name}|${data.toString('utf8')}`)) {
              this.options.logger.warn({ service, value: data.toString('utf8').slice(0, 200) }, `skipping a malformed weight override for ${service}`);
            }
            return;
          }
          this.options.control.applyOverride(service, override);
        }),
      );
    }
  }

  async update(service: string, change: (current: WeightOverride | null) => WeightOverride | null): Promise<WeightOverride | null> {
    const timeoutMs = this.options.writeTimeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new MeshBridgeError('ZK_UNAVAILABLE', `weights not changed: ZooKeeper did not answer within ${timeoutMs} ms`, { where: this.root })),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.readChangeWrite(service, change), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async readChangeWrite(service: string, change: (current: WeightOverride | null) => WeightOverride | null): Promise<WeightOverride | null> {
    const session = this.options.session;
    const path = `${this.root}/${encodeURIComponent(service)}`;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = await session.getData(path);
      const current = stored ? parseOverride(stored.data) : null;
      const next = change(current);
      try {
        if (next === null) {
          if (stored) await session.remove(path, stored.stat.version);
        } else if (stored) {
          await session.setData(path, Buffer.from(JSON.stringify(next)), stored.stat.version);
        } else {
          await session.createWithParents(path, Buffer.from(JSON.stringify(next)), 'persistent');
        }
        return next;
      } catch (err) {
        // Another bridge wrote in between: read again and redo the change on what it wrote.
        const code = zkCode(err);
        if (code === Exception.BAD_VERSION || code === Exception.NODE_EXISTS || code === Exception.NO_NODE) continue;
        throw err;
      }
    }
    throw new MeshBridgeError('ZK_UNAVAILABLE', `weights of ${service} not changed: ${MAX_ATTEMPTS} concurrent writes in a row`, { where: path });
  }
}

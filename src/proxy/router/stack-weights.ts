// The knob of every migration: per service (and per Dubbo method) the share of requests sent to
// the mesh stack, 0 to 100, the rest to the legacy stack. Pure: the caller supplies randomness.
import type { Stack } from '../../catalog';

export interface WeightSetting {
  service: string;
  /** Set for a per-method weight; absent for the service's weight. */
  method?: string;
  /** Percentage of requests sent to the mesh stack. */
  mesh: number;
}

/** 32-bit FNV-1a: a cheap, stable hash so a sticky key maps to the same point on every bridge. */
export function stickyPoint(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // A point in [0, 100): a key is on the mesh while the weight is above its point, so raising the
  // weight only ever moves keys from legacy to mesh, and lowering it only back.
  return ((hash >>> 0) % 10_000) / 100;
}

export class StackWeights {
  private readonly services = new Map<string, number>();
  private readonly methods = new Map<string, Map<string, number>>();
  /** Bumped on every change, so readers can tell a weight moved. */
  revision = 0;

  constructor(private readonly defaultMesh = 0) {}

  /** Sets a weight; throws a RangeError outside 0..100. */
  set(setting: WeightSetting): void {
    const { service, method, mesh } = setting;
    if (!Number.isFinite(mesh) || mesh < 0 || mesh > 100) throw new RangeError(`mesh weight must be 0..100, got ${mesh}`);
    if (method === undefined) this.services.set(service, mesh);
    else {
      let byMethod = this.methods.get(service);
      if (!byMethod) this.methods.set(service, (byMethod = new Map()));
      byMethod.set(method, mesh);
    }
    this.revision++;
  }

  /** Removes a weight: a method falls back to its service, a service to the default. */
  clear(service: string, method?: string): void {
    if (method === undefined) {
      this.services.delete(service);
      this.methods.delete(service);
    } else this.methods.get(service)?.delete(method);
    this.revision++;
  }

  /** The mesh percentage in force for a request. */
  meshWeight(service: string, method?: string): number {
    if (method !== undefined) {
      const perMethod = this.methods.get(service)?.get(method);
      if (perMethod !== undefined) return perMethod;
    }
    return this.services.get(service) ?? this.defaultMesh;
  }

  /**
   * The stack for one request. With a sticky key the choice is a pure function of the key and the
   * weight; without one, of `random` (uniform in [0, 1)).
   */
  choose(service: string, method: string | undefined, stickyKey: string | undefined, random: number): Stack {
    const mesh = this.meshWeight(service, method);
    if (mesh <= 0) return 'legacy';
    if (mesh >= 100) return 'mesh';
    const point = stickyKey !== undefined && stickyKey !== '' ? stickyPoint(stickyKey) : random * 100;
    return point < mesh ? 'mesh' : 'legacy';
  }

  /** Every weight set, for the admin API and for persisting. */
  list(): WeightSetting[] {
    const out: WeightSetting[] = [];
    for (const [service, mesh] of this.services) out.push({ service, mesh });
    for (const [service, byMethod] of this.methods) for (const [method, mesh] of byMethod) out.push({ service, method, mesh });
    return out;
  }
}

// The weights in force: each service's configured weights, overridden by what operators set at
// runtime. Overrides live in a store: in this process only, or in ZooKeeper so that every bridge
// replica sends the same share to the mesh (shared-weights.ts). Removing an override goes back
// to the configured weight, never to zero.
import { StackWeights } from '../../proxy/router/stack-weights';

/** An operator's weights for one service: the service's, and per method. */
export interface WeightOverride {
  mesh?: number;
  methods: Record<string, number>;
}

/** A configured service: its default weights. */
export interface ConfiguredWeights {
  service: string;
  mesh: number;
  methods: Record<string, number>;
}

export interface OverrideStore {
  /**
   * Changes one service's override atomically (read, change, write) and returns what was stored.
   * `change` gets the current override (null when none) and returns the next (null removes it).
   */
  update(service: string, change: (current: WeightOverride | null) => WeightOverride | null): Promise<WeightOverride | null>;
}

/** Overrides kept in this process only. */
export class LocalOverrideStore implements OverrideStore {
  private readonly overrides = new Map<string, WeightOverride>();

  async update(service: string, change: (current: WeightOverride | null) => WeightOverride | null): Promise<WeightOverride | null> {
    const next = change(this.overrides.get(service) ?? null);
    if (next === null) this.overrides.delete(service);
    else this.overrides.set(service, next);
    return next;
  }
}

/** A copy of per-method weights in an object without a prototype: a method named `__proto__` is then just a key. */
export function methodMap(from: Readonly<Record<string, number>> = {}): Record<string, number> {
  const out = Object.create(null) as Record<string, number>;
  for (const [method, weight] of Object.entries(from)) out[method] = weight;
  return out;
}

function isEmpty(override: WeightOverride): boolean {
  return override.mesh === undefined && Object.keys(override.methods).length === 0;
}

export class WeightControl {
  private readonly defaults = new Map<string, ConfiguredWeights>();
  private readonly overrides = new Map<string, WeightOverride>();
  store: OverrideStore = new LocalOverrideStore();
  /** Told the service's name after each change of its weights in force (registries follow the weight). */
  private readonly listeners = new Set<(service: string) => void>();

  constructor(
    readonly weights: StackWeights,
    configured: readonly ConfiguredWeights[] = [],
  ) {
    for (const entry of configured) {
      this.defaults.set(entry.service, entry);
      this.applyOverride(entry.service, null);
    }
  }

  /** Makes a service's weights its configured ones with `override` on top (null: none). */
  applyOverride(service: string, override: WeightOverride | null): void {
    if (override === null || isEmpty(override)) this.overrides.delete(service);
    else this.overrides.set(service, override);
    this.weights.clear(service);
    const configured = this.defaults.get(service);
    if (configured) {
      this.weights.set({ service, mesh: configured.mesh });
      for (const [method, mesh] of Object.entries(configured.methods)) this.weights.set({ service, method, mesh });
    }
    if (override) {
      if (override.mesh !== undefined) this.weights.set({ service, mesh: override.mesh });
      for (const [method, mesh] of Object.entries(override.methods)) this.weights.set({ service, method, mesh });
    }
    for (const listener of this.listeners) listener(service);
  }

  /** Calls `listener` after every change of a service's weights in force (configured or overridden); returns the unsubscribe. */
  onChange(listener: (service: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The same as onChange (the ZooKeeper writer's name for it). */
  onApply(listener: (service: string) => void): () => void {
    return this.onChange(listener);
  }

  /** The operator's override of a service, if any. */
  overrideOf(service: string): WeightOverride | null {
    return this.overrides.get(service) ?? null;
  }

  /** Sets a service's (or one method's) weight through the store, then here. */
  async set(service: string, method: string | undefined, mesh: number): Promise<void> {
    if (!Number.isFinite(mesh) || mesh < 0 || mesh > 100) throw new RangeError(`mesh weight must be 0..100, got ${mesh}`);
    const stored = await this.store.update(service, (current) => {
      const next: WeightOverride = { mesh: current?.mesh, methods: methodMap(current?.methods) };
      if (method === undefined) next.mesh = mesh;
      else next.methods[method] = mesh;
      return next;
    });
    this.applyOverride(service, stored);
  }

  /** Removes an override (the service's with its methods', or one method's): back to the configured weight. */
  async clear(service: string, method?: string): Promise<void> {
    const stored = await this.store.update(service, (current) => {
      if (current === null || method === undefined) return null;
      const methods = methodMap(current.methods);
      delete methods[method];
      const next = { mesh: current.mesh, methods };
      return isEmpty(next) ? null : next;
    });
    this.applyOverride(service, stored);
  }
}

// The weights the Dubbo listener routes by under steering `slots`: the operator's weights (what
// /weights shows and sets) times a per-service factor, capped at 100. Consumers that pick uniformly
// among provider URLs send the bridges only part of a service's calls; the factor makes the mesh get
// the operator's share of all of them (see zookeeper-sync/slot-plan.ts).
import { StackWeights, WeightSetting } from './stack-weights';

export class ScaledWeights extends StackWeights {
  constructor(
    private readonly base: StackWeights,
    private readonly scaleOf: (service: string) => number,
  ) {
    super();
  }

  override meshWeight(service: string, method?: string): number {
    const weight = this.base.meshWeight(service, method);
    const scale = this.scaleOf(service);
    return scale === 1 ? weight : Math.min(100, weight * scale);
  }

  /** Weights are set on the operator's weights, never here. */
  override set(setting: WeightSetting): void {
    this.base.set(setting);
  }

  override clear(service: string, method?: string): void {
    this.base.clear(service, method);
  }

  /** The weights in force for routing (scaled). */
  override list(): WeightSetting[] {
    return this.base.list().map((s) => ({ ...s, mesh: this.meshWeight(s.service, s.method) }));
  }
}

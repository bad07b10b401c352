// Steering `slots`, the routing side: per service being migrated, the factor (B + L) / B the bridges
// apply to its weights, from what ZooKeeper shows (B: the bridges' URLs listed for it, L: its legacy
// endpoints), so the mesh gets the operator's weight of all calls although the bridges receive only
// B / (B + L) of them. Recomputed when any of those or the weight moves; read per request (one Map lookup).
import type { Catalog, Subscription } from '../catalog';
import type { Logger } from '../telemetry/logger';
import { SlotMember, SlotView, availableEndpoints, legacyEndpoints, slotView } from './slot-plan';

export interface SlotSharesOptions {
  catalog: Catalog;
  /** Distinct bridge endpoints ZooKeeper lists for a service (B). */
  bridgeEndpoints: (service: string) => number;
  /** The operator's highest weight of a service or any of its methods, percent. */
  maxWeight: (service: string) => number;
  logger: Logger;
  /** The number of services whose weight the endpoints cannot reach changed. */
  onCapped?: (count: number) => void;
}

export class SlotShares {
  private readonly views = new Map<string, SlotView>();
  private readonly scales = new Map<string, number>();
  private readonly capped = new Set<string>();
  private members: readonly SlotMember[] = [];
  private subscription: Subscription | null = null;

  constructor(private readonly options: SlotSharesOptions) {}

  start(): void {
    if (this.subscription !== null) return;
    this.subscription = this.options.catalog.subscribeAll((delta) => this.update(delta.service));
    for (const service of this.options.catalog.serviceNames()) this.update(service);
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
  }

  /** The factor for a service's weights: 1 unless it is migrated with slots and legacy endpoints are listed. */
  scaleOf(service: string): number {
    return this.scales.get(service) ?? 1;
  }

  /** The figures of every service being migrated, by name. */
  list(): SlotView[] {
    return [...this.views.values()].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  }

  setMembers(members: readonly SlotMember[]): void {
    this.members = members;
    for (const service of [...this.views.keys()]) this.update(service);
  }

  /** Recomputes one service (its weight, legacy providers or listed bridge URLs moved). */
  update(service: string): void {
    const weight = this.options.maxWeight(service);
    if (!(weight > 0)) {
      if (this.views.delete(service)) this.scales.delete(service);
      this.setCapped(service, false, null);
      return;
    }
    const view = slotView(service, weight, legacyEndpoints(this.options.catalog.instances(service)), this.options.bridgeEndpoints(service), availableEndpoints(this.members));
    this.views.set(service, view);
    if (view.scale === 1) this.scales.delete(service);
    else this.scales.set(service, view.scale);
    this.setCapped(service, view.capped, view);
  }

  private setCapped(service: string, capped: boolean, view: SlotView | null): void {
    if (capped === this.capped.has(service)) return;
    if (capped) {
      this.capped.add(service);
      if (view !== null) {
        this.options.logger.warn(
          { service, weight: view.weight, reachable: view.reachable, legacyEndpoints: view.legacy, bridgeEndpoints: view.available },
          `slots: ${service} at weight ${view.weight} needs more bridge endpoints than the ${view.available} offered; consumers that pick uniformly get ${view.reachable.toFixed(1)} % to the mesh at most (add slot ports or bridges)`,
        );
      }
    } else this.capped.delete(service);
    this.options.onCapped?.(this.capped.size);
  }
}

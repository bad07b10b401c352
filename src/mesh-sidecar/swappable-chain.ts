// A filter chain that a reload replaces under a running listener. New requests run through the
// newest chain; a request already in a chain (held by a delay, in flight upstream) finishes and is
// reported to the chain that admitted it, so a bulkhead or breaker of the old config releases what
// it took and the new one never sees an end it did not admit. Hot path: while the chain is empty
// a request costs a length check; otherwise the admitting chain is kept on the request (a slot, not
// a WeakMap entry).
import type { BridgeRefusal, Outcome } from '../proxy/failure-class';
import { FilterChain } from '../proxy/filters/filter-chain';
import type { LocalReply, ProxyRequest } from '../proxy/filters/filter';
import { RequestSlot } from '../proxy/filters/request-slot';

export class SwappableFilterChain extends FilterChain {
  private current: FilterChain;
  private readonly admittedBy = new RequestSlot<FilterChain>('admitted by chain');

  constructor(initial: FilterChain) {
    super([]);
    this.current = initial;
  }

  /** Empty while the current config has no filters: the listener then skips the chain for that request. */
  override get empty(): boolean {
    return this.current.filters.length === 0;
  }

  get active(): FilterChain {
    return this.current;
  }

  swap(next: FilterChain): void {
    this.current = next;
  }

  override run(request: ProxyRequest, now: number, done: (reply: LocalReply | undefined) => void, from = 0): void {
    let chain = this.admittedBy.get(request);
    if (chain === undefined) {
      chain = this.current;
      if (chain.empty) {
        done(undefined);
        return;
      }
      this.admittedBy.set(request, chain);
    }
    chain.run(request, now, done, from);
  }

  override complete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number, refusal?: BridgeRefusal): void {
    this.admittedBy.take(request)?.complete(request, outcome, latencyMicros, now, refusal);
  }
}

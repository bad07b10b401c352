// Runs a request through filters in order. The router is not here: it is the step after the
// chain, so a chain with no filters costs one length check per request.
import type { Outcome } from '../failure-class';
import type { Filter, FilterContext, LocalReply, ProxyRequest } from './filter';

export type ChainResult = { reply?: LocalReply };

export class FilterChain {
  constructor(readonly filters: readonly Filter[]) {}

  get empty(): boolean {
    return this.filters.length === 0;
  }

  /**
   * Runs the filters from `from`; calls `done` once, synchronously when no filter holds the
   * request, with a reply when one answered it.
   */
  run(request: ProxyRequest, now: number, done: (reply: LocalReply | undefined) => void, from = 0): void {
    for (let i = from; i < this.filters.length; i++) {
      let resumed = false;
      const context: FilterContext = {
        resume: (reply) => {
          if (resumed) return;
          resumed = true;
          if (reply !== undefined) done(reply);
          else this.run(request, Date.now(), done, i + 1);
        },
      };
      const decision = this.filters[i].onRequest(request, now, context);
      if (decision === 'held') return;
      if (decision !== undefined) {
        done(decision);
        return;
      }
    }
    done(undefined);
  }

  complete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number): void {
    for (const filter of this.filters) filter.onComplete?.(request, outcome, latencyMicros, now);
  }
}

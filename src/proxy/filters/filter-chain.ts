// Runs a request through filters in order. The router is not here: it is the step after the
// chain, so a chain with no filters costs one length check per request.
import type { BridgeRefusal, Outcome } from '../failure-class';
import type { Filter, FilterContext, LocalReply, ProxyRequest } from './filter';

export type ChainResult = { reply?: LocalReply };

export class FilterChain {
  /** The filters that may replace a local reply (onLocalReply), in chain order. */
  private readonly replyRewriters: readonly Filter[];

  constructor(readonly filters: readonly Filter[]) {
    this.replyRewriters = filters.filter((f) => f.onLocalReply !== undefined);
  }

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
          if (reply !== undefined) done(this.rewrite(request, reply));
          else this.run(request, Date.now(), done, i + 1);
        },
      };
      const decision = this.filters[i].onRequest(request, now, context);
      if (decision === 'held') return;
      if (decision !== undefined) {
        done(this.rewrite(request, decision));
        return;
      }
    }
    done(undefined);
  }

  /** A local reply as the filters with onLocalReply leave it. */
  private rewrite(request: ProxyRequest, reply: LocalReply): LocalReply {
    for (const filter of this.replyRewriters) reply = filter.onLocalReply?.(request, reply) ?? reply;
    return reply;
  }

  complete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number, refusal?: BridgeRefusal): void {
    for (const filter of this.filters) filter.onComplete?.(request, outcome, latencyMicros, now, refusal);
  }
}

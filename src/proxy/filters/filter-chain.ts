// Runs a request through filters in order. The router is not here: it is the step after the
// chain, so a chain with no filters costs one length check per request.
import type { BridgeRefusal, Outcome } from '../failure-class';
import type { Filter, FilterContext, LocalReply, ProxyRequest } from './filter';

export type ChainResult = { reply?: LocalReply };

type Done = (reply: LocalReply | undefined) => void;

/**
 * One request's way through a chain, and the context every filter gets: one object per request
 * (not a closure per filter). `resume` continues the hold in progress, once; a second call, or one
 * while nothing is held, does nothing.
 */
class ChainRun implements FilterContext {
  /** The index of the filter holding the request, or -1. */
  heldAt = -1;

  constructor(
    readonly chain: FilterChain,
    readonly request: ProxyRequest,
    readonly done: Done,
  ) {}

  resume(reply?: LocalReply): void {
    const at = this.heldAt;
    if (at < 0) return;
    this.heldAt = -1;
    if (reply !== undefined) this.done(this.chain.rewrite(this.request, reply));
    else this.chain.step(this, Date.now(), at + 1);
  }
}

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
  run(request: ProxyRequest, now: number, done: Done, from = 0): void {
    this.step(new ChainRun(this, request, done), now, from);
  }

  /** @internal Runs the filters from `from` for a request on its way. */
  step(run: ChainRun, now: number, from: number): void {
    const { request, done } = run;
    for (let i = from; i < this.filters.length; i++) {
      // Set before asking: a filter may resume before it even returns 'held' (an answer at hand).
      run.heldAt = i;
      const decision = this.filters[i].onRequest(request, now, run);
      if (decision === 'held') return;
      run.heldAt = -1;
      if (decision !== undefined) {
        done(this.rewrite(request, decision));
        return;
      }
    }
    done(undefined);
  }

  /** A local reply as the filters with onLocalReply leave it. */
  rewrite(request: ProxyRequest, reply: LocalReply): LocalReply {
    for (const filter of this.replyRewriters) reply = filter.onLocalReply?.(request, reply) ?? reply;
    return reply;
  }

  complete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number, refusal?: BridgeRefusal): void {
    for (const filter of this.filters) filter.onComplete?.(request, outcome, latencyMicros, now, refusal);
  }
}

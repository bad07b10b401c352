// Runs a request through filters in order. The router is not here: it is the step after the
// chain, so a chain with no filters costs one length check per request. Hot path: one object per
// request (the context a filter that holds it resumes), no closure per filter.
import type { Outcome } from '../failure-class';
import type { Filter, FilterContext, LocalReply, ProxyRequest } from './filter';

export type ChainResult = { reply?: LocalReply };

type Done = (reply: LocalReply | undefined) => void;

/** A request's way through a chain: `at` is the filter deciding now, the one that held it once it holds. */
class ChainRun implements FilterContext {
  at = 0;
  private resumed = false;

  constructor(
    private readonly chain: FilterChain,
    private readonly request: ProxyRequest,
    private readonly done: Done,
  ) {}

  resume(reply?: LocalReply): void {
    if (this.resumed) return;
    this.resumed = true;
    if (reply !== undefined) this.done(reply);
    else this.chain.run(this.request, Date.now(), this.done, this.at + 1);
  }
}

export class FilterChain {
  /** The filters that watch how calls end, so `complete` skips the others. */
  private readonly completing: readonly Filter[];

  constructor(readonly filters: readonly Filter[]) {
    this.completing = filters.filter((f) => f.onComplete !== undefined);
  }

  get empty(): boolean {
    return this.filters.length === 0;
  }

  /**
   * Runs the filters from `from`; calls `done` once, synchronously when no filter holds the
   * request, with a reply when one answered it.
   */
  run(request: ProxyRequest, now: number, done: Done, from = 0): void {
    const filters = this.filters;
    if (from >= filters.length) {
      done(undefined);
      return;
    }
    // A held request's context must be its own: a fresh one per pass, resumed at most once.
    const context = new ChainRun(this, request, done);
    for (let i = from; i < filters.length; i++) {
      context.at = i;
      const decision = filters[i].onRequest(request, now, context);
      if (decision === undefined) continue;
      if (decision !== 'held') done(decision);
      return;
    }
    done(undefined);
  }

  complete(request: ProxyRequest, outcome: Outcome, latencyMicros: number, now: number): void {
    const completing = this.completing;
    for (let i = 0; i < completing.length; i++) completing[i].onComplete?.(request, outcome, latencyMicros, now);
  }
}

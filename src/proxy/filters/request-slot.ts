// Per-request state a filter (or a chain) keeps from a request's start to its end, stored on the
// request object. A WeakMap entry per request costs a hash, an ephemeron and a delete on the hot
// path (about 0.2 to 0.9 µs a request here, times each filter that keeps state). A property of its
// own per slot is cheap for one slot, but with several (the chain's, a breaker's, a bulkhead's) the
// one property access in `get` and `set` sees as many keys and goes megamorphic: each request then
// added its properties through the runtime (about 0.27 µs for three, against 0.06 µs here). So the
// slots share one property: a small array per request, each slot an index in it. Indices are few;
// a slot collected with its filter (a reload's old chain) gives its index back, and a slot made
// while all are taken keeps a property of its own. Values are cleared by overwriting, never
// `delete` (which would turn the object into a slow dictionary). The request objects are the
// listeners', alive only for the call, so nothing outlives it.
import type { ProxyRequest } from './filter';

type Slotted = Record<symbol, unknown>;

/** The property every indexed slot shares: the request's array of slot values. */
const VALUES = Symbol('request slot values');
/**
 * Slots with an index in a request's array. A sidecar makes three per stack that has filters, and
 * building a config makes them again before the old ones are collected: with 8 (until 2026-12-02)
 * the bench sidecar's Dubbo chain got two slots of their own, and its requests stored and loaded
 * them megamorphically (callgrind: about 1,900 more instructions a request in those ICs alone).
 */
const INDEXED_SLOTS = 32;
const freeIndices: number[] = Array.from({ length: INDEXED_SLOTS }, (_, i) => INDEXED_SLOTS - 1 - i);
/** A slot collected (its filter was replaced and the requests it saw are gone) frees its index. */
const released = new FinalizationRegistry<number>((index) => freeIndices.push(index));
/** A request's first array: undefined up to the highest index handed out (a packed copy is cheap). */
let template: unknown[] = [];

export class RequestSlot<T> {
  /** This slot's place in a request's array, or -1: it keeps a property of its own (`key`). */
  private readonly index: number;
  private readonly key: symbol;

  constructor(name: string) {
    this.key = Symbol(name);
    this.index = freeIndices.pop() ?? -1;
    if (this.index >= 0) released.register(this, this.index);
    if (this.index >= template.length) template = Array.from({ length: this.index + 1 }, () => undefined);
  }

  get(request: ProxyRequest): T | undefined {
    if (this.index < 0) return (request as unknown as Slotted)[this.key] as T | undefined;
    const values = (request as unknown as Slotted)[VALUES] as unknown[] | undefined;
    return values === undefined ? undefined : (values[this.index] as T | undefined);
  }

  set(request: ProxyRequest, value: T): void {
    if (this.index < 0) {
      (request as unknown as Slotted)[this.key] = value;
      return;
    }
    let values = (request as unknown as Slotted)[VALUES] as unknown[] | undefined;
    // (an array made before a slot with a higher index existed grows as arrays do)
    if (values === undefined) (request as unknown as Slotted)[VALUES] = values = template.slice();
    values[this.index] = value;
  }

  /** The value, cleared: what an end reads, so a second end finds nothing. */
  take(request: ProxyRequest): T | undefined {
    const value = this.get(request);
    if (value === undefined) return undefined;
    if (this.index < 0) (request as unknown as Slotted)[this.key] = undefined;
    else ((request as unknown as Slotted)[VALUES] as unknown[])[this.index] = undefined;
    return value;
  }
}

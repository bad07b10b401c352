// Picks one instance within a stack's set, as Dubbo's LeastActive balancer does: the instances
// with the fewest requests in flight, and among those a random one in proportion to its weight.
// Pure: the caller supplies the pending counts and the randomness.

export interface Candidate {
  weight: number;
  /** Requests sent to it and not yet answered. */
  pending: number;
}

/** Index of the chosen candidate, or -1 when none can take traffic (empty, or all weights 0). */
export function pickInstance(candidates: readonly Candidate[], random: number): number {
  let least = Infinity;
  let totalWeight = 0;
  let tied = 0;
  let only = -1;
  for (let i = 0; i < candidates.length; i++) {
    const { weight, pending } = candidates[i];
    if (weight <= 0) continue;
    if (pending < least) {
      least = pending;
      totalWeight = weight;
      tied = 1;
      only = i;
    } else if (pending === least) {
      totalWeight += weight;
      tied++;
    }
  }
  if (tied <= 1) return only;
  let point = random * totalWeight;
  for (let i = 0; i < candidates.length; i++) {
    const { weight, pending } = candidates[i];
    if (weight <= 0 || pending !== least) continue;
    point -= weight;
    if (point < 0) return i;
  }
  return only;
}

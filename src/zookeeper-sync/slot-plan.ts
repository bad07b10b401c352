// Steering by slots (`zookeeper.export.steering: slots`): for consumers that pick uniformly among the
// provider URLs they find (apache-dubbo-js, sofa-rpc-node) and read no configurator. While a service
// migrates the legacy URLs stay as they are, and the bridges write B URLs of their own, each a
// distinct host:port of a bridge (its main Dubbo port and its slot ports). A uniform picker then
// sends B/(B+L) of its calls to the bridges (L legacy endpoints), and the bridges send to the mesh
// the share x = w (B+L)/B of what they receive, so the mesh gets w overall. Pure: every bridge
// computes the same B, the same split of endpoints among bridges and the same x from what ZooKeeper
// shows it.
import type { Instance } from '../catalog';
import { isExported, isLegacyProvider, variantMatches } from './export-plan';
import { joinPath } from './zk-paths';

/** A live bridge and the Dubbo endpoints it can be written at: its main listener first, then its slot ports. */
export interface SlotMember {
  owner: string;
  endpoints: readonly string[];
}

/**
 * The smallest number of bridge endpoints B with B / (B + legacy) >= weight / 100, at least 1 while
 * the weight is above 0, never more than `available`. With no legacy endpoint, 1 (the bridges alone
 * serve the service).
 */
export function slotCount(weightPercent: number, legacy: number, available: number): number {
  if (!(weightPercent > 0) || available <= 0) return 0;
  if (legacy <= 0) return 1;
  if (weightPercent >= 100) return available;
  // B >= w L / (100 - w); the epsilon keeps an exact quotient (w = 50, L = 3 -> 3) from rounding up.
  const needed = Math.max(1, Math.ceil((weightPercent * legacy) / (100 - weightPercent) - 1e-9));
  return Math.min(needed, available);
}

/**
 * By how much the bridges multiply a weight so the mesh gets it overall: (B + L) / B, the inverse of
 * the share of a uniform picker's calls that reach a bridge. 1 when nothing is written (no call comes
 * through the registry) or no legacy endpoint is listed (every call comes to the bridges).
 */
export function slotScale(bridgeEndpoints: number, legacy: number): number {
  if (bridgeEndpoints <= 0 || legacy <= 0) return 1;
  return (bridgeEndpoints + legacy) / bridgeEndpoints;
}

/** The weight the bridges route by, x = min(100, w * scale): what they receive is only part of the calls. */
export function effectiveWeight(weightPercent: number, scale: number): number {
  return Math.min(100, weightPercent * scale);
}

/** The highest share of a uniform picker's calls the bridges can get: S / (S + L), as a percentage. */
export function reachableShare(available: number, legacy: number): number {
  if (available <= 0) return 0;
  return (100 * available) / (available + Math.max(0, legacy));
}

/**
 * Which of the B endpoints each bridge writes: bridges in order of id take turns, each its next
 * endpoint (main port first), until B are taken. Every bridge that sees the same members computes the
 * same answer; a bridge absent from the result writes nothing for the service.
 */
export function assignSlots(count: number, members: readonly SlotMember[]): Map<string, string[]> {
  const sorted = [...members].sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  const assigned = new Map<string, string[]>();
  let left = count;
  for (let level = 0; left > 0; level++) {
    let took = false;
    for (const member of sorted) {
      if (left === 0) break;
      const endpoint = member.endpoints[level];
      if (endpoint === undefined) continue;
      const mine = assigned.get(member.owner);
      if (mine === undefined) assigned.set(member.owner, [endpoint]);
      else mine.push(endpoint);
      left--;
      took = true;
    }
    if (!took) break;
  }
  return assigned;
}

/** Every endpoint the live bridges offer (S). */
export function availableEndpoints(members: readonly SlotMember[]): number {
  let count = 0;
  for (const member of members) count += member.endpoints.length;
  return count;
}

/**
 * The legacy endpoints (L) a uniform picker sees for a service: distinct host:port of its legacy
 * providers (read from ZooKeeper, Dubbo, up) of a version and group the mesh serves (the consumers
 * the bridges' URLs reach filter by those), bridges' URLs not among them.
 */
export function legacyEndpoints(instances: readonly Instance[]): number {
  const mesh = instances.filter((i) => i.protocol === 'dubbo' && isExported(i));
  const seen = new Set<string>();
  for (const instance of instances) {
    if (!isLegacyProvider(instance)) continue;
    if (mesh.some((m) => variantMatches(m.group, instance.group) && variantMatches(m.version, instance.version))) seen.add(`${instance.host}:${instance.port}`);
  }
  return seen.size;
}

/** Where bridges announce their endpoints: `<bridgeRoot>/slots`, one ephemeral child per bridge. */
export function slotMembersDir(bridgeRoot: string): string {
  return `${bridgeRoot}/slots`;
}

/** A member's node: its id and endpoints in the name (one children watch reads every bridge). */
export function slotMemberPath(bridgeRoot: string, member: SlotMember): string {
  return joinPath(slotMembersDir(bridgeRoot), encodeURIComponent(JSON.stringify({ owner: member.owner, endpoints: member.endpoints })));
}

/** The member a node name stands for, or null when it is not one a bridge wrote. */
export function parseSlotMember(name: string): SlotMember | null {
  try {
    const value = JSON.parse(decodeURIComponent(name)) as { owner?: unknown; endpoints?: unknown };
    if (typeof value.owner !== 'string' || !Array.isArray(value.endpoints)) return null;
    const endpoints = value.endpoints.filter((e): e is string => typeof e === 'string' && /^.+:\d{1,5}$/.test(e));
    return endpoints.length === value.endpoints.length ? { owner: value.owner, endpoints } : null;
  } catch {
    return null;
  }
}

/** One service's slot figures, for /status and /weights. */
export interface SlotView {
  service: string;
  /** The operator's highest weight for the service (service or any method), percent. */
  weight: number;
  /** Legacy endpoints consumers see (L). */
  legacy: number;
  /** Bridge endpoints consumers see now in ZooKeeper (B, as written). */
  bridges: number;
  /** Bridge endpoints the live bridges offer (S). */
  available: number;
  /** B the bridges aim for at this weight. */
  target: number;
  /** (B + L) / B: the factor the bridges apply to every weight of the service. */
  scale: number;
  /** The weight the bridges route the highest weight by: x = min(100, weight * scale). */
  effective: number;
  /** The mesh's share of a uniform picker's calls at the highest weight: B / (B + L) * x (the weight unless capped). */
  achieved: number;
  /** The highest share a uniform picker can give the mesh, S / (S + L), percent. */
  reachable: number;
  /** True while the weight is above what S endpoints can reach. */
  capped: boolean;
}

export function slotView(service: string, weight: number, legacy: number, bridges: number, available: number): SlotView {
  const reachable = reachableShare(available, legacy);
  const scale = slotScale(bridges, legacy);
  const effective = effectiveWeight(weight, scale);
  return {
    service,
    weight,
    legacy,
    bridges,
    available,
    target: slotCount(weight, legacy, available),
    scale,
    effective,
    achieved: legacy > 0 ? (bridges / (bridges + legacy)) * effective : bridges > 0 ? effective : 0,
    reachable,
    capped: weight > 0 && legacy > 0 && weight > reachable + 1e-9,
  };
}

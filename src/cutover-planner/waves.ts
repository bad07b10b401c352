// Migration waves from the dependency graph: by default a service moves after every service it
// calls (providers first), or after every service that calls it when the playbook asks (callers
// first). Services in a call cycle move together; a wave holds at most a cap of services. Every
// service carries the reason for its place, so a wave is a list a person can review.
import { MeshBridgeError } from '../errors';
import { DependencyGraph, stronglyConnectedComponents } from './dependency-graph';

export type WaveOrder = 'providers_first' | 'callers_first';

export interface PlacedService {
  service: string;
  wave: number;
  /** The other playbook services of its call cycle, which share its wave. */
  cycle: string[];
  reason: string;
}

export interface Wave {
  /** 1-based. */
  number: number;
  services: PlacedService[];
}

interface Component {
  members: string[];
  /** Members that are playbook services. */
  moving: string[];
  /** Components this one must follow. */
  after: Set<number>;
  /** 0-based depth among moving components. */
  depth: number;
  /** The moving service (and the first node on the way to it) that set the depth. */
  cause: { service: string; via: string | null } | null;
  wave: number;
}

/**
 * Places `services` into waves. Paths through services outside the playbook still order the
 * ones inside it (A calls X calls B: B moves first even if X is not moving).
 */
export function planWaves(graph: DependencyGraph, services: string[], order: WaveOrder, maxServicesPerWave: number): Wave[] {
  if (!(Number.isInteger(maxServicesPerWave) && maxServicesPerWave >= 1)) {
    throw new MeshBridgeError('CUTOVER_BAD_GRAPH', `maxServicesPerWave is a whole number of at least 1, got ${maxServicesPerWave}`, { value: maxServicesPerWave, where: 'maxServicesPerWave' });
  }
  const moving = new Set(services);
  if (moving.size !== services.length) {
    const duplicate = services.find((s, i) => services.indexOf(s) !== i);
    throw new MeshBridgeError('CUTOVER_BAD_GRAPH', `service ${duplicate} is listed twice`, { value: duplicate, where: 'services' });
  }
  const nodes = [...new Set([...graph.nodes, ...services])].sort();
  const full: DependencyGraph = { ...graph, nodes };
  const sccs = stronglyConnectedComponents(full);
  const componentOf = new Map<string, number>();
  const components: Component[] = sccs.map((members, i) => {
    for (const m of members) componentOf.set(m, i);
    return { members, moving: members.filter((m) => moving.has(m)), after: new Set<number>(), depth: 0, cause: null, wave: 0 };
  });
  for (const [caller, callees] of graph.calls) {
    for (const callee of callees) {
      const from = componentOf.get(caller)!;
      const to = componentOf.get(callee)!;
      if (from === to) continue;
      // providers first: the caller follows the callee; callers first: the other way round.
      if (order === 'providers_first') components[from].after.add(to);
      else components[to].after.add(from);
    }
  }
  // Tarjan emits callees before callers: that is dependency order for providers first, and its
  // reverse is for callers first.
  const sequence = components.map((_, i) => i);
  if (order === 'callers_first') sequence.reverse();
  for (const i of sequence) {
    const c = components[i];
    for (const j of [...c.after].sort((a, b) => a - b)) {
      const d = components[j];
      // A moving component pushes its followers one wave later; a stationary one passes its depth on.
      const depth = d.moving.length > 0 ? d.depth + 1 : d.depth;
      const cause = d.moving.length > 0 ? { service: d.moving[0], via: null } : d.cause ? { service: d.cause.service, via: d.cause.via ?? d.members[0] } : null;
      if (depth > c.depth || (depth === c.depth && c.cause === null && cause !== null)) {
        c.depth = depth;
        c.cause = cause;
      }
    }
  }
  const byDepth = new Map<number, Component[]>();
  for (const c of components) {
    if (c.moving.length === 0) continue;
    let list = byDepth.get(c.depth);
    if (!list) byDepth.set(c.depth, (list = []));
    list.push(c);
  }
  const waves: Wave[] = [];
  const capNotes = new Map<Component, string>();
  for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
    const list = byDepth.get(depth)!.sort((a, b) => a.moving[0].localeCompare(b.moving[0]));
    let current: Component[] = [];
    let size = 0;
    let firstWaveOfDepth = 0;
    const flush = (): void => {
      if (current.length === 0) return;
      const number = waves.length + 1;
      if (firstWaveOfDepth === 0) firstWaveOfDepth = number;
      for (const c of current) {
        c.wave = number;
        if (number !== firstWaveOfDepth) capNotes.set(c, `; wave ${firstWaveOfDepth} reached the cap of ${maxServicesPerWave} services, so it moves in the next one`);
        if (c.moving.length > maxServicesPerWave) capNotes.set(c, `; its cycle of ${c.moving.length} services is larger than the cap of ${maxServicesPerWave} and cannot be split`);
      }
      waves.push({ number, services: [] });
      current = [];
      size = 0;
    };
    for (const c of list) {
      if (size > 0 && size + c.moving.length > maxServicesPerWave) flush();
      current.push(c);
      size += c.moving.length;
    }
    flush();
  }
  const componentOfService = (s: string): Component => components[componentOf.get(s)!];
  for (const c of components) {
    if (c.moving.length === 0) continue;
    const base = reasonFor(c, order, componentOfService);
    const cycle = c.moving.length > 1 ? `; in a call cycle with ${c.moving.join(', ')}: they move together` : '';
    for (const service of c.moving) {
      waves[c.wave - 1].services.push({ service, wave: c.wave, cycle: c.moving.filter((m) => m !== service), reason: base + cycle + (capNotes.get(c) ?? '') });
    }
  }
  for (const wave of waves) wave.services.sort((a, b) => a.service.localeCompare(b.service));
  return waves;
}

function reasonFor(c: Component, order: WaveOrder, componentOf: (s: string) => Component): string {
  if (!c.cause) return order === 'providers_first' ? 'calls no other service of this playbook' : 'no other service of this playbook calls it';
  const verb = order === 'providers_first' ? 'calls' : 'is called by';
  const via = c.cause.via ? ` through ${c.cause.via}` : '';
  return `${verb} ${c.cause.service} (wave ${componentOf(c.cause.service).wave})${via}`;
}

// Who calls whom, from what the registries and the proxies know: Dubbo providers and consumers
// as zookeeper-sync reads them (`/dubbo/<iface>/providers` and `/consumers`), Eureka apps, and
// edges observed in traffic through the bridge and sidecars. Nodes are cutover units: a Dubbo
// interface, or an application (a Spring Cloud app, or a Dubbo app that only consumes).
import { z } from 'zod';
import { parseOrThrow } from './schema-errors';

const name = z.string().min(1);

export const graphInputSchema = z
  .object({
    dubbo: z
      .object({
        /** Which application provides each interface (the provider URL's `application`). */
        providers: z.array(z.object({ interface: name, application: name }).strict()).default([]),
        /** Which application consumes each interface (ZookeeperReader.dependencies()). */
        consumers: z.array(z.object({ interface: name, application: name }).strict()).default([]),
      })
      .strict()
      .default({ providers: [], consumers: [] }),
    eureka: z.object({ apps: z.array(name).default([]) }).strict().default({ apps: [] }),
    /** Observed calls: `from` an application or service, `to` a service; the rate when measured. */
    traffic: z.array(z.object({ from: name, to: name, callsPerSecond: z.number().nonnegative().optional() }).strict()).default([]),
  })
  .strict();

export type GraphInput = z.input<typeof graphInputSchema>;

/** A directed graph of cutover units: an edge u -> v means u calls v. */
export interface DependencyGraph {
  nodes: string[];
  /** Callees of each node, sorted, without self-calls. */
  calls: Map<string, string[]>;
  /** Why each edge exists ("dubbo consumer", "traffic"), keyed `caller\ncallee`. */
  evidence: Map<string, string>;
  /** Observed call rate into each node, summed over traffic edges, when measured. */
  inboundCallsPerSecond: Map<string, number>;
}

/** Validates a parsed graph file; throws CUTOVER_BAD_GRAPH naming the bad key. */
export function parseGraphInput(raw: unknown, file = '<graph>'): z.output<typeof graphInputSchema> {
  return parseOrThrow(graphInputSchema, raw, 'CUTOVER_BAD_GRAPH', `dependency graph in ${file}`);
}

/**
 * Builds the graph. An application stands for the services it provides: when app A consumes
 * interface I, every interface A provides calls I (the registry cannot say which one does, so
 * the order keeps all of them after I). An application that provides nothing is its own node.
 */
export function buildDependencyGraph(input: GraphInput): DependencyGraph {
  const parsed = parseGraphInput(input);
  const provides = new Map<string, Set<string>>();
  const nodes = new Set<string>();
  for (const { interface: iface, application } of parsed.dubbo.providers) {
    let set = provides.get(application);
    if (!set) provides.set(application, (set = new Set()));
    set.add(iface);
    nodes.add(iface);
  }
  for (const app of parsed.eureka.apps) nodes.add(app);
  const calls = new Map<string, Set<string>>();
  const evidence = new Map<string, string>();
  const inbound = new Map<string, number>();
  const callersOf = (caller: string): string[] => {
    const services = provides.get(caller);
    return services && services.size > 0 ? [...services] : [caller];
  };
  const addEdge = (from: string, to: string, why: string): void => {
    nodes.add(from);
    nodes.add(to);
    if (from === to) return;
    let set = calls.get(from);
    if (!set) calls.set(from, (set = new Set()));
    set.add(to);
    const key = `${from}\n${to}`;
    const known = evidence.get(key);
    if (known === undefined) evidence.set(key, why);
    else if (!known.split(', ').includes(why)) evidence.set(key, `${known}, ${why}`);
  };
  for (const { interface: iface, application } of parsed.dubbo.consumers) {
    for (const from of callersOf(application)) addEdge(from, iface, `${application} consumes it in ZooKeeper`);
  }
  for (const { from, to, callsPerSecond } of parsed.traffic) {
    for (const caller of callersOf(from)) addEdge(caller, to, 'observed traffic');
    if (callsPerSecond !== undefined) inbound.set(to, (inbound.get(to) ?? 0) + callsPerSecond);
  }
  const sortedNodes = [...nodes].sort();
  const callsSorted = new Map<string, string[]>();
  for (const node of sortedNodes) callsSorted.set(node, [...(calls.get(node) ?? [])].sort());
  return { nodes: sortedNodes, calls: callsSorted, evidence, inboundCallsPerSecond: inbound };
}

/**
 * Tarjan's strongly connected components, iterative (estates have thousands of services: no
 * recursion depth to run out of). Components come out in reverse topological order of the
 * condensation: a component is emitted after every component it calls.
 */
export function stronglyConnectedComponents(graph: DependencyGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of graph.nodes) {
    if (index.has(root)) continue;
    // Each frame: the node and how far through its callees we are.
    const frames: Array<{ node: string; edge: number }> = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next);
    next++;
    stack.push(root);
    onStack.add(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1];
      const callees = graph.calls.get(frame.node) ?? [];
      if (frame.edge < callees.length) {
        const callee = callees[frame.edge++];
        if (!index.has(callee)) {
          index.set(callee, next);
          low.set(callee, next);
          next++;
          stack.push(callee);
          onStack.add(callee);
          frames.push({ node: callee, edge: 0 });
        } else if (onStack.has(callee)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(callee)!));
        }
        continue;
      }
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component.sort());
      }
    }
  }
  return components;
}

// Where things live in ZooKeeper: Dubbo's interface-level tree, Dubbo 3's application-level tree and
// the bridge's own tree (ownership ledger, writer election). Pure.

export const DUBBO_CATEGORIES = ['providers', 'consumers', 'configurators', 'routers'] as const;
export type DubboCategory = (typeof DUBBO_CATEGORIES)[number];

export interface ZkLayout {
  /** Dubbo's registry root (`dubbo.registry.group`), default `/dubbo`. */
  dubboRoot: string;
  /** Dubbo 3 application-level discovery root, default `/services`. */
  servicesRoot: string;
  /** The bridges' own tree, default `/mesh-bridge`. */
  bridgeRoot: string;
}

export const DEFAULT_LAYOUT: ZkLayout = { dubboRoot: '/dubbo', servicesRoot: '/services', bridgeRoot: '/mesh-bridge' };

export function joinPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** The last segment of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** True when a string can be one znode name: no slash, not `.` or `..`, not empty, no NUL. */
export function isValidNodeName(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\u0000');
}

export function interfacePath(layout: ZkLayout, iface: string): string {
  return joinPath(layout.dubboRoot, iface);
}

export function categoryPath(layout: ZkLayout, iface: string, category: DubboCategory): string {
  return joinPath(interfacePath(layout, iface), category);
}

export function appPath(layout: ZkLayout, app: string): string {
  return joinPath(layout.servicesRoot, app);
}

export function ledgerDir(layout: ZkLayout, registry: string): string {
  return `${layout.bridgeRoot}/ledger/${registry}`;
}

/** A ledger key (a znode path, `APP/instanceId`...) as one znode name: reversible, readable with `ls`. */
export function ledgerNodeName(key: string): string {
  return encodeURIComponent(key);
}

/** The ledger key a ledger znode stands for, or null when the name is not one we made. */
export function ledgerKeyOf(nodeName: string): string | null {
  try {
    return decodeURIComponent(nodeName);
  } catch {
    return null;
  }
}

export function electionDir(layout: ZkLayout): string {
  return `${layout.bridgeRoot}/election/zookeeper-writer`;
}

/** The name a bridge's election node is created with; ZooKeeper appends a 10-digit sequence. */
export function electionNodePrefix(owner: string): string {
  return `${encodeURIComponent(owner)}_`;
}

export function parseElectionNode(name: string): { owner: string; sequence: number } | null {
  const match = /^(.*)_(\d{10})$/.exec(name);
  if (match === null) return null;
  const owner = ledgerKeyOf(match[1]);
  return owner === null ? null : { owner, sequence: Number(match[2]) };
}

/** The election node that leads: the lowest sequence number. */
export function electionLeader(names: readonly string[]): string | null {
  let best: { name: string; sequence: number } | null = null;
  for (const name of names) {
    const parsed = parseElectionNode(name);
    if (parsed !== null && (best === null || parsed.sequence < best.sequence)) best = { name, sequence: parsed.sequence };
  }
  return best?.name ?? null;
}

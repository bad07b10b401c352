// The Dubbo estate of the sync benchmark (bench/sync.ts): interface and provider names as Java
// Dubbo writes them, a fast populate through multi (transaction) requests, and a second ZooKeeper
// client that adds and removes single providers, as another Dubbo process would.
import { dubboUrl, toZnodeName } from '../../src/dubbo-codec/dubbo-url';
import { ZkClient, ZkException, zookeeper } from '../../src/zookeeper-sync/zk-client';

/** The categories a Dubbo estate's interfaces carry (providers and consumers both subscribe). */
const CATEGORIES = ['providers', 'consumers', 'configurators', 'routers'] as const;

export interface Estate {
  /** Dubbo registry root, e.g. `/dubbo` (the 1k estate lives under its own root). */
  root: string;
  interfaces: number;
  providersPerInterface: number;
  /** Distinguishes the hosts of two estates in one ZooKeeper. */
  hostPrefix: number;
}

export function instanceCount(estate: Estate): number {
  return estate.interfaces * estate.providersPerInterface;
}

export function interfaceName(i: number): string {
  return `com.example.bench.domain${i % 100}.api.BenchService${i}`;
}

/** `10.<prefix>.x.y`, unique per provider within an estate. */
function providerHost(estate: Estate, n: number): string {
  return `10.${estate.hostPrefix}.${(n >> 8) & 255}.${n & 255}`;
}

/** The znode name Java Dubbo writes for a provider (the whole URL encoded once). */
export function providerNodeName(iface: string, host: string, port: number, timestamp: number): string {
  return toZnodeName(
    dubboUrl('dubbo', host, port, iface, {
      anyhost: 'true',
      application: 'app',
      interface: iface,
      methods: 'get,list,create,update,delete',
      side: 'provider',
      version: '1.0.0',
      timestamp: String(timestamp),
    }),
  );
}

export function providersPath(root: string, iface: string): string {
  return `${root}/${iface}/providers`;
}

/** A connected client of its own (not a ZkSession: this is "another Dubbo process"). */
export async function connectClient(connectString: string): Promise<ZkClient> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 30_000, retries: 0 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`could not connect to ZooKeeper ${connectString}`)), 15_000);
    client.on('state', (state) => {
      if (state === zookeeper.State.SYNC_CONNECTED) {
        clearTimeout(timer);
        resolve();
      }
    });
    client.connect();
  });
  return client;
}

export function closeClient(client: ZkClient): void {
  client.close();
}

interface ZkTransaction {
  create(path: string, data: Buffer | null, acls: unknown[], mode: number): ZkTransaction;
  commit(callback: (error: ZkException | null, results: unknown) => void): void;
}

function transaction(client: ZkClient): ZkTransaction {
  // node-zookeeper-client's multi; zk-client.ts types only what src/ uses.
  return (client as unknown as { transaction(): ZkTransaction }).transaction();
}

function createOne(client: ZkClient, path: string): Promise<void> {
  return new Promise((resolve, reject) =>
    client.create(path, null, zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.PERSISTENT, (err) => {
      if (err === null || err.getCode() === zookeeper.Exception.NODE_EXISTS) resolve();
      else reject(err);
    }),
  );
}

/**
 * Creates the estate as persistent znodes: `<root>/<iface>/{providers,consumers,configurators,routers}`
 * and the providers, whole interfaces per multi (about `opsPerMulti` creates each), `inFlight`
 * multis at a time. Returns the number of znodes created.
 */
export async function populate(client: ZkClient, estate: Estate, options: { opsPerMulti?: number; inFlight?: number; progress?: (done: number) => void } = {}): Promise<number> {
  await createOne(client, estate.root);
  const perInterface = 1 + CATEGORIES.length + estate.providersPerInterface;
  const interfacesPerMulti = Math.max(1, Math.floor((options.opsPerMulti ?? 1000) / perInterface));
  const timestamp = 1_700_000_000_000;
  let next = 0;
  let created = 0;
  let lastReport = 0;
  const worker = async (): Promise<void> => {
    while (next < estate.interfaces) {
      const first = next;
      const last = Math.min(estate.interfaces, first + interfacesPerMulti);
      next = last;
      const tx = transaction(client);
      let ops = 0;
      for (let i = first; i < last; i++) {
        const iface = interfaceName(i);
        const base = `${estate.root}/${iface}`;
        tx.create(base, null, zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.PERSISTENT);
        for (const category of CATEGORIES) tx.create(`${base}/${category}`, null, zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.PERSISTENT);
        for (let p = 0; p < estate.providersPerInterface; p++) {
          const n = i * estate.providersPerInterface + p;
          tx.create(`${base}/providers/${providerNodeName(iface, providerHost(estate, n), 20880, timestamp + n)}`, null, zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.PERSISTENT);
        }
        ops += perInterface;
      }
      await new Promise<void>((resolve, reject) => tx.commit((err) => (err === null ? resolve() : reject(err))));
      created += ops;
      if (options.progress && created - lastReport >= 50_000) {
        lastReport = created;
        options.progress(created);
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight ?? 8 }, () => worker()));
  return created + 1;
}

/** Adds a provider as an ephemeral znode of this client's session; resolves on ZooKeeper's answer. */
export function addProvider(client: ZkClient, path: string): Promise<void> {
  return new Promise((resolve, reject) =>
    client.create(path, null, zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.EPHEMERAL, (err) => (err === null ? resolve() : reject(err))),
  );
}

export function removeNode(client: ZkClient, path: string): Promise<void> {
  return new Promise((resolve, reject) => client.remove(path, -1, (err) => (err === null ? resolve() : reject(err))));
}

/** Exact percentile (nearest rank) of a sample; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

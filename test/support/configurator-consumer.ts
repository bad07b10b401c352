// A Dubbo consumer that discovers providers through ZooKeeper and honours override configurators as
// a Java Dubbo 2.7 consumer does (dubbo-registry-directory.ts), since no Java Dubbo runs here: it
// follows `/dubbo/<iface>/providers` and `/configurators`, keeps the providers a Java consumer would
// keep, and sends each call to one of them as Dubbo's default RandomLoadBalance does (by weight),
// over our codec's client. A connection that fails leaves that provider out until the
// registry changes, as Java's availability check does, and a call that could not reach its provider
// is sent to another (FailoverCluster).
import { DubboResponse } from '../../src/dubbo-codec';
import { parseZnodeName, formatDubboUrl } from '../../src/dubbo-codec/dubbo-url';
import { silentLogger } from '../../src/telemetry/logger';
import { Watch, ZkSession } from '../../src/zookeeper-sync/zk-session';
import { RawDubboClient } from './dubbo-client';
import { CallableProvider, ConsumerReference, callableProviders, pickRandom } from './dubbo-registry-directory';

export interface ConfiguratorConsumer {
  /** Provider addresses (`host:port`) it would call now. */
  enabled(): string[];
  /** Calls a method with String arguments; rejects when no provider is left or the connection fails. */
  call(method: string, args?: string[]): Promise<DubboResponse>;
  stop(): Promise<void>;
}

function decode(names: readonly string[] | null): string[] {
  const out: string[] = [];
  for (const name of names ?? []) {
    try {
      out.push(formatDubboUrl(parseZnodeName(name)));
    } catch {
      // Java skips what it cannot parse too.
    }
  }
  return out;
}

export async function startConfiguratorConsumer(zk: string, ref: Omit<ConsumerReference, 'host'> & { host?: string }): Promise<ConfiguratorConsumer> {
  const reference: ConsumerReference = { host: '127.0.0.1', ...ref };
  const session = new ZkSession({ connectString: zk, sessionTimeoutMs: 10_000, logger: silentLogger() });
  session.start();
  await session.whenConnected(10_000);
  let providers: string[] = [];
  let overrides: string[] = [];
  let current: CallableProvider[] = [];
  const failed = new Set<string>();
  const refresh = (): void => {
    current = callableProviders(reference, providers, overrides);
    failed.clear();
  };
  const watches: Watch[] = [
    session.watchChildren(`/dubbo/${ref.interface}/providers`, (names) => {
      providers = decode(names);
      refresh();
    }),
    session.watchChildren(`/dubbo/${ref.interface}/configurators`, (names) => {
      overrides = decode(names);
      refresh();
    }),
  ];
  await session.settled();
  const clients = new Map<string, Promise<RawDubboClient>>();
  const clientFor = (address: string): Promise<RawDubboClient> => {
    let client = clients.get(address);
    if (client !== undefined) {
      const known = client;
      client = known.then((c) => (c.closed ? Promise.reject(new Error(`connection to ${address} closed`)) : c));
    } else {
      const colon = address.lastIndexOf(':');
      client = RawDubboClient.connect(Number(address.slice(colon + 1)), address.slice(0, colon));
      clients.set(address, client);
    }
    return client.catch((err: unknown) => {
      clients.delete(address);
      failed.add(address);
      throw err;
    });
  };
  return {
    enabled: () => current.map((p) => p.address),
    // Dubbo's default FailoverCluster: a call whose provider cannot be reached goes to another one, twice at most.
    async call(method, args = []) {
      let lastError: unknown = null;
      for (let attempt = 0; attempt < 3; attempt++) {
        // Java selects among all, then again among the available ones when its pick is not: the same
        // as selecting among the available ones.
        const usable = current.filter((p) => !failed.has(p.address));
        if (usable.length === 0) break;
        const address = pickRandom(usable, Math.random()).address;
        try {
          const client = await clientFor(address);
          return await client.call({ path: ref.interface, version: ref.version, method, parameterTypes: 'Ljava/lang/String;'.repeat(args.length), args });
        } catch (err) {
          failed.add(address);
          lastError = err;
        }
      }
      throw new Error(`no provider of ${ref.interface} left (enabled: ${current.map((p) => p.address).join(', ') || 'none'}): ${String(lastError)}`);
    },
    async stop() {
      for (const watch of watches) watch.close();
      for (const client of clients.values()) void client.then((c) => c.close(), () => undefined);
      await session.close();
    },
  };
}

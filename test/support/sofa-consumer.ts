// A sofa-rpc-node consumer (the client behind egg-dubbo-rpc) that discovers Dubbo providers through
// ZooKeeper with its own registry, for tests: `<connect>/dubbo` as the registry address makes it read
// `/dubbo/<interface>/providers`, and js-remoting-for-apache-dubbo makes it speak Dubbo 2.
// What it makes of the provider list (node_modules/sofa-rpc-node/lib): URLs with `enabled` other
// than true, another category, interface, group or version are left out; the rest are called in
// turn (its default round-robin load balancer), each at weight 100 unless its own health statistics
// lower it. It reads no configurators and not the URL's `weight`.

type SofaLogger = Record<'debug' | 'info' | 'warn' | 'error', (...args: unknown[]) => void>;

interface SofaConsumerHandle {
  ready(): Promise<void>;
  invoke(method: string, args: unknown[], options?: { responseTimeout?: number }): Promise<unknown>;
}

interface SofaClientHandle {
  createConsumer(options: Record<string, unknown>): SofaConsumerHandle;
  on(event: string, listener: (...args: unknown[]) => void): void;
  close(): Promise<void>;
}

interface SofaRegistryHandle {
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface SofaConsumerOptions {
  zk: string;
  interface: string;
  version: string;
  responseTimeoutMs?: number;
}

export interface SofaConsumer {
  /** Calls a method; rejects with sofa's error. */
  invoke<T = unknown>(method: string, args: unknown[]): Promise<T>;
  /** `host:port` of the providers it currently balances over (its address group, internals). */
  addresses(): string[];
  /** Errors sofa emitted (connection errors land here too). */
  readonly errors: readonly unknown[];
  stop(): Promise<void>;
}

export async function startSofaConsumer(options: SofaConsumerOptions): Promise<SofaConsumer> {
  const sofa = require('sofa-rpc-node') as {
    client: { RpcClient: new (options: Record<string, unknown>) => SofaClientHandle };
    registry: { ZookeeperRegistry: new (options: Record<string, unknown>) => SofaRegistryHandle };
  };
  const errors: unknown[] = [];
  const noop = (): void => undefined;
  const logger: SofaLogger = { debug: noop, info: noop, warn: noop, error: (err: unknown) => errors.push(err) };
  const registry = new sofa.registry.ZookeeperRegistry({ logger, address: `${options.zk}/dubbo` });
  await registry.ready();
  const client = new sofa.client.RpcClient({ logger, registry, protocol: require('js-remoting-for-apache-dubbo') });
  client.on('error', (err) => errors.push(err));
  // retryFaultInterval: its address group sleeps that long between retries of failed addresses, and
  // notices it was closed only when it wakes up (30 s by default would keep the process alive).
  const consumer = client.createConsumer({ interfaceName: options.interface, version: options.version, group: undefined, responseTimeout: options.responseTimeoutMs ?? 3000, retryFaultInterval: 1000 });
  await consumer.ready();
  let stopped: Promise<void> | null = null;
  return {
    invoke: <T>(method: string, args: unknown[]) => consumer.invoke(method, args) as Promise<T>,
    addresses: () => ((consumer as unknown as { _addressGroup?: { allAddressList?: Array<{ host: string }> } })._addressGroup?.allAddressList ?? []).map((a) => a.host),
    errors,
    stop() {
      if (stopped === null) stopped = Promise.all([client.close().catch(noop), registry.close().catch(noop)]).then(noop);
      return stopped;
    },
  };
}

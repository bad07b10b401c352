// Real Dubbo 2 peers from npm for integration tests, with their known faults worked around here,
// in the test's own setup code (see /work/shared/PEERS.md, "Dubbo 2 peers from npm"):
//
// - registerProvider: writes a provider URL into ZooKeeper the way Java Dubbo does (an ephemeral
//   znode under /dubbo/<interface>/providers named by the URL-encoded `dubbo://host:port/<interface>?...`).
//   Any listener can be registered: a sofa provider, a TCP tap in front of one, a fake provider.
// - startSofaProvider: a sofa-rpc-node RpcServer speaking Dubbo 2 through js-remoting-for-apache-dubbo,
//   bound to 127.0.0.1 only (sofa binds every interface), registered with registerProvider instead of
//   sofa's own ZooKeeper registry (which writes a URL without the /<interface> path, breaking
//   apache-dubbo-js, and then makes publish() wait forever).
// - startDubboJsConsumer: an apache-dubbo-js consumer with a typed `call`, quiet, and stoppable:
//   apache-dubbo-js has no close(), so stop() reaches into its scheduler to close the ZooKeeper
//   client and destroy the provider sockets (without that, it reconnects every 3 s and jest hangs).
//
// Faults of these peers that tests may rely on (they are facts about the peers, not bugs here):
// - sofa sends a business exception as status 80 (SERVER_ERROR) with a hessian string body.
// - sofa writes a falsy result (null, 0, '', false) as a bare hessian value with no result-type
//   byte: do not return falsy values from provider methods unless testing exactly that.
// - apache-dubbo-js reports a non-20 status as an Error whose message is the raw body bytes as
//   UTF-8 (hessian string prefix included), prefixed with `uuid: ... invoke <iface>#<method> was error,`.
import { AddressInfo, Server, Socket, createServer } from 'node:net';

// ---------------------------------------------------------------------------------------------
// ZooKeeper registration (node-zookeeper-client 1.x, untyped: the part used here)

interface ZkError extends Error {
  code: number;
}
interface ZkState {
  name: string;
}
interface ZkClient {
  connect(): void;
  close(): void;
  getState(): ZkState;
  once(event: 'connected' | 'disconnected' | 'expired', listener: () => void): this;
  on(event: 'state', listener: (state: ZkState) => void): this;
  removeAllListeners(event?: string): this;
  mkdirp(path: string, callback: (error: ZkError | null, path: string) => void): void;
  create(path: string, data: Buffer | null, mode: number, callback: (error: ZkError | null, path: string) => void): void;
  remove(path: string, version: number, callback: (error: ZkError | null) => void): void;
  getChildren(path: string, callback: (error: ZkError | null, children: string[]) => void): void;
  /** Internals: the socket, destroyed to stop a client that is not connected. */
  connectionManager?: { socket?: Socket };
}
interface ZkModule {
  createClient(connectString: string, options?: { sessionTimeout?: number; spinDelay?: number; retries?: number }): ZkClient;
  CreateMode: { PERSISTENT: number; EPHEMERAL: number };
  Exception: { NO_NODE: number; NODE_EXISTS: number };
}
const zookeeper = require('node-zookeeper-client') as ZkModule;

/** Connects a node-zookeeper-client session; rejects after `timeoutMs`. */
export async function connectZookeeper(connectString: string, timeoutMs = 10_000): Promise<ZkClient> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 10_000, spinDelay: 200, retries: 3 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      closeZookeeper(client).finally(() => reject(new Error(`ZooKeeper at ${connectString} not connected within ${timeoutMs} ms`)));
    }, timeoutMs);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  return client;
}

/** Closes a session and waits until its socket is gone (so ephemerals are removed at once). */
export async function closeZookeeper(client: ZkClient, timeoutMs = 5_000): Promise<void> {
  const state = client.getState().name;
  // Drop listeners others added for these events (apache-dubbo-js reconnects on 'disconnected');
  // keep the client's own 'state' listener, which is what emits them.
  for (const event of ['connected', 'disconnected', 'expired'] as const) client.removeAllListeners(event);
  if (state === 'DISCONNECTED' || state === 'CLOSED' || state === 'EXPIRED') {
    // Not connected: close() only queues a close request; destroy the socket so it stops retrying.
    client.close();
    client.connectionManager?.socket?.destroy();
    return;
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    client.once('disconnected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.close();
  });
}

export interface ProviderUrlOptions {
  /** The Dubbo interface, e.g. `com.example.demo.GreetingService`. */
  interface: string;
  version: string;
  group?: string;
  host?: string;
  port: number;
  /** Method names, written as `methods=a,b`. */
  methods: string[];
  application?: string;
  /** The `dubbo` protocol version parameter; apache-dubbo-js sends it as the request's first field. Default 2.0.2. */
  dubboVersion?: string;
  /** Extra URL parameters. */
  parameters?: Record<string, string>;
}

/**
 * A provider URL as Java Dubbo 2.7 writes it: `dubbo://host:port/<interface>?<params sorted by name>`,
 * parameter values not encoded (so `methods=a,b`); the whole URL is URL-encoded once for the znode name.
 */
export function providerUrl(options: ProviderUrlOptions): string {
  const params: Record<string, string> = {
    anyhost: 'true',
    application: options.application ?? 'mesh-bridge-test-provider',
    deprecated: 'false',
    dubbo: options.dubboVersion ?? '2.0.2',
    dynamic: 'true',
    generic: 'false',
    interface: options.interface,
    methods: [...options.methods].sort().join(','),
    pid: String(process.pid),
    release: '2.7.23',
    revision: options.version,
    side: 'provider',
    timestamp: String(Date.now()),
    version: options.version,
    ...(options.group ? { group: options.group } : {}),
    ...options.parameters,
  };
  const query = Object.keys(params)
    .sort()
    .map((key) => `${key}=${params[key]}`)
    .join('&');
  return `dubbo://${options.host ?? '127.0.0.1'}:${options.port}/${options.interface}?${query}`;
}

export interface ProviderRegistration {
  /** The decoded provider URL. */
  readonly url: string;
  /** The full znode path (its last segment is the URL-encoded URL). */
  readonly znode: string;
  /** Removes the znode and closes the session. Idempotent. */
  unregister(): Promise<void>;
}

/**
 * Registers a provider URL in ZooKeeper as Java Dubbo does: an ephemeral znode
 * `/dubbo/<interface>/providers/<encodeURIComponent(url)>`, owned by a session of its own.
 */
export async function registerProvider(zkConnectString: string, options: ProviderUrlOptions): Promise<ProviderRegistration> {
  const url = providerUrl(options);
  const parent = `/dubbo/${options.interface}/providers`;
  const znode = `${parent}/${encodeURIComponent(url)}`;
  const client = await connectZookeeper(zkConnectString);
  try {
    await new Promise<void>((resolve, reject) => client.mkdirp(parent, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) =>
      client.create(znode, null, zookeeper.CreateMode.EPHEMERAL, (err) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    await closeZookeeper(client);
    throw err;
  }
  let done: Promise<void> | null = null;
  return {
    url,
    znode,
    unregister() {
      if (done === null) {
        done = new Promise<void>((resolve) => {
          client.remove(znode, -1, () => resolve());
        }).then(() => closeZookeeper(client));
      }
      return done;
    },
  };
}

/** Children of `/dubbo/<interface>/<category>`, URL-decoded ([] when the node is missing). */
export async function listRegistered(zkConnectString: string, dubboInterface: string, category: 'providers' | 'consumers'): Promise<string[]> {
  const client = await connectZookeeper(zkConnectString);
  try {
    return await new Promise<string[]>((resolve, reject) =>
      client.getChildren(`/dubbo/${dubboInterface}/${category}`, (err, children) => {
        if (err && err.code === zookeeper.Exception.NO_NODE) resolve([]);
        else if (err) reject(err);
        else resolve(children.map((child) => decodeURIComponent(child)));
      }),
    );
  } finally {
    await closeZookeeper(client);
  }
}

// ---------------------------------------------------------------------------------------------
// sofa-rpc-node provider with the js-remoting-for-apache-dubbo protocol

/** A provider method: receives the decoded arguments; may return a value or a promise, or throw. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ProviderMethod = (...args: any[]) => unknown;

export interface SofaProviderOptions {
  /** ZooKeeper connect string; needed when `register` is true. */
  zk?: string;
  interface: string;
  version: string;
  group?: string;
  methods: Record<string, ProviderMethod>;
  /** Register `dubbo://127.0.0.1:<port>/<interface>?...` in ZooKeeper. Default true. */
  register?: boolean;
  application?: string;
}

export interface SofaProvider {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** The registered provider URL, or the URL it would have when not registered. */
  readonly url: string;
  /** Errors sofa logged or emitted (business exceptions thrown by methods land here too). */
  readonly errors: readonly unknown[];
  /** Unregisters, closes the listener and destroys every connection. Idempotent. */
  stop(): Promise<void>;
}

interface SofaLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

interface SofaConnection {
  socket: Socket;
  close(): Promise<void>;
}

interface SofaRpcServer {
  publishPort: number;
  logger: SofaLogger;
  _servers: Server[];
  _connections: Map<string, SofaConnection>;
  _started: boolean;
  addService(info: { interfaceName: string; version: string; group?: string }, delegate: Record<string, ProviderMethod>): void;
  start(): Promise<void>;
  ready(flag: boolean): void;
  emit(event: string, ...args: unknown[]): boolean;
  on(event: string, listener: (...args: unknown[]) => void): this;
  _handleSocket(socket: Socket): void;
}
type SofaRpcServerClass = new (options: Record<string, unknown>) => SofaRpcServer;

let loopbackServerClass: SofaRpcServerClass | null = null;

/**
 * sofa's RpcServer, changed only where it is unfit for tests: it listens on 127.0.0.1 (sofa's
 * listens on every interface) and start() installs no process-wide `graceful` handlers.
 */
function loopbackRpcServer(): SofaRpcServerClass {
  if (loopbackServerClass === null) {
    const { RpcServer } = require('sofa-rpc-node').server as { RpcServer: SofaRpcServerClass };
    class LoopbackRpcServer extends RpcServer {
      override async start(): Promise<void> {
        if (this._started) return;
        this._started = true;
        const server = createServer((socket) => this._handleSocket(socket));
        this._servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(this.publishPort, '127.0.0.1', () => {
            server.off('error', reject);
            server.on('error', (err) => this.emit('error', err));
            this.publishPort = (server.address() as AddressInfo).port;
            resolve();
          });
        });
        this.emit('listening');
        this.ready(true);
      }
    }
    loopbackServerClass = LoopbackRpcServer;
  }
  return loopbackServerClass;
}

/** Starts a sofa-rpc-node Dubbo provider on 127.0.0.1:<free port>, registered in ZooKeeper unless `register: false`. */
export async function startSofaProvider(options: SofaProviderOptions): Promise<SofaProvider> {
  const errors: unknown[] = [];
  const noop = (): void => undefined;
  const logger: SofaLogger = { debug: noop, info: noop, warn: noop, error: (err: unknown) => errors.push(err) };
  const RpcServer = loopbackRpcServer();
  const server = new RpcServer({
    appName: options.application ?? 'mesh-bridge-sofa-provider',
    logger,
    port: 0,
    // No registry: registerProvider writes a correct URL instead of sofa's (see the file comment).
    registry: undefined,
    protocol: require('js-remoting-for-apache-dubbo'),
    version: options.version,
    group: options.group,
  });
  server.on('error', (err) => errors.push(err));
  // sofa only invokes real async functions (is.asyncFunction): wrap every implementation.
  const delegate: Record<string, ProviderMethod> = {};
  for (const [name, impl] of Object.entries(options.methods)) {
    delegate[name] = async function (this: unknown, ...args: unknown[]) {
      return impl.apply(this, args);
    };
  }
  server.addService({ interfaceName: options.interface, version: options.version, group: options.group }, delegate);
  await server.start();
  const port = server.publishPort;

  const urlOptions: ProviderUrlOptions = {
    interface: options.interface,
    version: options.version,
    group: options.group,
    port,
    methods: Object.keys(options.methods),
    application: options.application ?? 'mesh-bridge-sofa-provider',
  };
  let registration: ProviderRegistration | null = null;
  if (options.register ?? true) {
    if (!options.zk) throw new Error('startSofaProvider: `zk` is required to register');
    registration = await registerProvider(options.zk, urlOptions);
  }

  let stopped: Promise<void> | null = null;
  return {
    port,
    address: `127.0.0.1:${port}`,
    url: registration?.url ?? providerUrl(urlOptions),
    errors,
    stop() {
      if (stopped === null) {
        stopped = (async () => {
          if (registration) await registration.unregister();
          const closing = server._servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
          for (const connection of server._connections.values()) connection.socket.destroy();
          await Promise.all([...server._connections.values()].map((c) => c.close().catch(noop)));
          await Promise.all(closing);
        })();
      }
      return stopped;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// apache-dubbo-js consumer

/** A Java-typed argument as js-to-java builds it: `{ $class, $ }`. */
export interface JavaValue {
  $class: string;
  $: unknown;
}

/** js-to-java's helpers as re-exported by apache-dubbo-js (the subset typed here; all exist). */
export interface JavaHelpers {
  (className: string, value: unknown): JavaValue;
  String(value: string | null): JavaValue;
  int(value: number): JavaValue;
  Integer(value: number | null): JavaValue;
  long(value: number | string): JavaValue;
  Long(value: number | string | null): JavaValue;
  double(value: number): JavaValue;
  boolean(value: boolean): JavaValue;
  Boolean(value: boolean | null): JavaValue;
  Map(value: Record<string, unknown> | null): JavaValue;
  HashMap(value: Record<string, unknown> | null): JavaValue;
  List(value: unknown[] | null): JavaValue;
  array(className: string, value: unknown[] | null): JavaValue;
}

interface DubboJsModule {
  Dubbo: new (props: Record<string, unknown>) => DubboJsClient;
  java: JavaHelpers;
}
interface DubboJsSettingModule {
  Setting: new () => { match(interfaces: string[], setting: { version: string; group?: string }): unknown };
}
interface DubboJsContext {
  requestId: number;
  attachments: Record<string, unknown>;
}
interface DubboJsClient {
  service: Record<string, Record<string, (...args: JavaValue[]) => Promise<{ err: Error | null; res: unknown }>>>;
  ready(): Promise<void>;
  use(fn: (ctx: DubboJsContext, next: () => Promise<void>) => Promise<void>): this;
  proxyService(provider: Record<string, unknown>): unknown;
}
interface DubboJsSocketWorker {
  host: string;
  port: number;
  isAvaliable: boolean;
  _retry: number;
  _retryTimeoutId?: NodeJS.Timeout;
  _heartBeatTimer?: NodeJS.Timeout;
  _socket: Socket;
  setWriteTimestamp(): void;
}
interface DubboJsScheduler {
  _status: string;
  _queue: { allFailed(err: Error): void; requestQueue: Map<number, unknown> };
  _dubboAgent: { _serverAgentMap: Map<string, DubboJsSocketWorker> };
  _registry: { _client?: ZkClient; _checkTimer?: NodeJS.Timeout };
}
interface SchedulerClass {
  from(registry: unknown, queue: unknown): DubboJsScheduler;
  __meshBridgeCapture?: DubboJsScheduler[];
}

const dubboJs = require('apache-dubbo-js') as DubboJsModule;
/** js-to-java, the argument wrappers apache-dubbo-js expects: `java.String('x')`, `java('com.Foo', {...})`. */
export const java: JavaHelpers = dubboJs.java;

/**
 * apache-dubbo-js creates its Scheduler (which owns the ZooKeeper registry and the sockets) inside
 * the Dubbo constructor and keeps no reference to it. Wrap Scheduler.from once to catch each one.
 */
function schedulerCapture(): DubboJsScheduler[] {
  const Scheduler = (require('apache-dubbo-js/es7/scheduler') as { default: SchedulerClass }).default;
  if (!Scheduler.__meshBridgeCapture) {
    const captured: DubboJsScheduler[] = [];
    const original = Scheduler.from.bind(Scheduler);
    Scheduler.from = (registry: unknown, queue: unknown) => {
      const scheduler = original(registry, queue);
      captured.push(scheduler);
      return scheduler;
    };
    Scheduler.__meshBridgeCapture = captured;
  }
  return Scheduler.__meshBridgeCapture;
}

export interface DubboJsConsumerOptions {
  zk: string;
  interface: string;
  version: string;
  group?: string;
  /** Method names the consumer may call. */
  methods: string[];
  application?: string;
  /** Per-call timeout in seconds (apache-dubbo-js also sends it as the `timeout` attachment). Default 5. */
  timeoutSeconds?: number;
  /** Wait in start until a provider socket is connected. Default true. */
  waitForProvider?: boolean;
  readyTimeoutMs?: number;
}

export interface DubboJsCallResult<T = unknown> {
  err: Error | null;
  res: T | null;
  /** The request id apache-dubbo-js put in the frame header. */
  requestId: number;
}

export interface DubboJsConsumer {
  /** Calls `method` with java-wrapped arguments; never rejects (errors come back as `err`). */
  call<T = unknown>(method: string, args: JavaValue[], options?: { attachments?: Record<string, string> }): Promise<DubboJsCallResult<T>>;
  /** Provider addresses (`host:port`) with a connected socket. */
  connectedProviders(): string[];
  /**
   * Writes apache-dubbo-js's own heartbeat frame (request id 0, body hessian null) on every
   * connected provider socket now, instead of after its 180 s idle timer. Internals, for tests.
   */
  sendHeartbeat(): number;
  /** Fails pending calls, closes the ZooKeeper session and destroys every socket. Idempotent. */
  stop(): Promise<void>;
}

/** Starts an apache-dubbo-js consumer of one interface discovering providers in ZooKeeper. */
export async function startDubboJsConsumer(options: DubboJsConsumerOptions): Promise<DubboJsConsumer> {
  const { Setting } = require('apache-dubbo-js/es7/setting') as DubboJsSettingModule;
  const heartbeat = (require('apache-dubbo-js/es7/heartbeat') as { default: { encode(): Buffer } }).default;
  const captured = schedulerCapture();
  // A Setting of its own: the package's default one is a process-wide singleton with a cache.
  const dubboSetting = new Setting().match([options.interface], { version: options.version, ...(options.group ? { group: options.group } : {}) });
  const proxyMethods: Record<string, (...args: JavaValue[]) => JavaValue[]> = {};
  for (const name of options.methods) proxyMethods[name] = (...args: JavaValue[]) => args;

  const before = captured.length;
  const dubbo = new dubboJs.Dubbo({
    application: { name: options.application ?? 'mesh-bridge-dubbo-js-consumer' },
    register: options.zk,
    dubboSetting,
    dubboInvokeTimeout: options.timeoutSeconds ?? 5,
    service: {
      target: (d: DubboJsClient) =>
        d.proxyService({
          dubboInterface: options.interface,
          methods: proxyMethods,
          timeout: options.timeoutSeconds ?? 5,
        }),
    },
  });
  if (captured.length !== before + 1) throw new Error('apache-dubbo-js: scheduler not captured (package internals changed?)');
  const scheduler = captured[before];

  // Attachments and request ids per call: the middleware runs synchronously inside the proxy call.
  let nextAttachments: Record<string, string> | undefined;
  let lastRequestId = -1;
  dubbo.use(async (ctx, next) => {
    lastRequestId = ctx.requestId;
    if (nextAttachments) ctx.attachments = nextAttachments;
    nextAttachments = undefined;
    await next();
  });

  const workers = (): DubboJsSocketWorker[] => [...scheduler._dubboAgent._serverAgentMap.values()];
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (stopped === null) {
      stopped = (async () => {
        scheduler._queue.allFailed(new Error('consumer stopped'));
        const registry = scheduler._registry;
        clearInterval(registry._checkTimer);
        if (registry._client) {
          // Its 'disconnected' listener would reconnect: closeZookeeper removes listeners first.
          await closeZookeeper(registry._client as unknown as ZkClient);
        }
        await Promise.all(
          workers().map((worker) => {
            worker._retry = 0;
            clearTimeout(worker._retryTimeoutId);
            clearInterval(worker._heartBeatTimer);
            const socket = worker._socket;
            if (!socket || socket.destroyed) return Promise.resolve();
            return new Promise<void>((resolve) => {
              socket.once('close', () => {
                clearTimeout(worker._retryTimeoutId);
                clearInterval(worker._heartBeatTimer);
                resolve();
              });
              socket.destroy();
            });
          }),
        );
      })();
    }
    return stopped;
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  try {
    await withTimeout(dubbo.ready(), readyTimeoutMs, 'apache-dubbo-js did not connect to ZooKeeper');
    if (options.waitForProvider ?? true) {
      const deadline = Date.now() + readyTimeoutMs;
      while (!workers().some((w) => w.isAvaliable)) {
        if (Date.now() > deadline) throw new Error(`apache-dubbo-js found no connected provider of ${options.interface} within ${readyTimeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const service = dubbo.service.target;
  return {
    async call<T>(method: string, args: JavaValue[], callOptions: { attachments?: Record<string, string> } = {}) {
      const fn = service[method];
      if (!fn) throw new Error(`method ${method} was not declared in startDubboJsConsumer({methods})`);
      nextAttachments = callOptions.attachments;
      const pending = fn(...args);
      const requestId = lastRequestId;
      const { err, res } = await pending;
      return { err: err ?? null, res: (res ?? null) as T | null, requestId };
    },
    connectedProviders: () => workers().filter((w) => w.isAvaliable).map((w) => `${w.host}:${w.port}`),
    sendHeartbeat() {
      let sent = 0;
      for (const worker of workers()) {
        if (!worker.isAvaliable) continue;
        worker.setWriteTimestamp();
        worker._socket.write(heartbeat.encode());
        sent++;
      }
      return sent;
    },
    stop,
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

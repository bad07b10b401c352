// One ZooKeeper session that outlives connection loss and expiry: it reconnects, replaces an expired
// session with a new one, re-arms every watch on each new connection, and offers promise helpers.
import { EventEmitter } from 'node:events';
import { MeshBridgeError } from '../errors';
import type { Logger } from '../telemetry/logger';
import { LightWatcherManager, ZkClient, splitFrames, ZkEvent, ZkException, ZkStat, ZkState, zkCode, zookeeper } from './zk-client';

export type SessionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface ConnectedInfo {
  /** The session id as 16 hex digits. */
  sessionId: string;
  /** True when ZooKeeper gave a new session (the first one, or after expiry): our ephemerals are gone. */
  newSession: boolean;
  /** Increases with every connection, so callers can tell a reconnect from the first connect. */
  epoch: number;
}

interface SessionEvents {
  connected: [ConnectedInfo];
  disconnected: [];
  expired: [];
}

export interface ZkSessionOptions {
  /** `host:port[,host:port...][/chroot]` */
  connectString: string;
  sessionTimeoutMs: number;
  logger: Logger;
  /**
   * Longest random pause between rounds of connection attempts (node-zookeeper-client's spinDelay)
   * for the first client; each client replaced for not connecting doubles it, up to maxSpinDelayMs.
   */
  spinDelayMs?: number;
  maxSpinDelayMs?: number;
  /** A client not connected this long after it was made is replaced (default: max(2 x session timeout, 10 s)). */
  connectDeadlineMs?: number;
  /** Most watch reads in flight at once (default 100); more wait their turn. */
  maxReadsInFlight?: number;
}

const DEFAULT_MAX_READS_IN_FLIGHT = 100;

export type ChildrenListener = (children: string[] | null) => void;
export type DataListener = (data: Buffer | null, stat: ZkStat | null) => void;

/** A watch kept armed across reconnects and sessions until closed. */
export interface Watch {
  readonly path: string;
  close(): void;
}

const { Exception, CreateMode, ACL, State } = zookeeper;

/** Errors that mean "try again once connected": the watch or write is redone on the next connection. */
export function isConnectionError(err: unknown): boolean {
  const code = zkCode(err);
  return code === Exception.CONNECTION_LOSS || code === Exception.SESSION_EXPIRED || (err instanceof MeshBridgeError && (err.code === 'ZK_UNAVAILABLE' || err.code === 'ZK_SESSION_EXPIRED'));
}

/**
 * A path built by concatenation is a rope, and every read of it would flatten it into yet another
 * copy: a watch keeps one flat copy instead.
 */
function flatString(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

export function hexSessionId(id: Buffer): string {
  return id.toString('hex');
}

abstract class ArmedWatch implements Watch {
  closed = false;
  private inFlight = false;
  private again = false;
  private epoch = -1;
  /** The read slot this watch holds (see ZkSession.requestRead): whether, and under which connection. */
  private slotHeld = false;
  private slotEpoch = 0;
  /**
   * One function per watch, so the client's watch table never holds duplicates for a path. Bound,
   * not an arrow in a field: tens of thousands of watches, and a bound function is the smallest.
   */
  protected readonly onEvent: (event: ZkEvent) => void = this.fire.bind(this);

  constructor(
    protected readonly session: ZkSession,
    readonly path: string,
  ) {}

  close(): void {
    this.closed = true;
    this.session.forgetWatch(this);
  }

  private fire(_event: ZkEvent): void {
    this.arm();
  }

  /** Starts over on a new connection: earlier requests' answers are ignored. */
  rearm(epoch: number): void {
    this.epoch = epoch;
    this.inFlight = false;
    this.again = false;
    this.arm();
  }

  arm(): void {
    if (this.closed) return;
    if (this.session.currentClient() === null) return;
    if (this.inFlight) {
      // Coalesce bursts: one read in flight per watch, one more after it if anything fired meanwhile.
      this.again = true;
      return;
    }
    this.inFlight = true;
    this.again = false;
    // The read starts when the session has a slot free (startRead), in the order asked.
    this.session.requestRead(this, this.epoch);
  }

  /**
   * @internal Called by the session with a read slot held: reads, and gives the slot back once
   * answered. False when there is nothing to read (closed, or superseded): the slot stays free.
   */
  startRead(watchEpoch: number, slotEpoch: number): boolean {
    const client = this.session.currentClient();
    if (watchEpoch !== this.epoch || this.closed || client === null) {
      if (watchEpoch === this.epoch) this.inFlight = false;
      return false;
    }
    this.slotHeld = true;
    this.slotEpoch = slotEpoch;
    this.read(client, (outcome) => {
      this.releaseSlot();
      if (watchEpoch !== this.epoch || this.closed) return;
      this.inFlight = false;
      if (outcome === 'retry') {
        this.arm();
        return;
      }
      if (outcome === 'failed') {
        this.session.watchSettled(this);
        return;
      }
      if (this.again) this.arm();
      else this.session.watchSettled(this);
    });
    return true;
  }

  /** Gives the read slot back (once): the answer came, or none worth waiting for will. */
  protected releaseSlot(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    this.session.readDone(this.slotEpoch);
  }

  /** Reads the node and re-sets the watch; `done('delivered')` after the listener ran. */
  protected abstract read(client: ZkClient, done: (outcome: 'delivered' | 'retry' | 'failed') => void): void;

  protected handleError(err: ZkException, done: (outcome: 'delivered' | 'retry' | 'failed') => void): void {
    if (isConnectionError(err)) {
      // No answer worth waiting for: the slot goes to the next read now.
      this.releaseSlot();
      // Normally re-armed when the connection (or a new session) is back. But a request can fail
      // with a connection error while the session already counts as connected again (it was sent
      // on the socket that just died): then no new connection event comes, so retry shortly.
      const epoch = this.session.currentEpoch;
      setTimeout(() => {
        if (!this.closed && this.session.connected && this.session.currentEpoch === epoch) done('retry');
      }, 200).unref();
      return;
    }
    this.session.reportWatchError(this.path, err);
    done('failed');
  }
}

class ChildrenWatch extends ArmedWatch {
  constructor(
    session: ZkSession,
    path: string,
    private readonly listener: ChildrenListener,
  ) {
    super(session, path);
  }

  protected read(client: ZkClient, done: (outcome: 'delivered' | 'retry' | 'failed') => void): void {
    client.getChildren(this.path, this.onEvent, (err, children) => {
      if (err === null) {
        this.session.deliver(this.path, () => this.listener(children));
        done('delivered');
      } else if (err.getCode() === Exception.NO_NODE) {
        this.watchCreation(client, done);
      } else this.handleError(err, done);
    });
  }

  private watchCreation(client: ZkClient, done: (outcome: 'delivered' | 'retry' | 'failed') => void): void {
    client.exists(this.path, this.onEvent, (err, stat) => {
      if (err !== null) this.handleError(err, done);
      else if (stat !== null) done('retry'); // created between the two calls
      else {
        this.session.deliver(this.path, () => this.listener(null));
        done('delivered');
      }
    });
  }
}

class DataWatch extends ArmedWatch {
  constructor(
    session: ZkSession,
    path: string,
    private readonly listener: DataListener,
  ) {
    super(session, path);
  }

  protected read(client: ZkClient, done: (outcome: 'delivered' | 'retry' | 'failed') => void): void {
    client.getData(this.path, this.onEvent, (err, data, stat) => {
      if (err === null) {
        this.session.deliver(this.path, () => this.listener(data ?? Buffer.alloc(0), stat));
        done('delivered');
      } else if (err.getCode() === Exception.NO_NODE) {
        client.exists(this.path, this.onEvent, (err2, stat2) => {
          if (err2 !== null) this.handleError(err2, done);
          else if (stat2 !== null) done('retry');
          else {
            this.session.deliver(this.path, () => this.listener(null, null));
            done('delivered');
          }
        });
      } else this.handleError(err, done);
    });
  }
}

/**
 * A ZooKeeper session wrapper over node-zookeeper-client.
 *
 * Watches: the client would replay every watch in one SetWatches packet on reconnect; past about
 * 1 MiB of paths (a few thousand interfaces) the server rejects that packet ("Len error ...
 * jute.maxbuffer") and drops the connection, forever. So the client's watch table is cleared on
 * disconnect and every Watch is re-armed by reading again once connected, which also catches up
 * with whatever changed meanwhile. That table is a LightWatcherManager (zk-client.ts), not the
 * client's own (an EventEmitter per path), and the client's socket handler gets whole frames
 * (splitFrames). Watch reads are capped in flight (maxReadsInFlight), so an initial sync of tens of
 * thousands of watches never holds all their requests and answers at once.
 */
export class ZkSession extends EventEmitter<SessionEvents> {
  private client: ZkClient | null = null;
  private currentState: SessionState = 'idle';
  private lastSessionId: string | null = null;
  private epoch = 0;
  private readonly watches = new Set<ArmedWatch>();
  /** Watches not yet read since the current connection was made. */
  private readonly unsettled = new Set<ArmedWatch>();
  private settledWaiters: Array<() => void> = [];
  /** Operations in flight on the current client: failed explicitly when that client is dropped. */
  private readonly pendingOps = new Set<(err: Error) => void>();
  /**
   * Watch reads in flight are capped: answering tens of thousands of getChildren at once would
   * hold every request, answer and parse result at the same time, and V8 keeps its heap sized to
   * that peak long after. Reads past the cap wait in order.
   */
  private readsInFlight = 0;
  /** The connection the in-flight count belongs to: answers from an older one do not count. */
  private readSlotEpoch = 0;
  private readQueue: Array<{ watch: ArmedWatch; epoch: number }> = [];
  private readQueueHead = 0;
  /** Persistent parents known to exist in this session. */
  private readonly knownPaths = new Set<string>();
  private readonly logger: Logger;
  reconnects = 0;
  expiries = 0;
  /** Clients replaced in a row because they never connected; 0 once connected. */
  failedConnects = 0;

  constructor(readonly options: ZkSessionOptions) {
    super();
    this.logger = options.logger;
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** Increases with every connection. */
  get currentEpoch(): number {
    return this.epoch;
  }

  get connected(): boolean {
    return this.currentState === 'connected';
  }

  /** The current session id as hex, or null before the first connection. */
  get sessionId(): string | null {
    return this.lastSessionId;
  }

  /** Starts connecting; returns at once. Listen for `connected`, or await whenConnected(). */
  start(): void {
    if (this.client !== null || this.currentState === 'closed') return;
    this.newClient();
  }

  /** Resolves once connected; rejects with ZK_UNAVAILABLE after `timeoutMs` (the session keeps trying). */
  whenConnected(timeoutMs = this.options.sessionTimeoutMs): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      // Beyond a 32-bit delay, setTimeout fires at once: such a wait has no deadline.
      const timer = timeoutMs > 0x7fffffff ? undefined : setTimeout(() => {
        this.off('connected', onConnected);
        reject(new MeshBridgeError('ZK_UNAVAILABLE', `not connected to ZooKeeper ${this.options.connectString} after ${timeoutMs} ms`, { where: this.options.connectString }));
      }, timeoutMs);
      const onConnected = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.once('connected', onConnected);
    });
  }

  /**
   * Resolves when every open watch has been read at least once on the current connection,
   * including watches opened by listeners meanwhile: the mirror is complete.
   */
  settled(): Promise<void> {
    if (this.connected && this.unsettled.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /** Closes the session: its ephemeral nodes vanish at once. */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    const client = this.client;
    const wasConnected = this.connected;
    this.currentState = 'closed';
    for (const watch of this.watches) watch.closed = true;
    this.watches.clear();
    this.unsettled.clear();
    this.client = null;
    // Waiters wake up and find the session closed.
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const resolve of waiters) resolve();
    this.failPending(new MeshBridgeError('ZK_UNAVAILABLE', 'ZooKeeper session closed', { where: this.options.connectString }));
    if (client === null) return;
    client.removeAllListeners('state');
    if (!wasConnected) {
      // close() would queue a close request behind a connect that may never happen.
      client.close();
      client.connectionManager.socket?.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.connectionManager.socket?.destroy();
        resolve();
      }, 2000);
      client.on('state', (state) => {
        if (state === State.DISCONNECTED) {
          clearTimeout(timer);
          resolve();
        }
      });
      client.close();
    });
  }

  // ---- promise helpers ----

  getChildren(path: string): Promise<string[]> {
    return this.op((client, cb) => client.getChildren(path, undefined, (err, children) => cb(err, children)));
  }

  /** The node's data and stat, or null when it does not exist. */
  async getData(path: string): Promise<{ data: Buffer; stat: ZkStat } | null> {
    try {
      return await this.op<{ data: Buffer; stat: ZkStat }>((client, cb) => client.getData(path, undefined, (err, data, stat) => cb(err, { data: data ?? Buffer.alloc(0), stat })));
    } catch (err) {
      if (zkCode(err) === Exception.NO_NODE) return null;
      throw err;
    }
  }

  exists(path: string): Promise<ZkStat | null> {
    return this.op((client, cb) => client.exists(path, undefined, cb));
  }

  create(path: string, data: Buffer | null, mode: 'persistent' | 'ephemeral' | 'ephemeral-sequential'): Promise<string> {
    const flag = mode === 'persistent' ? CreateMode.PERSISTENT : mode === 'ephemeral' ? CreateMode.EPHEMERAL : CreateMode.EPHEMERAL_SEQUENTIAL;
    return this.op((client, cb) => client.create(path, data, ACL.OPEN_ACL_UNSAFE, flag, cb));
  }

  /** Deletes a node; true when it was there. */
  async remove(path: string, version = -1): Promise<boolean> {
    try {
      await this.op<null>((client, cb) => client.remove(path, version, (err) => cb(err, null)));
      return true;
    } catch (err) {
      if (zkCode(err) === Exception.NO_NODE) return false;
      throw err;
    }
  }

  setData(path: string, data: Buffer, version = -1): Promise<ZkStat> {
    return this.op((client, cb) => client.setData(path, data, version, cb));
  }

  /** Creates a persistent path and its missing parents (remembered for the session). */
  async mkdirp(path: string): Promise<void> {
    if (this.knownPaths.has(path) || path === '/') return;
    const parts = path.split('/').filter((p) => p.length > 0);
    let current = '';
    for (const part of parts) {
      current += `/${part}`;
      if (this.knownPaths.has(current)) continue;
      try {
        await this.create(current, null, 'persistent');
      } catch (err) {
        if (zkCode(err) !== Exception.NODE_EXISTS) throw err;
      }
      this.knownPaths.add(current);
    }
  }

  /** Creates a node, making its parents first when missing. */
  async createWithParents(path: string, data: Buffer | null, mode: 'persistent' | 'ephemeral' | 'ephemeral-sequential'): Promise<string> {
    try {
      return await this.create(path, data, mode);
    } catch (err) {
      if (zkCode(err) !== Exception.NO_NODE) throw err;
      await this.mkdirp(path.slice(0, path.lastIndexOf('/')));
      return this.create(path, data, mode);
    }
  }

  /** True when `stat` is an ephemeral node of this very session. */
  ownsEphemeral(stat: ZkStat): boolean {
    return this.lastSessionId !== null && hexSessionId(stat.ephemeralOwner) === this.lastSessionId;
  }

  /** The session id and password, e.g. for a test that expires this session from another client. */
  credentials(): { sessionId: Buffer; password: Buffer } | null {
    if (this.client === null || this.lastSessionId === null) return null;
    return { sessionId: this.client.getSessionId(), password: this.client.getSessionPassword() };
  }

  // ---- watches ----

  /** Follows a node's children (null while the node does not exist), across reconnects and sessions. */
  watchChildren(path: string, listener: ChildrenListener): Watch {
    return this.addWatch(new ChildrenWatch(this, flatString(path), listener));
  }

  /** Follows a node's data (null while the node does not exist), across reconnects and sessions. */
  watchData(path: string, listener: DataListener): Watch {
    return this.addWatch(new DataWatch(this, flatString(path), listener));
  }

  /** @internal */
  currentClient(): ZkClient | null {
    return this.connected || this.currentState === 'disconnected' || this.currentState === 'connecting' ? this.client : null;
  }

  /** @internal Runs a listener; a throwing listener must not break the watch machinery. */
  deliver(path: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.logger.error({ err, path }, 'zookeeper watch listener failed');
    }
  }

  /** @internal A watch wants to read (under its own epoch `watchEpoch`): now if a slot is free, else in turn. */
  requestRead(watch: ArmedWatch, watchEpoch: number): void {
    if (this.readsInFlight < this.maxReadsInFlight) {
      this.readsInFlight++;
      if (!watch.startRead(watchEpoch, this.readSlotEpoch)) this.readsInFlight--;
      return;
    }
    this.readQueue.push({ watch, epoch: watchEpoch });
  }

  /** @internal A read taken under `slotEpoch` was answered (or abandoned): its slot goes to the next waiting. */
  readDone(slotEpoch: number): void {
    if (slotEpoch !== this.readSlotEpoch) return;
    this.readsInFlight--;
    while (this.readsInFlight < this.maxReadsInFlight && this.readQueueHead < this.readQueue.length) {
      const next = this.readQueue[this.readQueueHead++];
      if (this.readQueueHead === this.readQueue.length) {
        this.readQueue = [];
        this.readQueueHead = 0;
      } else if (this.readQueueHead >= 4096 && this.readQueueHead * 2 >= this.readQueue.length) {
        this.readQueue = this.readQueue.slice(this.readQueueHead);
        this.readQueueHead = 0;
      }
      this.readsInFlight++;
      if (!next.watch.startRead(next.epoch, this.readSlotEpoch)) this.readsInFlight--;
    }
  }

  private get maxReadsInFlight(): number {
    return this.options.maxReadsInFlight ?? DEFAULT_MAX_READS_IN_FLIGHT;
  }

  /** Forgets every read slot and waiting read: a new connection re-arms every watch anyway. */
  private resetReads(): void {
    this.readSlotEpoch++;
    this.readsInFlight = 0;
    this.readQueue = [];
    this.readQueueHead = 0;
  }

  /** @internal */
  watchSettled(watch: ArmedWatch): void {
    if (!this.unsettled.delete(watch)) return;
    this.checkSettled();
  }

  /** @internal */
  forgetWatch(watch: ArmedWatch): void {
    this.watches.delete(watch);
    this.watchSettled(watch);
  }

  /** @internal */
  reportWatchError(path: string, err: ZkException): void {
    this.logger.warn({ path, code: err.getCode(), error: err.getName() }, 'zookeeper watch failed; retried on the next connection');
  }

  private addWatch<W extends ArmedWatch>(watch: W): W {
    this.watches.add(watch);
    this.unsettled.add(watch);
    if (this.connected) watch.rearm(this.epoch);
    return watch;
  }

  private checkSettled(): void {
    if (!this.connected || this.unsettled.size > 0 || this.settledWaiters.length === 0) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private op<T>(start: (client: ZkClient, cb: (err: ZkException | null, result: T) => void) => void): Promise<T> {
    const client = this.currentClient();
    if (client === null) {
      return Promise.reject(new MeshBridgeError('ZK_UNAVAILABLE', `ZooKeeper session is ${this.currentState}`, { where: this.options.connectString }));
    }
    return new Promise<T>((resolve, reject) => {
      let finished = false;
      const fail = (err: Error): void => {
        if (finished) return;
        finished = true;
        this.pendingOps.delete(fail);
        reject(err);
      };
      this.pendingOps.add(fail);
      start(client, (err, result) => {
        if (finished) return;
        finished = true;
        this.pendingOps.delete(fail);
        if (err !== null) reject(err);
        else resolve(result);
      });
    });
  }

  private failPending(err: Error): void {
    const pending = [...this.pendingOps];
    this.pendingOps.clear();
    for (const fail of pending) fail(err);
  }

  private newClient(): void {
    const client = zookeeper.createClient(this.options.connectString, {
      sessionTimeout: this.options.sessionTimeoutMs,
      spinDelay: this.spinDelay(),
      retries: 0,
    });
    client.connectionManager.watcherManager = new LightWatcherManager();
    splitFrames(client.connectionManager);
    this.client = client;
    this.currentState = 'connecting';
    client.on('state', (state) => this.onClientState(client, state));
    client.connect();
    this.armConnectDeadline(client);
  }

  /** The pause between connection rounds: doubled for each client replaced in a row, capped. */
  private spinDelay(): number {
    const base = this.options.spinDelayMs ?? 1000;
    return Math.min(this.options.maxSpinDelayMs ?? 30_000, base * 2 ** Math.min(this.failedConnects, 16));
  }

  /**
   * A client that never connects (ZooKeeper down at start, or a client that does not come back
   * once it is up, as has been seen) is replaced with a slower-paced one: the bridge keeps trying,
   * with backoff, for as long as it runs.
   */
  private armConnectDeadline(client: ZkClient): void {
    const deadline = this.options.connectDeadlineMs ?? Math.max(2 * this.options.sessionTimeoutMs, 10_000);
    const timer = setTimeout(() => {
      if (client !== this.client || this.currentState !== 'connecting') return;
      this.failedConnects++;
      this.logger.warn(
        { connectString: this.options.connectString, attempt: this.failedConnects, nextSpinDelayMs: this.spinDelay() },
        `zookeeper not reachable within ${deadline} ms; still trying, more slowly`,
      );
      client.removeAllListeners('state');
      client.close();
      this.client = null;
      this.newClient();
    }, deadline);
    timer.unref();
  }

  private onClientState(client: ZkClient, state: ZkState): void {
    if (client !== this.client || this.currentState === 'closed') return;
    this.logger.debug({ state: state.getName(), sessionId: this.lastSessionId }, 'zookeeper client state');
    if (state === State.SYNC_CONNECTED) this.onConnected(client);
    else if (state === State.DISCONNECTED) this.onDisconnected(client);
    else if (state === State.EXPIRED) this.onExpired(client);
    else if (state === State.AUTH_FAILED) this.logger.error({ connectString: this.options.connectString }, 'zookeeper authentication failed');
  }

  private onConnected(client: ZkClient): void {
    const sessionId = hexSessionId(client.getSessionId());
    const newSession = sessionId !== this.lastSessionId;
    if (!newSession) this.reconnects++;
    else this.knownPaths.clear();
    this.lastSessionId = sessionId;
    this.currentState = 'connected';
    this.failedConnects = 0;
    this.epoch++;
    this.logger.info({ sessionId, newSession, epoch: this.epoch }, 'zookeeper connected');
    for (const watch of this.watches) this.unsettled.add(watch);
    this.resetReads();
    this.emit('connected', { sessionId, newSession, epoch: this.epoch });
    for (const watch of [...this.watches]) watch.rearm(this.epoch);
    this.checkSettled();
  }

  private onDisconnected(client: ZkClient): void {
    // The server forgets this connection's watches; forget them here too (see the class comment).
    (client.connectionManager.watcherManager as LightWatcherManager).clear();
    if (this.currentState !== 'connected') return;
    this.currentState = 'disconnected';
    this.logger.warn({ sessionId: this.lastSessionId }, 'zookeeper connection lost; reconnecting');
    this.emit('disconnected');
    this.armWatchdog(client);
  }

  /**
   * node-zookeeper-client reconnects by itself, but a client has been seen never to come back
   * after a server restart. Past twice the session timeout the session is gone anyway (the server
   * expires it), so a client still not connected then is replaced by a new one.
   */
  private armWatchdog(client: ZkClient): void {
    const timer = setTimeout(() => {
      if (client !== this.client || this.currentState === 'connected' || this.currentState === 'closed') return;
      this.logger.warn({ sessionId: this.lastSessionId }, 'zookeeper client did not reconnect within twice the session timeout; replacing it');
      this.onExpired(client);
    }, 2 * this.options.sessionTimeoutMs);
    timer.unref();
  }

  private onExpired(client: ZkClient): void {
    this.expiries++;
    this.logger.warn({ sessionId: this.lastSessionId }, 'zookeeper session expired; starting a new session');
    const wasConnected = this.currentState === 'connected';
    client.removeAllListeners('state');
    client.close();
    this.failPending(new MeshBridgeError('ZK_SESSION_EXPIRED', `ZooKeeper session ${this.lastSessionId ?? ''} expired`, { where: this.options.connectString }));
    this.client = null;
    this.currentState = 'disconnected';
    if (wasConnected) this.emit('disconnected');
    this.emit('expired');
    this.newClient();
  }
}

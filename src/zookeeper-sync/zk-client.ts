// Typed view of the parts of node-zookeeper-client (an untyped CommonJS package) that zookeeper-sync uses.
import type { Socket } from 'node:net';

/** A ZooKeeper error as node-zookeeper-client reports it (`code` is ZooKeeper's numeric error code). */
export interface ZkException extends Error {
  code: number;
  getCode(): number;
  getName(): string;
}

/** Node metadata. Longs (zxids, session ids) arrive as 8-byte big-endian buffers. */
export interface ZkStat {
  czxid: Buffer;
  mzxid: Buffer;
  ctime: Buffer;
  mtime: Buffer;
  version: number;
  cversion: number;
  aversion: number;
  /** The session that owns an ephemeral node; all zeros for a persistent node. */
  ephemeralOwner: Buffer;
  dataLength: number;
  numChildren: number;
  pzxid: Buffer;
}

export interface ZkEvent {
  type: number;
  name: string;
  path: string;
  getType(): number;
  getName(): string;
  getPath(): string;
}

export interface ZkState {
  name: string;
  code: number;
  getName(): string;
  getCode(): number;
}

export type ZkWatcher = (event: ZkEvent) => void;
type Callback<T> = (error: ZkException | null, result: T) => void;

export interface ZkClientOptions {
  sessionTimeout?: number;
  spinDelay?: number;
  retries?: number;
  sessionId?: Buffer;
  sessionPassword?: Buffer;
}

/**
 * Internals of the client's connection manager, used deliberately and only here: the watch table
 * (replaced, and cleared on disconnect, see zk-session.ts), the socket (destroyed to close a client
 * that is not connected, which close() alone cannot do) and the socket data handler (fed whole
 * frames, see splitFrames).
 */
export interface ZkConnectionManagerInternals {
  socket?: Socket;
  /** Replaced by a LightWatcherManager when the client is made (ZkSession.newClient). */
  watcherManager: object;
  /** Bound to each new socket's `data` event when it connects. */
  onSocketData(data: Buffer): void;
}

export interface ZkClient {
  connect(): void;
  close(): void;
  getState(): ZkState;
  getSessionId(): Buffer;
  getSessionPassword(): Buffer;
  getSessionTimeout(): number;
  on(event: 'state', listener: (state: ZkState) => void): this;
  removeAllListeners(event?: string): this;
  create(path: string, data: Buffer | null, acls: unknown[], mode: number, callback: Callback<string>): void;
  remove(path: string, version: number, callback: (error: ZkException | null) => void): void;
  setData(path: string, data: Buffer, version: number, callback: Callback<ZkStat>): void;
  getData(path: string, watcher: ZkWatcher | undefined, callback: (error: ZkException | null, data: Buffer | undefined, stat: ZkStat) => void): void;
  exists(path: string, watcher: ZkWatcher | undefined, callback: Callback<ZkStat | null>): void;
  getChildren(path: string, watcher: ZkWatcher | undefined, callback: (error: ZkException | null, children: string[], stat: ZkStat) => void): void;
  connectionManager: ZkConnectionManagerInternals;
}

export interface ZkModule {
  createClient(connectString: string, options?: ZkClientOptions): ZkClient;
  ACL: { OPEN_ACL_UNSAFE: unknown[] };
  CreateMode: { PERSISTENT: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL: number; EPHEMERAL_SEQUENTIAL: number };
  State: {
    DISCONNECTED: ZkState;
    SYNC_CONNECTED: ZkState;
    AUTH_FAILED: ZkState;
    CONNECTED_READ_ONLY: ZkState;
    SASL_AUTHENTICATED: ZkState;
    EXPIRED: ZkState;
  };
  Event: {
    NODE_CREATED: number;
    NODE_DELETED: number;
    NODE_DATA_CHANGED: number;
    NODE_CHILDREN_CHANGED: number;
    create(watcherEvent: { type: number; state: number; path: string }): ZkEvent;
  };
  Exception: {
    OK: number;
    CONNECTION_LOSS: number;
    NO_NODE: number;
    NODE_EXISTS: number;
    NOT_EMPTY: number;
    SESSION_EXPIRED: number;
    BAD_VERSION: number;
    NO_AUTH: number;
  };
}

// The package ships no types; this cast is the one place its shape is asserted.
export const zookeeper = require('node-zookeeper-client') as ZkModule;

export function isZkException(err: unknown): err is ZkException {
  return err instanceof Error && typeof (err as Partial<ZkException>).getCode === 'function';
}

/** ZooKeeper error code of an error, or undefined when it is not a ZooKeeper error. */
export function zkCode(err: unknown): number | undefined {
  return isZkException(err) ? err.getCode() : undefined;
}

type WatchTable = Map<string, ZkWatcher | ZkWatcher[]>;

/**
 * A drop-in for node-zookeeper-client's WatcherManager (same methods, same one-shot semantics) that
 * keeps one function (or a short array) per path instead of an EventEmitter per path: with tens of
 * thousands of watched paths the emitters cost several hundred bytes each.
 */
export class LightWatcherManager {
  private readonly data: WatchTable = new Map();
  private readonly child: WatchTable = new Map();
  private readonly existence: WatchTable = new Map();

  /** Forgets every watcher (the server forgot them with the connection). */
  clear(): void {
    this.data.clear();
    this.child.clear();
    this.existence.clear();
  }

  registerDataWatcher(path: string, watcher: ZkWatcher): void {
    register(this.data, path, watcher);
  }

  registerChildWatcher(path: string, watcher: ZkWatcher): void {
    register(this.child, path, watcher);
  }

  registerExistenceWatcher(path: string, watcher: ZkWatcher): void {
    register(this.existence, path, watcher);
  }

  getDataWatcherPaths(): string[] {
    return [...this.data.keys()];
  }

  getChildWatcherPaths(): string[] {
    return [...this.child.keys()];
  }

  getExistenceWatcherPaths(): string[] {
    return [...this.existence.keys()];
  }

  isEmpty(): boolean {
    return this.data.size === 0 && this.child.size === 0 && this.existence.size === 0;
  }

  /** A notification from the server: every watcher of that kind on that path fires, once. */
  emit(watcherEvent: { type: number; state: number; path: string }): void {
    const { Event } = zookeeper;
    const fired: Array<ZkWatcher | ZkWatcher[]> = [];
    const take = (table: WatchTable): void => {
      const watchers = table.get(watcherEvent.path);
      if (watchers === undefined) return;
      table.delete(watcherEvent.path);
      fired.push(watchers);
    };
    switch (watcherEvent.type) {
      case Event.NODE_DATA_CHANGED:
      case Event.NODE_CREATED:
        take(this.data);
        take(this.existence);
        break;
      case Event.NODE_CHILDREN_CHANGED:
        take(this.child);
        break;
      case Event.NODE_DELETED:
        take(this.data);
        take(this.child);
        break;
      default:
        throw new Error(`Unknown event type: ${watcherEvent.type}`);
    }
    if (fired.length === 0) return;
    const event = Event.create(watcherEvent);
    for (const watchers of fired) {
      if (typeof watchers === 'function') watchers(event);
      else for (const watcher of watchers) watcher(event);
    }
  }
}

function register(table: WatchTable, path: string, watcher: ZkWatcher): void {
  const current = table.get(path);
  if (current === undefined) table.set(path, watcher);
  else if (typeof current === 'function') {
    if (current !== watcher) table.set(path, [current, watcher]);
  } else if (!current.includes(watcher)) current.push(watcher);
}

/**
 * Makes the client's socket handler see one whole response frame at a time. Given a chunk holding
 * many frames, node-zookeeper-client handles the first and then copies the whole remainder
 * (Buffer.concat) before the next: quadratic in the frames per chunk, and during an initial sync
 * of tens of thousands of reads that copying is most of the client's CPU and a heap of
 * short-lived large buffers. Frames are cut out here without copying (unless one spans chunks).
 */
export function splitFrames(manager: ZkConnectionManagerInternals): void {
  const handle = manager.onSocketData;
  let socket: Socket | undefined;
  let chunks: Buffer[] = [];
  let buffered = 0;
  manager.onSocketData = (data: Buffer): void => {
    if (manager.socket !== socket) {
      // A new connection: whatever was left of the old one's stream is gone with it.
      socket = manager.socket;
      chunks = [];
      buffered = 0;
    }
    if (data.length === 0) return;
    chunks.push(data);
    buffered += data.length;
    while (buffered >= 4) {
      const first = chunks[0];
      const size = first.length >= 4 ? first.readInt32BE(0) : Buffer.concat(chunks, 4).readInt32BE(0);
      if (size < 0) {
        // Not a frame length: let the client deal with the stream as it is.
        const rest = Buffer.concat(chunks, buffered);
        chunks = [];
        buffered = 0;
        deliver(rest);
        return;
      }
      const length = size + 4;
      if (buffered < length) return;
      let frame: Buffer;
      if (first.length >= length) {
        frame = first.subarray(0, length);
        if (first.length === length) chunks.shift();
        else chunks[0] = first.subarray(length);
      } else {
        const parts: Buffer[] = [];
        let needed = length;
        while (needed > 0) {
          const chunk = chunks[0];
          if (chunk.length <= needed) {
            parts.push(chunk);
            chunks.shift();
            needed -= chunk.length;
          } else {
            parts.push(chunk.subarray(0, needed));
            chunks[0] = chunk.subarray(needed);
            needed = 0;
          }
        }
        frame = Buffer.concat(parts, length);
      }
      buffered -= length;
      if (!deliver(frame)) return;
    }
  };
  /**
   * Hands one frame to the client. A frame it cannot read (a server that is not ZooKeeper, or a
   * corrupt stream) throws inside node-zookeeper-client, which would end the process: the
   * connection is dropped instead, and the client connects again.
   */
  function deliver(frame: Buffer): boolean {
    try {
      handle.call(manager, frame);
      return true;
    } catch (err) {
      chunks = [];
      buffered = 0;
      manager.socket?.destroy(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }
}

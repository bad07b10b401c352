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
 * (cleared on disconnect, see zk-session.ts) and the socket (destroyed to close a client that is
 * not connected, which close() alone cannot do).
 */
export interface ZkConnectionManagerInternals {
  socket?: Socket;
  watcherManager: {
    dataWatchers: Record<string, unknown>;
    childWatchers: Record<string, unknown>;
    existenceWatchers: Record<string, unknown>;
  };
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

// Writes on the HTTP path that skip net.Socket's Writable machinery when nothing waits in it.
//
// socket.write() goes through the Writable state (buffering, corking, callbacks) and, even when the
// kernel took every byte at once, schedules a process.nextTick to report it: one more call from C++
// into JavaScript after every read that answered. The bridge writes once per read on each side, so
// that machinery is a sixth of its own instructions per request (callgrind, bench HTTP path: 67,200
// instructions per request through socket.write, 56,700 writing here). This file writes the bytes
// with the socket's own stream handle, as socket.write does underneath, and only when the socket's
// Writable holds nothing (so the order of bytes is the order of calls) and is not corked,
// connecting or ending; otherwise, or on a Node without the handle calls it expects, it is
// socket.write.
//
// Flow control stays as socket.write's: false means "wait for 'drain'". A write the kernel could not
// take at once stays queued in libuv (bytes after it, written either way, queue behind it), returns
// false, and 'drain' is emitted on the socket once it completed and the Writable is not over its
// high-water mark (if it is, the Writable emits 'drain' itself when it empties).
import type { Socket } from 'node:net';
import { getSystemErrorName, types } from 'node:util';

/** Node's write request; of its fields the C++ side reads only `oncomplete` (the others are ours). */
interface WriteRequest {
  oncomplete: (this: WriteRequest, status: number) => void;
  bytes: number;
  buffer: Buffer | string | null;
  writer: DirectWriter | null;
}

interface StreamHandle {
  writeBuffer(req: WriteRequest, data: Buffer): number;
  writeLatin1String(req: WriteRequest, data: string): number;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kBytesWritten: number;
  kLastWriteWasAsync: number;
}

/** The stream binding, or null where this Node does not have the shape used here (then socket.write). */
function loadBinding(): StreamWrapBinding | null {
  if (process.env.MESH_BRIDGE_DIRECT_WRITES === '0') return null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    // (not instanceof: under jest the binding's arrays come from another realm)
    if (typeof b.WriteWrap !== 'function' || !types.isInt32Array(b.streamBaseState)) return null;
    if (typeof b.kBytesWritten !== 'number' || typeof b.kLastWriteWasAsync !== 'number') return null;
    return b as StreamWrapBinding;
  } catch {
    return null;
  }
}

const binding = loadBinding();
// Read once: loads from the binding object on every write cost a megamorphic keyed load each (callgrind).
const WriteWrap = binding?.WriteWrap;
const streamState = binding?.streamBaseState ?? new Int32Array(0);
const kBytesWritten = binding?.kBytesWritten ?? 0;
const kLastWriteWasAsync = binding?.kLastWriteWasAsync ?? 0;

/** True when writes go to the stream handle directly on this Node (MESH_BRIDGE_DIRECT_WRITES=0 turns it off). */
export const directWrites = binding !== null;

function onComplete(this: WriteRequest, status: number): void {
  const writer = this.writer;
  this.buffer = null;
  this.writer = null;
  if (writer !== null) writer.completed(this.bytes, status);
}

/** One of the symbols net keys a socket's internals by, found by its description; undefined where net has none. */
export function netSymbol(socket: Socket, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(socket).find((s) => s.description === description);
}

/**
 * The key net keeps a socket's handle under, found with the first socket written to.
 * `socket._handle` is a getter for `this[kHandle]` shared by every socket class, so each read of it
 * is a megamorphic keyed load (about 190 instructions, three times a request); read here, the load
 * sees sockets only. '_handle' where the symbol does not hold what the getter returns.
 */
let handleKey: symbol | '_handle' | undefined;

function findHandleKey(socket: Socket): symbol | '_handle' {
  const symbol = netSymbol(socket, 'kHandle');
  const viaGetter = (socket as unknown as { _handle: unknown })._handle;
  // The socket is connected or connecting here, so its handle is set.
  return symbol !== undefined && viaGetter != null && (socket as unknown as Record<symbol, unknown>)[symbol] === viaGetter ? symbol : '_handle';
}

/** One socket's writes; see the file's comment. */
export class DirectWriter {
  /** Bytes of direct writes that libuv still holds (the kernel did not take them at once). */
  pendingBytes = 0;

  constructor(readonly socket: Socket) {
    handleKey ??= findHandleKey(socket);
  }

  /** As socket.write(bytes) (strings are latin1): false when the caller should wait for 'drain'. */
  write(data: Buffer | string): boolean {
    const socket = this.socket;
    const handle = (socket as unknown as Record<symbol | '_handle', StreamHandle | null | undefined>)[handleKey as symbol | '_handle'];
    if (WriteWrap === undefined || handle === null || handle === undefined || this.pendingBytes > 0 || socket.writableLength !== 0 || socket.writableCorked !== 0 || socket.connecting || !socket.writable) {
      return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    }
    const req = new WriteWrap();
    req.oncomplete = onComplete;
    req.bytes = 0;
    req.buffer = null;
    req.writer = null;
    const err = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (err !== 0) {
      socket.destroy(writeError(err));
      return false;
    }
    if (streamState[kLastWriteWasAsync] === 0) return true;
    // Queued in libuv: the bytes must live until it completes, and the caller waits for 'drain'.
    req.bytes = streamState[kBytesWritten];
    req.buffer = data;
    req.writer = this;
    this.pendingBytes += req.bytes;
    return false;
  }

  /** True while bytes wait in the process for this socket (queued in libuv or in the Writable). */
  get needsDrain(): boolean {
    return this.pendingBytes > 0 || this.socket.writableNeedDrain;
  }

  /** Bytes written but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.pendingBytes + this.socket.writableLength;
  }

  /** @internal A queued direct write completed (status < 0: it failed, or the socket was closed). */
  completed(bytes: number, status: number): void {
    this.pendingBytes -= bytes;
    const socket = this.socket;
    if (status < 0) {
      if (!socket.destroyed) socket.destroy(writeError(status));
      return;
    }
    if (this.pendingBytes === 0 && !socket.destroyed && !socket.writableNeedDrain) socket.emit('drain');
  }
}

function writeError(status: number): NodeJS.ErrnoException {
  let code = 'EIO';
  try {
    code = getSystemErrorName(status);
  } catch {
    // not an errno libuv knows
  }
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.errno = status;
  err.code = code;
  err.syscall = 'write';
  return err;
}

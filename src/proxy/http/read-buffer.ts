// One buffer every HTTP socket of the process reads into, as net's documented `onread` option does
// for a socket it connects: no allocation, no stream machinery per read. Reads run one at a time
// on this thread, so one buffer serves them all; the bytes a callback gets are valid only during
// the callback, and whatever is kept past it (a write that may stay queued, bytes held for later)
// is copied first.
//
// Sockets the bridge connects get it through `onread`. Sockets a server accepts have no such
// option, so `readIntoShared` gives it to them the way net does for its own (the socket's `kBuffer`
// slots and its handle's useUserBuffer). Those are internals: when a Node release no longer has
// them, it returns false and the caller reads the socket through its public 'data' events.
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { netSymbol } from '../direct-write';

export const READ_BUFFER = Buffer.alloc(64 * 1024);

/** The shared buffer's memory, read once: a typed array's `.buffer` is a call into C++ on every read of it. */
const READ_MEMORY = READ_BUFFER.buffer;
const READ_OFFSET = READ_BUFFER.byteOffset;

/** A plain view of `READ_BUFFER[from, to)` (no Buffer species lookup), valid as long as the read's bytes are. */
export function readView(from: number, to: number): Uint8Array {
  return new Uint8Array(READ_MEMORY, READ_OFFSET + from, to - from);
}

/** Bytes to keep past the read that delivered them: a copy when they are the shared buffer's. */
export function keep(bytes: Buffer): Buffer {
  return bytes.buffer === READ_MEMORY ? Buffer.from(bytes) : bytes;
}

type ReadCallback = (length: number, buffer: Uint8Array) => boolean;

interface InternalSlots {
  kBuffer: symbol;
  kBufferCb: symbol;
}

let slots: InternalSlots | null | undefined;

/** The symbols net keys a socket's user buffer and read callback by; null when this Node has none. */
function internalSlots(socket: Socket): InternalSlots | null {
  if (slots !== undefined) return slots;
  const kBuffer = netSymbol(socket, 'kBuffer');
  const kBufferCb = netSymbol(socket, 'kBufferCb');
  slots = kBuffer !== undefined && kBufferCb !== undefined ? { kBuffer, kBufferCb } : null;
  return slots;
}

/**
 * Makes an accepted socket read into READ_BUFFER and call `callback(length)` instead of emitting
 * 'data'; to be called as it is accepted, before any read. False (nothing changed) when this Node's
 * net does not work the way this expects.
 */
export function readIntoShared(socket: Socket, callback: ReadCallback): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null })._handle;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  const found = internalSlots(socket);
  if (found === null) return false;
  const record = socket as unknown as Record<symbol, unknown>;
  if (record[found.kBuffer] !== null || record[found.kBufferCb] !== null) return false;
  record[found.kBuffer] = READ_BUFFER;
  record[found.kBufferCb] = callback;
  handle.useUserBuffer(READ_BUFFER);
  return true;
}

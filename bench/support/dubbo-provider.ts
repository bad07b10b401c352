// A Dubbo provider that is never the bottleneck: one precomputed response frame, copied with the
// request id patched in, for every request; heartbeats are answered. Frames are cut by hand from
// the 16-byte header (body length at offset 12), with no decoding of bodies.
//
// Usage: node --import tsx bench/support/dubbo-provider.ts  -> prints "READY <port>"
import { Socket, createServer } from 'node:net';
import { encodeHeartbeat, encodeResponse, readRequestId } from '../../src/dubbo-codec';
import { announce, exitOnSignal } from './child-protocol';

const HEADER = 16;
const FLAG_EVENT = 0x20;
const FLAG_TWO_WAY = 0x40;
const FLAG_REQUEST = 0x80;

const template = encodeResponse({ requestId: 0n, value: 'hello from the bench provider' });

function serve(socket: Socket): void {
  let pending: Buffer | null = null;
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    pending = null;
    let at = 0;
    // Count whole request frames first so that all answers go out in one write.
    let answers = 0;
    let scan = 0;
    while (buf.length - scan >= HEADER) {
      const total = HEADER + buf.readUInt32BE(scan + 12);
      if (buf.length - scan < total) break;
      const flags = buf[scan + 2];
      if ((flags & FLAG_REQUEST) !== 0 && (flags & FLAG_TWO_WAY) !== 0 && (flags & FLAG_EVENT) === 0) answers++;
      scan += total;
    }
    const out = answers > 0 ? Buffer.allocUnsafe(answers * template.length) : null;
    let o = 0;
    while (at < scan) {
      const total = HEADER + buf.readUInt32BE(at + 12);
      const flags = buf[at + 2];
      if ((flags & FLAG_REQUEST) !== 0 && (flags & FLAG_TWO_WAY) !== 0) {
        if ((flags & FLAG_EVENT) !== 0) {
          socket.write(encodeHeartbeat(readRequestId(buf.subarray(at, at + total)), false));
        } else if (out !== null) {
          template.copy(out, o);
          buf.copy(out, o + 4, at + 4, at + 12);
          o += template.length;
        }
      }
      at += total;
    }
    if (out !== null) socket.write(out);
    if (at < buf.length) pending = Buffer.from(buf.subarray(at));
  });
}

const server = createServer({ noDelay: true }, serve);
server.listen(0, '127.0.0.1', () => announce(server));
exitOnSignal();

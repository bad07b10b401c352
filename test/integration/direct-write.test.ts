// The HTTP path's direct writes (src/proxy/direct-write.ts) on real loopback sockets: every byte
// arrives once and in order whether a write went to the handle or through socket.write, a peer
// that stops reading makes write() say "wait" and 'drain' comes once it reads again, and a write
// to a peer that went away fails the socket rather than the process.
import { AddressInfo, Server, Socket, connect, createServer } from 'node:net';
import { once } from 'node:events';
import { DirectWriter, directWrites } from '../../src/proxy/direct-write';

interface Pair {
  server: Server;
  writer: DirectWriter;
  /** The reading side. */
  peer: Socket;
}

async function pair(): Promise<Pair> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const [peer] = (await accepted) as [Socket];
  return { server, writer: new DirectWriter(socket), peer };
}

async function close(p: Pair): Promise<void> {
  p.writer.socket.destroy();
  p.peer.destroy();
  await new Promise<void>((resolve) => p.server.close(() => resolve()));
}

/** Collects what the peer reads until `length` bytes came. */
function readAll(peer: Socket, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    peer.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= length) resolve(Buffer.concat(chunks));
    });
    peer.once('error', reject);
  });
}

/** With the peer not reading, writes `big` until the writer says "wait"; how many it took at once. */
function fillUntilWait(p: Pair, big: Buffer): number {
  p.peer.pause();
  let writes = 0;
  while (p.writer.write(big)) {
    writes++;
    if (writes > 400) throw new Error(`the kernel took ${(writes * big.length) >> 20} MiB from a peer that reads nothing`);
  }
  return writes;
}

/** Numbered pieces, so a byte out of place or twice is seen. */
function piece(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j += 4) b.writeUInt32BE(i, j);
  return b;
}

describe('direct writes on the HTTP path', () => {
  it('is in use on this Node (else every write is socket.write, and these tests say little)', () => {
    expect(directWrites).toBe(true);
  });

  it('keeps every byte in order through a peer that stops reading, mixing handle writes, socket.write, strings and a cork', async () => {
    const p = await pair();
    try {
      p.peer.pause();
      const pieces: Buffer[] = [];
      let total = 0;
      for (let i = 0; i < 600; i++) total += 16384 + (i % 7) * 512;
      const got = readAll(p.peer, total); // listening, but paused: nothing is read yet
      let waited = 0;
      // Enough to fill the kernel's buffers many times over: writes go async, then queue behind.
      for (let i = 0; i < 600; i++) {
        const bytes = piece(i, 16384 + (i % 7) * 512);
        pieces.push(bytes);
        let ok: boolean;
        if (i % 50 === 25) {
          // Corked: the first half waits in the Writable, so the second must not overtake it.
          p.writer.socket.cork();
          p.writer.socket.write(bytes.subarray(0, 8192));
          ok = p.writer.write(bytes.subarray(8192));
          p.writer.socket.uncork();
        } else if (i % 10 === 3) ok = p.writer.write(bytes.toString('latin1'));
        else ok = p.writer.write(bytes);
        if (!ok) {
          waited++;
          if (waited === 1) p.peer.resume(); // from now on the peer reads: 'drain' must come
          await once(p.writer.socket, 'drain');
        }
      }
      const expected = Buffer.concat(pieces);
      p.peer.resume();
      const received = await got;
      expect(waited).toBeGreaterThan(0);
      expect(received.length).toBe(expected.length);
      expect(received.equals(expected)).toBe(true);
      expect(p.writer.pendingBytes).toBe(0);
    } finally {
      await close(p);
    }
  });

  it('says "wait" while the peer does not read, counts what waits, and drains when it reads again', async () => {
    const p = await pair();
    try {
      const big = Buffer.alloc(256 * 1024, 7);
      const writes = fillUntilWait(p, big);
      expect(p.writer.needsDrain).toBe(true);
      expect(p.writer.queuedBytes).toBeGreaterThan(0);
      const drained = once(p.writer.socket, 'drain');
      const read = readAll(p.peer, (writes + 1) * big.length);
      p.peer.resume();
      await drained;
      expect((await read).length).toBe((writes + 1) * big.length);
      expect(p.writer.needsDrain).toBe(false);
      expect(p.writer.queuedBytes).toBe(0);
    } finally {
      await close(p);
    }
  });

  it('fails the socket, not the process, when the peer is gone while a write waits', async () => {
    const p = await pair();
    try {
      const big = Buffer.alloc(256 * 1024, 1);
      fillUntilWait(p, big);
      const closed = new Promise((resolve) => p.writer.socket.once('close', resolve));
      p.writer.socket.on('error', () => undefined);
      p.peer.resetAndDestroy();
      await closed;
      expect(p.writer.pendingBytes).toBe(0);
      expect(p.writer.write(big)).toBe(false);
    } finally {
      await close(p);
    }
  });
});

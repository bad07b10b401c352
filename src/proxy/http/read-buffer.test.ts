import { Socket, connect, createServer } from 'node:net';
import { READ_BUFFER, keep, readIntoShared } from './read-buffer';

describe('the shared read buffer', () => {
  it("reads an accepted socket into it on this Node (a Node whose net changed falls back to 'data' events: this says so)", async () => {
    const reads: string[] = [];
    let adopted = false;
    let dataEvents = 0;
    const server = createServer((socket: Socket) => {
      adopted = readIntoShared(socket, (length) => {
        reads.push(READ_BUFFER.toString('latin1', 0, length));
        return true;
      });
      socket.on('data', () => dataEvents++);
      socket.on('end', () => socket.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
    client.end('hello');
    await new Promise((resolve) => client.on('close', resolve).resume());
    await new Promise((resolve) => server.close(resolve));
    expect(adopted).toBe(true);
    expect(reads.join('')).toBe('hello');
    expect(dataEvents).toBe(0);
  });

  it('copies what is kept of the shared buffer, and only that', () => {
    READ_BUFFER.write('abc', 0, 'latin1');
    const view = READ_BUFFER.subarray(0, 3);
    const kept = keep(view);
    READ_BUFFER.write('xyz', 0, 'latin1');
    expect(kept.toString('latin1')).toBe('abc');
    const own = Buffer.from('own');
    expect(keep(own)).toBe(own);
  });
});

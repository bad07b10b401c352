// A bridge started before ZooKeeper is reachable keeps trying, more slowly each time a client does
// not connect, and connects once ZooKeeper is up: against a real ZooKeeper started late.
import { createServer } from 'node:net';
import { silentLogger } from '../../src/telemetry/logger';
import { ZkSession } from '../../src/zookeeper-sync/zk-session';
import { waitFor } from '../support/wait';
import { ZookeeperServer, zookeeperAvailable } from '../support/zookeeper';

const describeZk = zookeeperAvailable() ? describe : describe.skip;

describeZk('ZooKeeper session started before ZooKeeper', () => {
  let zk: ZookeeperServer;
  let session: ZkSession | null = null;

  beforeAll(async () => {
    zk = await ZookeeperServer.start();
    await zk.stop();
  });

  afterAll(async () => {
    await session?.close();
    await zk.destroy();
  });

  it('replaces clients that do not connect with slower-paced ones, and connects once ZooKeeper is up', async () => {
    session = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 6000, logger: silentLogger(), spinDelayMs: 100, connectDeadlineMs: 700 });
    session.start();
    await waitFor('two clients replaced for not connecting', () => (session?.failedConnects ?? 0) >= 2, 15_000);
    expect(session.connected).toBe(false);
    await zk.run();
    await session.whenConnected(20_000);
    expect(session.failedConnects).toBe(0);
  });
});

describe('ZooKeeper session pointed at something that is not ZooKeeper', () => {
  it('drops a connection whose replies it cannot read, instead of ending the process', async () => {
    let connections = 0;
    const sockets = new Set<import('node:net').Socket>();
    // Accepts the session like ZooKeeper, then answers every request with an error code no
    // ZooKeeper has (node-zookeeper-client throws on it from its socket handler).
    const impostor = createServer((socket) => {
      connections++;
      sockets.add(socket);
      let greeted = false;
      socket.on('error', () => undefined);
      socket.on('data', (data: Buffer) => {
        if (!greeted) {
          greeted = true;
          const body = Buffer.alloc(36);
          body.writeInt32BE(0, 0); // protocol version
          body.writeInt32BE(6000, 4); // session timeout
          body.writeBigInt64BE(1n, 8); // session id
          body.writeInt32BE(16, 16); // password length, then 16 bytes
          socket.write(Buffer.concat([Buffer.from([0, 0, 0, 36]), body]));
          return;
        }
        if (data.length < 8) return;
        const reply = Buffer.alloc(20);
        reply.writeInt32BE(16, 0);
        reply.writeInt32BE(data.readInt32BE(4), 4); // the request's xid
        reply.writeBigInt64BE(1n, 8); // zxid
        reply.writeInt32BE(915800065, 16); // no such error code
        socket.write(reply);
      });
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const port = (impostor.address() as { port: number }).port;
    const session = new ZkSession({ connectString: `127.0.0.1:${port}`, sessionTimeoutMs: 6000, logger: silentLogger(), spinDelayMs: 50 });
    try {
      session.start();
      await session.whenConnected(10_000);
      session.exists('/anything').catch(() => undefined);
      await waitFor('the client to connect again', () => connections >= 2, 15_000);
    } finally {
      await session.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => impostor.close(resolve));
    }
  });
});

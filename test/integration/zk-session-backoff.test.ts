// A bridge started before ZooKeeper is reachable keeps trying, more slowly each time a client does
// not connect, and connects once ZooKeeper is up: against a real ZooKeeper started late.
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

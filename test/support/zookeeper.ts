// A real ZooKeeper server (Debian's `zookeeper` package) for integration tests and benchmarks:
// started on a free loopback port with a fresh data directory, stopped by its PID, restartable
// with its data kept (sessions and ephemerals survive, as in production).
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const CLASSPATH = [ZOOKEEPER_JAR, '/usr/share/java/slf4j-simple.jar', '/usr/share/java/slf4j-api.jar'];

export interface ZookeeperOptions {
  /** Max bytes of one reply (jute.maxbuffer); ZooKeeper's default is about 1 MiB. */
  juteMaxBuffer?: number;
  /** Extra JVM flags, e.g. a heap size for large benchmarks. */
  jvmArgs?: string[];
  tickTimeMs?: number;
}

export function zookeeperAvailable(): boolean {
  return existsSync(ZOOKEEPER_JAR);
}

/** A port nobody listens on at the moment of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Sends a four-letter command (ruok, stat, mntr, srvr) and returns the reply, or '' when nothing answers. */
export async function fourLetter(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (): void => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(timeoutMs, done);
    socket.on('connect', () => socket.write(command));
    socket.on('data', (chunk) => (reply += chunk.toString('utf8')));
    socket.on('end', done);
    socket.on('error', done);
  });
}

export class ZookeeperServer {
  readonly dataDir: string;
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly options: ZookeeperOptions,
  ) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'mesh-bridge-zk-'));
  }

  /** `127.0.0.1:<port>`, the connect string clients take. */
  get connectString(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(options: ZookeeperOptions = {}): Promise<ZookeeperServer> {
    if (!zookeeperAvailable()) {
      throw new Error(`ZooKeeper is not installed (${ZOOKEEPER_JAR} missing): run 'apt-get install -y zookeeper'`);
    }
    const server = new ZookeeperServer(await freePort(), options);
    await server.run();
    return server;
  }

  /** Starts (again) on the same port and data directory. */
  async run(): Promise<void> {
    if (this.child) throw new Error('ZooKeeper is already running');
    if ((await fourLetter(this.port, 'ruok', 300)) !== '') {
      throw new Error(`port ${this.port} already answers ZooKeeper commands: another server is running there`);
    }
    const config = join(this.dataDir, 'zoo.cfg');
    writeFileSync(
      config,
      [
        `tickTime=${this.options.tickTimeMs ?? 500}`,
        `dataDir=${join(this.dataDir, 'data')}`,
        `clientPort=${this.port}`,
        'clientPortAddress=127.0.0.1',
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,stat,srvr,mntr,cons',
        'maxClientCnxns=0',
        // Short sessions allowed, so tests can expire them quickly.
        'minSessionTimeout=1000',
        '',
      ].join('\n'),
    );
    const jvm = ['-Xss4m', ...(this.options.jvmArgs ?? [])];
    if (this.options.juteMaxBuffer) jvm.push(`-Djute.maxbuffer=${this.options.juteMaxBuffer}`);
    const child = spawn(
      'java',
      [...jvm, '-Dzookeeper.log.dir=' + this.dataDir, '-cp', CLASSPATH.join(':'), 'org.apache.zookeeper.server.quorum.QuorumPeerMain', config],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    this.output = '';
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => {
      if (this.child === child) this.child = null;
    });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (!this.child) throw new Error(`ZooKeeper exited during start:\n${this.output}`);
      // `ruok` answers before the server serves requests; `srvr` names the mode only once it does.
      if ((await fourLetter(this.port, 'srvr', 500)).includes('Mode:')) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`ZooKeeper did not start serving within 20 s:\n${this.output}`);
  }

  /** Stops the server by its PID; the data directory stays for a restart. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) {
      this.child = null;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.run();
  }

  /** Stops the server and deletes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** The last lines the server printed, for failure messages. */
  get log(): string {
    return this.output;
  }
}

// Which bridge writes into ZooKeeper: ZooKeeper's own leader-election recipe (ephemeral sequential
// nodes, lowest sequence leads), so several bridges on one estate never write the same services twice.
import { EventEmitter } from 'node:events';
import type { Logger } from '../telemetry/logger';
import { DEFAULT_LAYOUT, ZkLayout, electionDir, electionLeader, electionNodePrefix, joinPath, parseElectionNode } from './zk-paths';
import { ConnectedInfo, Watch, ZkSession, isConnectionError } from './zk-session';

export interface WriterElectionOptions {
  session: ZkSession;
  owner: string;
  logger: Logger;
  layout?: ZkLayout;
  /** The election's znode directory, when it is not the zookeeper writers' (the cutover runner's). */
  dir?: string;
  /** What the leader does, for the log lines (default: writes to zookeeper). */
  role?: string;
}

interface ElectionEvents {
  change: [leader: boolean];
}

export class WriterElection extends EventEmitter<ElectionEvents> {
  private readonly session: ZkSession;
  private readonly owner: string;
  private readonly logger: Logger;
  private readonly dir: string;
  private readonly role: string;
  private myNode: string | null = null;
  /** Whether a listing has shown myNode (so its absence later means it was removed). */
  private listed = false;
  private children: string[] = [];
  private leader = false;
  private watch: Watch | null = null;
  private decided = false;
  private decidedWaiters: Array<() => void> = [];
  /** Bumped per session, so a join that outlived its session does nothing. */
  private generation = 0;
  private readonly onConnected = (info: ConnectedInfo): void => {
    // A new session has no node of ours; after a plain reconnect, finish a join the loss interrupted.
    if (info.newSession || this.myNode === null) void this.join(++this.generation);
  };
  private readonly onExpired = (): void => {
    this.myNode = null;
    this.listed = false;
    // Undecided until the new session has joined: whenDecided() waits for that.
    this.decided = false;
    this.setLeader(false);
  };

  constructor(options: WriterElectionOptions) {
    super();
    this.session = options.session;
    this.owner = options.owner;
    this.logger = options.logger;
    this.dir = options.dir ?? electionDir(options.layout ?? DEFAULT_LAYOUT);
    this.role = options.role ?? 'writes to zookeeper';
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** The owner id of the current leader, when known. */
  get leaderOwner(): string | null {
    const name = electionLeader(this.children);
    return name === null ? null : (parseElectionNode(name)?.owner ?? null);
  }

  /** Resolves once this bridge knows whether it leads (after joining in the current session). */
  whenDecided(): Promise<void> {
    if (this.decided) return Promise.resolve();
    return new Promise((resolve) => this.decidedWaiters.push(resolve));
  }

  start(): void {
    this.session.on('connected', this.onConnected);
    this.session.on('expired', this.onExpired);
    this.watch = this.session.watchChildren(this.dir, (children) => {
      this.children = children ?? [];
      this.evaluate();
    });
    if (this.session.connected) void this.join(++this.generation);
  }

  /** Leaves the election (the next bridge takes over). */
  async stop(): Promise<void> {
    this.session.off('connected', this.onConnected);
    this.session.off('expired', this.onExpired);
    this.generation++;
    this.watch?.close();
    this.watch = null;
    const node = this.myNode;
    this.myNode = null;
    this.setLeader(false);
    // Nobody waits forever on an election that is over.
    const waiters = this.decidedWaiters;
    this.decidedWaiters = [];
    for (const resolve of waiters) resolve();
    if (node !== null && this.session.connected) await this.session.remove(joinPath(this.dir, node)).catch(() => undefined);
  }

  private async join(generation: number): Promise<void> {
    try {
      await this.session.mkdirp(this.dir);
      // Any node with our owner id is stale: one of an earlier process (it would lead until its
      // session times out while nobody writes), or one a join interrupted by a connection loss made.
      for (const name of await this.session.getChildren(this.dir)) {
        if (parseElectionNode(name)?.owner !== this.owner) continue;
        this.logger.info({ node: name }, 'removing a stale election node with our owner id');
        await this.session.remove(joinPath(this.dir, name));
      }
      if (generation !== this.generation) return;
      const created = await this.session.create(joinPath(this.dir, electionNodePrefix(this.owner)), null, 'ephemeral-sequential');
      if (generation !== this.generation) return;
      this.myNode = created.slice(created.lastIndexOf('/') + 1);
      this.listed = false;
      this.children = await this.session.getChildren(this.dir);
      this.evaluate();
    } catch (err) {
      // A new session joins again; anything else is worth a line in the log.
      if (!isConnectionError(err)) this.logger.error({ err }, `joining the election of the one that ${this.role} failed`);
    }
  }

  private evaluate(): void {
    if (this.myNode === null) return;
    if (!this.children.includes(this.myNode)) {
      if (!this.listed) return; // not listed yet: the listing was read before our node was made
      // Listed before, gone now while our session lives: someone removed it, most likely a bridge
      // started with the same owner id (its join removes nodes bearing that id). Rejoining would
      // remove its node in turn, forever: step down and rejoin only with a new session.
      this.logger.error({ owner: this.owner, node: this.myNode }, 'our zookeeper writer election node was removed; is another bridge running with the same owner id?');
      this.myNode = null;
      this.listed = false;
      this.setLeader(false);
      return;
    }
    this.listed = true;
    this.setLeader(electionLeader(this.children) === this.myNode);
    if (!this.decided) {
      this.decided = true;
      const waiters = this.decidedWaiters;
      this.decidedWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.logger.info({ owner: this.owner, leader }, leader ? `this process now ${this.role}` : `this process no longer ${this.role}`);
    this.emit('change', leader);
  }
}

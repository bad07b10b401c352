// The Dubbo connection manager (the bridge's Dubbo listener, and the sidecar's): consumers keep long-lived sockets and multiplex requests on them by
// request id. Each request is routed by its routing view (service, version, group, method; the
// arguments are never decoded), through the filter chain, to the legacy or mesh set of its
// service, then to one instance, and sent over a pooled upstream connection with an id of that
// connection's. Responses go back with the consumer's id restored. Every buffer has a bound: a
// consumer that does not read its answers stops being read, then is closed; a provider that does
// not read stops the consumers feeding it, then is refused. Every call ends in one failure class.
import { outlierSet } from '../router/outlier-detector';
import { readFileSync } from 'node:fs';
import { Server, Socket } from 'node:net';
import type { Stack } from '../../catalog';
import * as codec from '../../dubbo-codec';
import { Frame, FrameDecoder, RoutingView, encodeHeartbeat, encodeResponse, readRequestId } from '../../dubbo-codec';
import { CodecError, MeshBridgeError } from '../../errors';
import { BridgeRefusal, FAILURE_LABEL_NAMES, Outcome, dubboStatusFor, failureLabels } from '../failure-class';
import type { FilterChain } from '../filters/filter-chain';
import type { LocalReply, ProxyRequest } from '../filters/filter';
import { CallsInFlight, InFlightLinks } from './calls-in-flight';
import { consumerTimeout } from './consumer-timeout';
import { EndOfTurn } from './end-of-turn';
import { readArgumentKey } from './argument-reader';
import { dubboFallbackFrame } from './fallback-reply';
import { encodeReadonlyEvent } from './readonly-event';
import * as outcomes from './response-outcome';
import type { Logger } from '../../telemetry/logger';
import { LogOnce } from '../../telemetry/logger';
import { Registry, counter, gauge } from '../../telemetry/metrics';
import { RouteChoice, ServiceRoutes } from '../router/service-routes';
import type { ConnectionGate, RetryGate } from '../router/upstream-caps';
import { closeSockets, listenOn, listeningAddress, stopAccepting, waitWhileBusy } from '../../bridge/socket-lifecycle';
import { TrafficStats } from '../../bridge/stats/traffic-stats';
import { InFlight, UpstreamConnection, UpstreamFailure } from '../upstream/dubbo-upstream-connection';
import { SweepAfterReads } from '../sweep-after-reads';
import type { DubboMirrorCall, DubboMirrorHook } from '../mirror/dubbo-mirror';

// Module-local copies of what runs once per call: where modules load as CommonJS (tsx, jest, tsc's
// re-exports), each read of an imported name is a property getter call.
const { HEADER_LENGTH, readRoutingViewAt, uint32At, setUint32At } = codec;
const { responseOutcome } = outcomes;

/** How one service's requests are handled, beyond weights. */
export interface DubboServicePolicy {
  /** Attachment whose value keeps a caller on one stack. */
  stickyAttachment?: string;
  /** Methods that may be sent again to another instance when their upstream fails. */
  idempotentMethods: ReadonlySet<string>;
  retries: number;
  /** Time an upstream has to answer, unless the consumer's own `timeout` attachment says otherwise. */
  timeoutMs: number;
  /** Per-method timeouts, over `timeoutMs`. */
  methodTimeoutsMs?: ReadonlyMap<string, number>;
  /** Asked before each retry (a retry budget, a cap on retries in flight); none: retries as above. */
  retryGate?: RetryGate;
  /** Asked before a request waits for a connection being made (a cap on pending requests). */
  connectionGate?: ConnectionGate;
  /**
   * Use the `timeout` attachment a consumer sends (its own deadline) instead of `timeoutMs`, so the
   * bridge neither cuts a call the consumer would wait for nor holds one it gave up on. Reading it
   * means skipping the arguments, which roughly doubles the cost of a routing view.
   */
  honorConsumerTimeout?: boolean;
}

/** The bounds of the Dubbo listener; every one has a default. */
export interface DubboLimits {
  /** Consumer connections open at once; past it new ones are closed at accept (counted). */
  maxConnections: number;
  /** Two-way requests one consumer connection may have in flight; past it, status 100. */
  maxInFlightPerConsumer: number;
  /** Answers queued for a consumer past which its socket is no longer read (resumed on drain). */
  consumerHighWaterBytes: number;
  /** Answers queued for a consumer past which it is closed (counted). */
  consumerMaxBufferedBytes: number;
  /** Requests queued for a provider past which the consumers feeding it are no longer read. */
  upstreamHighWaterBytes: number;
  /** Requests queued for a provider past which new ones are refused with status 100. */
  upstreamMaxBufferedBytes: number;
  /** The longest `timeout` attachment honoured. */
  maxConsumerTimeoutMs: number;
  /** A frame begun by a consumer must be complete within this (partial bodies hold memory). */
  frameTimeoutMs: number;
  /** A consumer that sent nothing for this long, with nothing in flight, is closed (Dubbo: 3 heartbeats). */
  consumerIdleTimeoutMs: number;
}

/** The process's soft limit on open files, from /proc/self/limits; undefined where unreadable. */
function openFilesLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Consumer connections allowed by default: 20,000, but never so many that the file descriptors
 * run out: an eighth (at least 64) stays for upstream connections, the admin API and registries.
 */
function defaultMaxConnections(): number {
  const files = openFilesLimit();
  return files === undefined ? 20_000 : Math.max(16, Math.min(20_000, files - Math.max(64, Math.floor(files / 8))));
}

export function defaultDubboLimits(maxBodyLength: number, heartbeatIdleMs: number): DubboLimits {
  return {
    maxConnections: defaultMaxConnections(),
    maxInFlightPerConsumer: 1000,
    consumerHighWaterBytes: 1024 * 1024,
    consumerMaxBufferedBytes: maxBodyLength + 8 * 1024 * 1024,
    upstreamHighWaterBytes: 4 * 1024 * 1024,
    upstreamMaxBufferedBytes: maxBodyLength + 8 * 1024 * 1024,
    maxConsumerTimeoutMs: 60_000,
    frameTimeoutMs: 30_000,
    consumerIdleTimeoutMs: 3 * heartbeatIdleMs,
  };
}

/** The defaults, overridden by every limit given (undefined ones, as optional config keys are, do not count). */
function withDefaults(defaults: DubboLimits, given: Partial<DubboLimits> | undefined): DubboLimits {
  const limits = { ...defaults };
  if (given !== undefined) for (const key of Object.keys(defaults) as Array<keyof DubboLimits>) if (typeof given[key] === 'number') limits[key] = given[key];
  return limits;
}

export interface DubboListenerOptions {
  host: string;
  port: number;
  routes: ServiceRoutes;
  stats: TrafficStats;
  metrics: Registry;
  logger: Logger;
  policy(service: string): DubboServicePolicy;
  connectTimeoutMs?: number;
  /** Heartbeat idle upstream connections, and idle consumers, after this long. */
  heartbeatIdleMs?: number;
  maxBodyLength?: number;
  /** Upstream connections per provider instance. */
  connectionsPerInstance?: number;
  /** Any object carrying some of the limits by name (the bridge passes its `dubbo` config section). */
  limits?: Partial<DubboLimits>;
  /** Filters every request passes before routing; none by default. */
  filters?: FilterChain;
  /** Copies chosen calls to the other stack and compares the answers (the sidecar's shadow run). */
  mirror?: DubboMirrorHook;
}

/** One consumer's socket. */
class Downstream {
  readonly decoder: FrameDecoder;
  /** Its two-way calls not yet answered. */
  readonly requests = new CallsInFlight<ProxiedRequest>();
  closed = false;
  /** Coarse monotonic ms of the last bytes read. */
  lastReadAt: number;
  lastPingAt = 0;
  /** Stream offset where the frame being received began, and when (-1: none is). */
  frameStart = -1;
  frameStartedAt = 0;
  /** Reading stops while answers queue up for it, or while a provider it feeds is backed up. */
  private writeBacklogged = false;
  private readonly blockedOn = new Set<UpstreamConnection>();
  private paused = false;
  /** Answers of this event-loop turn, not yet written: pieces, then a run being gathered. */
  private out: Buffer[] = [];
  private outBytes = 0;
  private runSource: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  constructor(
    readonly socket: Socket,
    readonly listener: DubboListener,
    maxBodyLength: number,
    now: number,
  ) {
    this.decoder = new FrameDecoder({ maxBodyLength });
    this.lastReadAt = now;
  }

  private remote: string | undefined;

  /** `host:port` of the consumer, made once per connection (filters ask per request). */
  get remoteLabel(): string {
    return (this.remote ??= `${this.socket.remoteAddress}:${this.socket.remotePort}`);
  }

  /**
   * Queues an answer unless the consumer went away meanwhile; the answers of one event-loop turn
   * leave in one write (flush), and what is queued for the consumer is watched.
   */
  write(bytes: Buffer): void {
    if (this.closed || this.socket.destroyed) return;
    this.endRun();
    if (this.out.length === 0) this.listener.flushSoon(this);
    this.out.push(bytes);
    this.queuedMore(bytes.length);
  }

  /**
   * Queues the answer at source[start, end) (a provider's chunk). Answers that lie one after
   * another in one chunk, as a provider's batch for one consumer does, stay one run of that chunk:
   * no view or copy per answer.
   */
  writeRun(source: Buffer, start: number, end: number): void {
    if (this.closed || this.socket.destroyed) return;
    if (source === this.runSource && start === this.runEnd) this.runEnd = end;
    else {
      this.endRun();
      if (this.out.length === 0) this.listener.flushSoon(this);
      this.runSource = source;
      this.runStart = start;
      this.runEnd = end;
    }
    this.queuedMore(end - start);
  }

  private queuedMore(bytes: number): void {
    this.outBytes += bytes;
    // Many small answers in one turn (a flood of heartbeats) leave early, joined, rather than
    // pile up as objects until the turn ends.
    if (this.out.length >= FLUSH_EARLY_ANSWERS || this.outBytes >= COALESCE_BYTES) this.flush();
    if (this.socket.writableLength + this.outBytes > this.listener.limits.consumerHighWaterBytes) this.listener.backlogged(this);
  }

  /** The run being gathered becomes one queued piece. */
  private endRun(): void {
    const source = this.runSource;
    if (source === null) return;
    this.runSource = null;
    this.out.push(this.runStart === 0 && this.runEnd === source.length ? source : source.subarray(this.runStart, this.runEnd));
  }

  /** Bytes queued for this consumer, in the bridge. */
  get queued(): number {
    return this.socket.writableLength + this.outBytes;
  }

  flush(): void {
    this.endRun();
    const out = this.out;
    if (out.length === 0 || this.closed) return;
    if (out.length === 1) {
      // A consumer that is not keeping up holds what it is given: a copy of its answer's bytes,
      // not a view that keeps a provider's whole chunk alive.
      this.socket.write(this.socket.writableLength > 0 ? Buffer.from(out[0]) : out[0]);
    } else if (this.outBytes <= COALESCE_BYTES) {
      // One buffer, not one queued entry per answer: a consumer that stops reading then holds
      // its answers' bytes and nothing more.
      this.socket.write(Buffer.concat(out, this.outBytes));
    } else {
      this.socket.cork();
      for (const bytes of out) this.socket.write(bytes);
      this.socket.uncork();
    }
    this.out = [];
    this.outBytes = 0;
  }

  /** Stop reading until what is queued for this consumer drains. */
  holdForDrain(): void {
    this.writeBacklogged = true;
    this.updateReading();
  }

  drained(): void {
    this.writeBacklogged = false;
    this.updateReading();
  }

  /** Stop reading until a provider this consumer feeds drains. */
  blockOn(connection: UpstreamConnection): void {
    if (this.blockedOn.has(connection)) return;
    this.blockedOn.add(connection);
    connection.blocked.add(this);
    this.updateReading();
  }

  unblock(connection: UpstreamConnection): void {
    this.blockedOn.delete(connection);
    this.updateReading();
  }

  released(): void {
    for (const connection of this.blockedOn) connection.blocked.delete(this);
    this.blockedOn.clear();
  }

  private updateReading(): void {
    const pause = this.writeBacklogged || this.blockedOn.size > 0;
    if (pause === this.paused || this.closed) return;
    this.paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }
}

/** A consumer's request on its way through the bridge. */
class ProxiedRequest implements InFlight, ProxyRequest, InFlightLinks<ProxiedRequest> {
  readonly protocol = 'dubbo';
  /** When the current attempt was sent, and when it times out (monotonic ms). */
  sentAt = 0;
  expiresAt = 0;
  timeoutMs = 0;
  /** The consumer's `timeout` attachment is to be honoured and has not been read yet. */
  consumerTimeoutUnread = false;
  attempts = 0;
  /** The instance it was sent to, and the stack; the label for messages is built only when needed. */
  address = '';
  routedStack: Stack = 'legacy';
  /** Outlier detection's set of the route it took (service and stack). */
  outlierSet = '';
  tried: Set<string> | undefined;
  connection: UpstreamConnection | null = null;
  upstreamId = 0;
  /** Set when the mirror copied this call: it is told the real answer. */
  shadow: DubboMirrorCall | undefined = undefined;
  /** The pool whose pending count holds this request, while one does. */
  pendingIn: Pool | null = null;
  previousInFlight: ProxiedRequest | null = null;
  nextInFlight: ProxiedRequest | null = null;
  inFlightList: CallsInFlight<ProxiedRequest> | null = null;
  /** It entered the filter chain: the chain is told how it ended. */
  filtered = false;

  constructor(
    readonly listener: DubboListener,
    readonly downstream: Downstream,
    readonly frame: Frame,
    readonly view: RoutingView,
    /** The consumer's request id, both halves, restored on the response. */
    readonly idHigh: number,
    readonly idLow: number,
    readonly service: string,
    readonly version: string,
    readonly group: string,
    readonly method: string,
    readonly stickyKey: string | undefined,
    readonly policy: DubboServicePolicy,
    readonly startedAt: number,
  ) {}

  deliver(response: Frame): void {
    const { source, start, end } = response;
    setUint32At(source, start + 4, this.idHigh);
    setUint32At(source, start + 8, this.idLow);
    // The response's chunk was read at lastReadAt: one clock read per chunk, not per call.
    this.listener.finished(this, responseOutcome(source, start, end), (this.connection as UpstreamConnection).lastReadAt);
    if (this.shadow !== undefined) this.shadow.primaryAnswered(source.subarray(start, end));
    this.downstream.writeRun(source, start, end);
  }

  fail(reason: UpstreamFailure): void {
    this.listener.upstreamFailed(this, reason);
  }

  get deadline(): number {
    if (this.consumerTimeoutUnread) {
      this.consumerTimeoutUnread = false;
      this.listener.readConsumerTimeout(this);
    }
    return this.expiresAt;
  }

  get requestId(): bigint {
    return (BigInt(this.idHigh) << 32n) | BigInt(this.idLow);
  }

  get remoteAddress(): string {
    return this.downstream.remoteLabel;
  }

  /** The `application` attachment, scanned for once however many filters ask. */
  private claimedApp: string | undefined | null = null;

  callerApp(): string | undefined {
    if (this.claimedApp === null) this.claimedApp = this.readAttachment('application');
    return this.claimedApp;
  }

  attribute(name: string): string | undefined {
    return name === 'application' ? this.callerApp() : this.readAttachment(name);
  }

  private readAttachment(name: string): string | undefined {
    const value = this.view.attachment(name);
    return value === undefined || value === null ? undefined : String(value);
  }

  argument(index: number): string | number | undefined {
    return readArgumentKey(this.frame.body, this.view, index);
  }
}

/** The upstream connections to one instance, and the routes that led there (to know when it left). */
interface Pool {
  connections: UpstreamConnection[];
  /** service -> the version and group of a request that used it, and its outlier sets. */
  routes: Map<string, PoolRoute>;
  /** Two-way requests in flight to the instance, for the least-pending choice. */
  pending: number;
}

interface PoolRoute {
  version: string;
  group: string;
  outlierSets: Record<Stack, string>;
}

const SWEEP_MS = 50;
/** Answers queued in one turn up to this size are joined into one buffer before writing. */
const COALESCE_BYTES = 256 * 1024;
/** Answers queued in one turn past which they are written without waiting for the turn's end. */
const FLUSH_EARLY_ANSWERS = 256;
/** Pools are checked against the catalog this often. */
const POOL_SWEEP_MS = 1000;
/** Other instances tried for a request whose connection could not be made. */
const NEVER_DELIVERED_RETRIES = 2;

/** What can go wrong on the Dubbo path, counted. */
function dubboMetrics(m: Registry) {
  return {
    connections: gauge(m, 'mesh_bridge_dubbo_consumer_connections', 'Consumer connections open on the Dubbo listener'),
    badFrames: counter(m, 'mesh_bridge_dubbo_bad_frames_total', 'Consumer connections closed for a malformed frame'),
    failures: counter(m, 'mesh_bridge_dubbo_upstream_failures_total', 'Dubbo calls that did not end ok, by failure class (and the kind of a bridge_refusal)', FAILURE_LABEL_NAMES),
    retries: counter(m, 'mesh_bridge_dubbo_retries_total', 'Idempotent requests sent again after their upstream failed'),
    fallbacks: counter(m, 'mesh_bridge_route_fallbacks_total', 'Requests served by the other stack because the chosen one had no instance'),
    heartbeats: counter(m, 'mesh_bridge_dubbo_heartbeats_total', 'Consumer heartbeats answered by the bridge'),
    ejections: counter(m, 'mesh_bridge_outlier_ejections_total', 'Upstream instances left out of routing for a while after repeated connection failures', ['protocol']).labels({ protocol: 'dubbo' }),
    closed: counter(m, 'mesh_bridge_dubbo_consumers_closed_total', 'Consumer connections the bridge closed or refused, by reason', ['reason']),
    acceptErrors: counter(m, 'mesh_bridge_dubbo_accept_errors_total', 'Errors accepting consumer connections (EMFILE ...), by code', ['code']),
    readonly: counter(m, 'mesh_bridge_dubbo_upstream_readonly_total', 'READONLY events received from providers shutting down'),
    unreadableTimeouts: counter(m, 'mesh_bridge_dubbo_unreadable_timeouts_total', "Calls whose attachments could not be read for the consumer's timeout (the policy's applied)"),
    attemptFailures: counter(m, 'mesh_bridge_dubbo_attempt_failures_total', 'Upstream attempts that failed, retried or not, by failure class', ['reason']),
  };
}

type DubboMetrics = ReturnType<typeof dubboMetrics>;

export class DubboListener {
  private server: Server | null = null;
  private readonly downstreams = new Set<Downstream>();
  private readonly pools = new Map<string, Pool>();
  /** Instances that sent READONLY on a connection still open: routed around while others exist. */
  private readonly readonlyAddresses = new Set<string>();
  /** Deadlines, heartbeats and idle checks: judged after the reads waiting when its timer fires. */
  private readonly sweeper: SweepAfterReads;
  private sweeps = 0;
  private readonly downstreamSweepEvery: number;
  /** Wall clock for the traffic windows and a coarse monotonic clock, refreshed by the sweep's timer. */
  private clockMs = Date.now();
  private tick = performance.now();
  /** When the consumer chunk being read arrived: the start of each call in it. */
  private chunkReadAt = 0;
  private readonly logOnce = new LogOnce();
  private readonly connectTimeoutMs: number;
  private readonly heartbeatIdleMs: number;
  private readonly maxBodyLength: number;
  private readonly connectionsPerInstance: number;
  readonly limits: DubboLimits;
  private readonly filters: FilterChain | null;
  /** Upstream connections corked this turn, and consumers with answers to write. */
  private readonly corked = new EndOfTurn<UpstreamConnection>((connection) => connection.uncork());
  private readonly toFlush = new EndOfTurn<Downstream>((downstream) => downstream.flush());
  private draining = false;
  private nextEventId = 1n;
  private readonly metrics: DubboMetrics;


  constructor(private readonly options: DubboListenerOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    this.heartbeatIdleMs = options.heartbeatIdleMs ?? 60_000;
    this.maxBodyLength = options.maxBodyLength ?? 8 * 1024 * 1024;
    this.connectionsPerInstance = options.connectionsPerInstance ?? 1;
    this.limits = withDefaults(defaultDubboLimits(this.maxBodyLength, this.heartbeatIdleMs), options.limits);
    // Kept even while empty: a sidecar's chain is swapped on reload; an empty one costs a length check per request.
    this.filters = options.filters ?? null;
    const shortest = Math.min(this.limits.frameTimeoutMs, this.limits.consumerIdleTimeoutMs, this.heartbeatIdleMs);
    this.downstreamSweepEvery = Math.max(1, Math.min(20, Math.floor(shortest / 4 / SWEEP_MS)));
    this.metrics = dubboMetrics(options.metrics);
    this.sweeper = new SweepAfterReads(
      SWEEP_MS,
      (now) => this.sweep(now),
      (now) => {
        this.tick = now;
        this.clockMs = Date.now();
      },
    );
  }

  /** Requests in flight to one instance address, for the least-pending choice. */
  readonly pendingOf = (address: string): number => this.pools.get(address)?.pending ?? 0;

  get address(): { host: string; port: number } {
    return listeningAddress(this.server, 'Dubbo');
  }

  async start(): Promise<void> {
    const server = await listenOn(this.options.host, this.options.port, (socket) => this.accept(socket));
    server.maxConnections = this.limits.maxConnections;
    server.on('drop', () => this.metrics.closed.inc({ reason: 'connection_cap' }));
    // Accept errors (EMFILE when file descriptors run out) are counted; the listener goes on.
    server.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'unknown';
      this.metrics.acceptErrors.inc({ code });
      if (this.logOnce.first(`accept|${code}`)) this.options.logger.error({ code }, `Dubbo listener could not accept a connection: ${err.message}`);
    });
    this.server = server;
    this.sweeper.start();
  }

  /**
   * Graceful shutdown: stop accepting, tell consumers READONLY (Dubbo consumers then send new
   * calls elsewhere), answer any new request with an error a consumer retries elsewhere, let
   * requests in flight finish until `deadlineMs`, then close every connection. Requests still open
   * at the deadline are answered with an error.
   */
  async stop(deadlineMs = 5000): Promise<void> {
    this.draining = true;
    const closed = stopAccepting(this.server);
    for (const downstream of this.downstreams) downstream.write(encodeReadonlyEvent(this.nextEventId++));
    await waitWhileBusy(() => this.totalInFlight() > 0, deadlineMs);
    for (const pool of this.pools.values()) for (const connection of pool.connections) connection.close({ outcome: 'reset', message: 'the bridge is shutting down' });
    // close() fails what is in flight at once: the error answers are written before closeSockets ends the sockets.
    this.toFlush.run();
    await closeSockets(this.downstreams);
    this.sweeper.stop();
    await closed;
  }

  private totalInFlight(): number {
    let total = 0;
    for (const downstream of this.downstreams) total += downstream.requests.size;
    return total;
  }

  /** Serves a consumer connection accepted elsewhere (the bridge's slot ports) as one of its own. */
  adopt(socket: Socket): void {
    this.accept(socket);
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    const downstream = new Downstream(socket, this, this.maxBodyLength, this.tick);
    this.downstreams.add(downstream);
    this.metrics.connections.inc();
    socket.on('data', (chunk) => this.onData(downstream, chunk));
    socket.on('drain', () => downstream.drained());
    socket.on('error', () => undefined); // 'close' follows and cleans up
    socket.on('close', () => this.onConsumerClose(downstream));
  }

  private onConsumerClose(downstream: Downstream): void {
    downstream.closed = true;
    this.downstreams.delete(downstream);
    this.metrics.connections.dec();
    downstream.released();
    for (const request of downstream.requests.clear()) this.callerGone(request);
  }

  /** @internal A consumer has answers to write: they leave together at the end of this turn. */
  flushSoon(downstream: Downstream): void {
    this.toFlush.add(downstream);
  }

  /** @internal Answers are queuing up for a consumer that does not read them. */
  backlogged(downstream: Downstream): void {
    const queued = downstream.queued;
    if (queued > this.limits.consumerMaxBufferedBytes) {
      this.closeConsumer(downstream, 'slow_reader', `it left ${queued} bytes of answers unread`);
    } else {
      downstream.holdForDrain();
    }
  }

  private closeConsumer(downstream: Downstream, reason: string, why: string): void {
    if (downstream.socket.destroyed) return;
    this.metrics.closed.inc({ reason });
    if (this.logOnce.first(`close|${reason}`)) {
      const remote = `${downstream.socket.remoteAddress}:${downstream.socket.remotePort}`;
      this.options.logger.warn({ remote, reason }, `closing Dubbo consumer connection from ${remote}: ${why}`);
    }
    downstream.socket.destroy();
  }

  private onData(downstream: Downstream, chunk: Buffer): void {
    downstream.lastReadAt = this.tick;
    this.chunkReadAt = performance.now();
    const decoder = downstream.decoder;
    try {
      decoder.push(chunk, (frame) => this.onFrame(downstream, frame));
    } catch (err) {
      // Bad framing: this connection cannot be trusted any more. Close it; others are untouched.
      this.metrics.badFrames.inc();
      const remote = `${downstream.socket.remoteAddress}:${downstream.socket.remotePort}`;
      const detail = err instanceof CodecError ? { code: err.code, where: err.where, value: err.value } : { message: String(err) };
      this.options.logger.warn({ remote, ...detail }, `closing Dubbo consumer connection from ${remote}: ${(err as Error).message}`);
      downstream.socket.destroy();
      return;
    }
    if (!decoder.midFrame) downstream.frameStart = -1;
    else {
      const start = decoder.position - decoder.bufferedBytes;
      if (start !== downstream.frameStart) {
        downstream.frameStart = start;
        downstream.frameStartedAt = this.tick;
      }
    }
  }

  private onFrame(downstream: Downstream, frame: Frame): void {
    const { header } = frame;
    if (!header.isRequest) return; // consumers send requests; their answers to our heartbeats are just reads
    if (header.event) {
      if (header.twoWay) {
        this.metrics.heartbeats.inc();
        downstream.write(encodeHeartbeat(readRequestId(frame.bytes), false, header.serializationId));
      }
      return;
    }
    if (header.twoWay) {
      if (this.draining) return this.refuse(downstream, frame, 'draining', 'mesh-bridge is shutting down: call another provider');
      if (downstream.requests.size >= this.limits.maxInFlightPerConsumer) {
        return this.refuse(downstream, frame, 'overloaded', `mesh-bridge: more than ${this.limits.maxInFlightPerConsumer} calls in flight on this connection`);
      }
    }
    const idHigh = uint32At(frame.source, frame.start + 4);
    const idLow = uint32At(frame.source, frame.start + 8);
    // Everything read from the body happens in here: group and sticky attachments are read lazily
    // (past the arguments), and a malformed body is this request's fault, not the connection's.
    let view;
    let service: string;
    let stickyKey: string | undefined;
    let group = '';
    let policy: DubboServicePolicy;
    try {
      view = readRoutingViewAt(frame.source, frame.start + HEADER_LENGTH, frame.end);
      service = view.path;
      policy = this.options.policy(service);
      if (policy.stickyAttachment !== undefined) {
        const value = view.attachment(policy.stickyAttachment);
        if (typeof value === 'string' || typeof value === 'number') stickyKey = String(value);
      }
      if (this.options.routes.needsGroup(service)) group = view.group;
    } catch (err) {
      // The framing is sound, so only this request is bad: answer it, keep the connection.
      const message = err instanceof MeshBridgeError ? `${err.code}: ${err.message}` : String(err);
      return this.refuse(downstream, frame, 'bad_request', `mesh-bridge could not read the request: ${message}`);
    }
    const request = new ProxiedRequest(this, downstream, frame, view, idHigh, idLow, service, view.version, group, view.method, stickyKey, policy, this.chunkReadAt);
    request.timeoutMs = policy.methodTimeoutsMs?.get(request.method) ?? policy.timeoutMs;
    // The consumer's own `timeout` attachment lies past the arguments: it is read when a deadline
    // is first checked (the sweep's, for a call still in flight), not for the many answered sooner.
    request.consumerTimeoutUnread = policy.honorConsumerTimeout === true;
    if (header.twoWay) downstream.requests.add(request);
    if (this.filters === null || this.filters.empty) this.route(request);
    else {
      request.filtered = true;
      this.filters.run(request, this.clockMs, (reply) => (reply === undefined ? this.route(request) : this.answerLocally(request, reply)));
    }
  }

  /** After the filters: choose an instance and send. */
  private route(request: ProxiedRequest): void {
    if (request.downstream.closed) {
      // A two-way call ended as caller_gone when its consumer left; a one-way call ends here.
      if (!request.frame.header.twoWay && request.filtered) this.filters?.complete(request, 'caller_gone', 0, this.clockMs);
      return;
    }
    const { service, version, group, method } = request;
    const exclude = this.readonlyAddresses.size > 0 ? this.readonlyAddresses : undefined;
    const choice =
      this.options.routes.choose(service, version, group, method, request.stickyKey, Math.random, exclude, request) ??
      (exclude ? this.options.routes.choose(service, version, group, method, request.stickyKey, Math.random, undefined, request) : null);
    if (choice === null) {
      const what = `${service}${version ? ':' + version : ''}${group ? ' group ' + group : ''}${this.options.routes.missDetail(service, request)}`;
      return this.answerLocally(request, { outcome: 'bridge_refusal', refusal: 'no_instance', message: `mesh-bridge: no legacy or mesh instance of ${what}` });
    }
    if (choice.routedStack !== choice.stack) this.metrics.fallbacks.inc();
    if (choice.timeoutMs !== undefined) request.timeoutMs = choice.timeoutMs;
    this.dispatch(request, choice);
    // After the real call is on its way (and only if it is: connection set), so the copy follows it.
    if (this.options.mirror !== undefined && request.connection !== null) request.shadow = this.options.mirror.start(service, version, group, method, request.frame, choice.routedStack);
  }

  private dispatch(request: ProxiedRequest, choice: RouteChoice): void {
    const address = choice.candidate.address;
    const pool = this.poolFor(address, request, choice.routedStack);
    const connection = this.connectionIn(pool, choice);
    const twoWay = request.frame.header.twoWay;
    if (twoWay && connection.connecting && request.policy.connectionGate !== undefined) {
      const refused = request.policy.connectionGate.admitPending(request, () => connection.connecting);
      if (refused !== undefined) return this.answerLocally(request, refused);
    }
    if (connection.buffered > this.limits.upstreamMaxBufferedBytes) {
      // The provider is not reading what it was sent: refuse rather than buffer without end.
      request.address = address;
      request.routedStack = choice.routedStack;
      this.options.routes.outliers.report(address, 'upstream_overloaded', this.clockMs);
      if (!twoWay) {
        this.metrics.failures.inc(failureLabels('upstream_overloaded'));
        if (request.filtered) this.filters?.complete(request, 'upstream_overloaded', 0, this.clockMs);
        return;
      }
      return this.answerLocally(request, { outcome: 'upstream_overloaded', message: `mesh-bridge: upstream ${address} is not reading its requests` });
    }
    if (!this.corked.has(connection)) {
      // Requests from many consumers read in one event-loop turn leave in one write per upstream:
      // uncorking after each consumer's chunk cost a write system call per request.
      connection.cork();
      this.corked.add(connection);
    }
    if (!twoWay) {
      connection.sendOneWay(request.frame);
      // Nothing comes back: the filters that saw it (a bulkhead slot, a breaker) hear of its end now.
      if (request.filtered) this.filters?.complete(request, 'ok', 0, this.clockMs);
    } else {
      request.attempts++;
      request.address = address;
      request.routedStack = choice.routedStack;
      request.sentAt = request.attempts === 1 ? request.startedAt : performance.now();
      request.expiresAt = request.sentAt + request.timeoutMs;
      pool.pending++;
      request.pendingIn = pool;
      request.connection = connection;
      request.upstreamId = connection.send(request.frame, request);
    }
    if (connection.buffered > this.limits.upstreamHighWaterBytes) request.downstream.blockOn(connection);
  }

  /** The pool of an instance, made on first use; the request learns its outlier set from the pool's route. */
  private poolFor(address: string, request: ProxiedRequest, stack: Stack): Pool {
    let pool = this.pools.get(address);
    if (pool === undefined) this.pools.set(address, (pool = { connections: [], routes: new Map(), pending: 0 }));
    let route = pool.routes.get(request.service);
    if (route === undefined) {
      const { service, version, group } = request;
      pool.routes.set(service, (route = { version, group, outlierSets: { legacy: outlierSet(service, 'legacy'), mesh: outlierSet(service, 'mesh') } }));
    }
    request.outlierSet = route.outlierSets[stack];
    return pool;
  }

  private connectionIn(pool: Pool, choice: RouteChoice): UpstreamConnection {
    const address = choice.candidate.address;
    let best: UpstreamConnection | undefined;
    let usable = 0;
    for (const connection of pool.connections) {
      if (!connection.usable) continue;
      usable++;
      if (best === undefined || connection.inFlight < best.inFlight) best = connection;
    }
    if (best !== undefined && (usable >= this.connectionsPerInstance || best.inFlight === 0)) return best;
    const { host, port } = choice.candidate.instance;
    const connection = new UpstreamConnection({
      host,
      port,
      connectTimeoutMs: this.connectTimeoutMs,
      heartbeatIdleMs: this.heartbeatIdleMs,
      maxBodyLength: this.maxBodyLength,
      onClose: (closed) => this.upstreamClosed(address, closed),
      onReadonly: (readonly) => {
        this.metrics.readonly.inc();
        this.readonlyAddresses.add(readonly.address);
      },
      onDrain: (drained) => this.upstreamDrained(drained),
    });
    pool.connections.push(connection);
    return connection;
  }

  private upstreamClosed(address: string, closed: UpstreamConnection): void {
    this.upstreamDrained(closed);
    this.corked.delete(closed);
    const pool = this.pools.get(address);
    if (pool !== undefined) {
      const index = pool.connections.indexOf(closed);
      if (index >= 0) pool.connections.splice(index, 1);
      if (pool.connections.length === 0) this.pools.delete(address);
    }
    // Routed around while a connection that said READONLY is open; a new process there is welcome.
    if (pool === undefined || !pool.connections.some((c) => !c.usable)) this.readonlyAddresses.delete(address);
  }

  private upstreamDrained(connection: UpstreamConnection): void {
    for (const downstream of connection.blocked) downstream.unblock(connection);
    connection.blocked.clear();
  }

  /** @internal The consumer's `timeout` attachment replaces the policy's timeout, once read. */
  readConsumerTimeout(request: ProxiedRequest): void {
    let timeoutMs: number | undefined;
    try {
      timeoutMs = consumerTimeout(request.view.attachment('timeout'), this.limits.maxConsumerTimeoutMs);
    } catch {
      // Attachments the bridge cannot read were forwarded as they came: the provider reads them,
      // and the policy's timeout stands.
      this.metrics.unreadableTimeouts.inc();
    }
    if (timeoutMs === undefined) return;
    request.timeoutMs = timeoutMs;
    request.expiresAt = request.sentAt + timeoutMs;
  }

  /** @internal Called by a request when its response was delivered. */
  finished(request: ProxiedRequest, outcome: Outcome, now: number): void {
    this.releasePending(request);
    this.options.routes.outliers.report(request.address, outcome, this.clockMs, request.outlierSet);
    request.downstream.requests.delete(request);
    if (outcome !== 'ok') this.metrics.failures.inc(failureLabels(outcome));
    this.complete(request, outcome, undefined, now);
  }

  private releasePending(request: ProxiedRequest): void {
    if (request.pendingIn === null) return;
    request.pendingIn.pending--;
    request.pendingIn = null;
  }

  private complete(request: ProxiedRequest, outcome: Outcome, refusal?: BridgeRefusal, now = performance.now()): void {
    const micros = (now - request.startedAt) * 1000;
    // Answered before it was routed (a filter, no instance): no stack saw it, so no stack is blamed (as HTTP).
    if (request.address !== '') this.options.stats.recordCall(request.service, request.routedStack, request.method, this.clockMs, micros, outcome);
    if (request.filtered) this.filters?.complete(request, outcome, micros, this.clockMs, refusal);
    request.shadow?.primaryEnded(outcome);
  }

  /** The consumer hung up before its answer: never the upstream's fault. */
  private callerGone(request: ProxiedRequest): void {
    this.metrics.failures.inc(failureLabels('caller_gone'));
    if (request.connection !== null) {
      request.connection.cancel(request.upstreamId);
      this.releasePending(request);
      this.options.routes.outliers.report(request.address, 'caller_gone', this.clockMs);
    }
    this.complete(request, 'caller_gone');
  }

  /** @internal Called by a request whose upstream failed or timed out. */
  upstreamFailed(request: ProxiedRequest, reason: UpstreamFailure): void {
    this.releasePending(request);
    // Every call in flight on one lost connection fails here: the detector counts that connection once.
    const failedOn = request.connection ?? undefined;
    request.connection = null;
    const outcome = reason.outcome;
    this.metrics.attemptFailures.inc({ reason: outcome });
    if (!this.draining && this.options.routes.outliers.report(request.address, outcome, Date.now(), request.outlierSet, failedOn)) {
      this.metrics.ejections.inc();
      this.options.logger.warn({ upstream: request.address, outcome }, `ejecting Dubbo upstream ${request.address} for a while: its calls keep failing (${outcome})`);
    }
    if (request.downstream.closed) return; // its caller-gone accounting happened on close
    // A request whose connection was never made never reached a provider: sending it elsewhere is
    // safe for any method. One that may have arrived is sent again only when idempotent.
    const neverDelivered = outcome === 'connect_failure' || outcome === 'connect_timeout';
    const retryable = neverDelivered
      ? request.attempts <= Math.max(request.policy.retries, NEVER_DELIVERED_RETRIES)
      : outcome === 'reset' && request.policy.idempotentMethods.has(request.method) && request.attempts <= request.policy.retries;
    if (retryable && !this.draining) {
      request.tried ??= new Set(this.readonlyAddresses);
      request.tried.add(request.address);
      const choice = this.options.routes.choose(request.service, request.version, request.group, request.method, request.stickyKey, Math.random, request.tried, request);
      if (choice !== null && (request.policy.retryGate?.tryRetry(request) ?? true)) {
        this.metrics.retries.inc();
        this.dispatch(request, choice);
        return;
      }
    }
    request.downstream.requests.delete(request);
    this.metrics.failures.inc(failureLabels(outcome));
    const upstream = `${request.address} (${request.routedStack})`;
    const what = outcome === 'response_timeout' ? `timed out after ${request.timeoutMs} ms waiting for` : 'failed calling';
    request.downstream.write(
      encodeResponse({
        requestId: request.requestId,
        status: dubboStatusFor(outcome),
        errorMessage: `mesh-bridge ${what} upstream ${upstream} for ${request.service}.${request.method}: ${reason.message}`,
      }),
    );
    this.complete(request, outcome);
    if (this.logOnce.first(`${outcome}|${upstream}`)) {
      this.options.logger.warn({ upstream, service: request.service, reason: outcome }, reason.message);
    }
  }

  /** Answers a request the bridge will not route (filters, caps, no instance), in Dubbo's form. */
  private answerLocally(request: ProxiedRequest, reply: LocalReply): void {
    // Its consumer left while a filter held it: it already ended as caller_gone.
    if (request.downstream.closed && request.frame.header.twoWay) return;
    this.metrics.failures.inc(failureLabels(reply.outcome, reply.refusal));
    if (!request.frame.header.twoWay) {
      if (request.filtered) this.filters?.complete(request, reply.outcome, 0, this.clockMs, reply.refusal);
      return;
    }
    request.downstream.requests.delete(request);
    request.downstream.write(
      reply.answer !== undefined
        ? dubboFallbackFrame(reply.answer, request.idHigh, request.idLow)
        : encodeResponse({ requestId: request.requestId, status: dubboStatusFor(reply.outcome, reply.refusal), errorMessage: reply.message }),
    );
    this.complete(request, reply.outcome, reply.refusal);
  }

  /** Answers a request refused before it was read (draining, in-flight cap, unreadable). */
  private refuse(downstream: Downstream, frame: Frame, refusal: BridgeRefusal, message: string): void {
    this.metrics.failures.inc(failureLabels('bridge_refusal', refusal));
    if (frame.header.twoWay) downstream.write(encodeResponse({ requestId: readRequestId(frame.bytes), status: dubboStatusFor('bridge_refusal', refusal), errorMessage: message }));
  }

  private sweep(now: number): void {
    for (const pool of this.pools.values()) {
      for (const connection of pool.connections) {
        connection.expire(now);
        connection.keepAlive(now);
      }
    }
    this.sweeps++;
    if (this.sweeps % this.downstreamSweepEvery === 0) this.sweepConsumers(now);
    if (this.sweeps % (POOL_SWEEP_MS / SWEEP_MS) === 0) this.sweepPools();
  }

  /** Partial frames past their deadline, silent consumers, heartbeats to idle ones. */
  private sweepConsumers(now: number): void {
    const { frameTimeoutMs, consumerIdleTimeoutMs } = this.limits;
    for (const downstream of this.downstreams) {
      if (downstream.frameStart >= 0 && now - downstream.frameStartedAt > frameTimeoutMs) {
        this.closeConsumer(downstream, 'frame_timeout', `a frame begun ${Math.round(now - downstream.frameStartedAt)} ms ago is still incomplete`);
        continue;
      }
      const silent = now - downstream.lastReadAt;
      if (silent > consumerIdleTimeoutMs && downstream.requests.size === 0) {
        this.closeConsumer(downstream, 'idle', `nothing read for ${Math.round(silent)} ms`);
      } else if (silent > this.heartbeatIdleMs && now - downstream.lastPingAt > this.heartbeatIdleMs) {
        // Java consumers answer a heartbeat: a live one that is merely idle is not closed.
        downstream.lastPingAt = now;
        downstream.write(encodeHeartbeat(this.nextEventId++, true));
      }
    }
  }

  /** Pools of instances that left the catalog (or went down) take no new requests and close once idle. */
  private sweepPools(): void {
    for (const [address, pool] of this.pools) {
      let routed = false;
      for (const [service, { version, group }] of pool.routes) {
        const set = this.options.routes.routeSet(service, version, group);
        if (set.legacy.some((c) => c.address === address) || set.mesh.some((c) => c.address === address)) {
          routed = true;
          break;
        }
      }
      if (routed) continue;
      this.pools.delete(address);
      for (const connection of [...pool.connections]) connection.retire();
    }
  }
}

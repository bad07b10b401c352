// The bridge's Dubbo listener: consumers keep long-lived sockets and multiplex requests on them by
// request id. Each request is routed by its routing view (service, version, group, method; the
// arguments are never decoded) to the legacy or mesh set of its service, then to one instance, and
// sent over a pooled upstream connection with an id of that connection's. Responses go back with
// the consumer's id restored. Failures are answered as Dubbo error responses that name the upstream.
import { Server, Socket } from 'node:net';
import type { Stack } from '../../catalog';
import { DubboStatus, Frame, FrameDecoder, encodeHeartbeat, encodeResponse, readRequestId, readRoutingView } from '../../dubbo-codec';
import { CodecError, MeshBridgeError } from '../../errors';
import type { Logger } from '../../telemetry/logger';
import { LogOnce } from '../../telemetry/logger';
import { Registry, counter, gauge } from '../../telemetry/metrics';
import { PendingCounts } from '../route/pending-counts';
import { RouteChoice, ServiceRoutes } from '../route/service-routes';
import { closeSockets, listenOn, listeningAddress, stopAccepting, waitWhileBusy } from '../socket-lifecycle';
import { TrafficStats } from '../stats/traffic-stats';
import { InFlight, UpstreamConnection, UpstreamFailure } from './upstream-connection';

/** How one service's requests are handled, beyond weights. */
export interface DubboServicePolicy {
  /** Attachment whose value keeps a caller on one stack. */
  stickyAttachment?: string;
  /** Methods that may be sent again to another instance when their upstream fails. */
  idempotentMethods: ReadonlySet<string>;
  retries: number;
  /** Time an upstream has to answer, unless the consumer's own `timeout` attachment says otherwise. */
  timeoutMs: number;
  /**
   * Use the `timeout` attachment a consumer sends (its own deadline) instead of `timeoutMs`, so the
   * bridge neither cuts a call the consumer would wait for nor holds one it gave up on. Reading it
   * means skipping the arguments, which roughly doubles the cost of a routing view.
   */
  honorConsumerTimeout?: boolean;
}

/** The longest consumer timeout honoured. */
const MAX_CONSUMER_TIMEOUT_MS = 10 * 60_000;

/** A consumer's `timeout` attachment in ms, or undefined when absent or not a positive number. */
function consumerTimeout(value: unknown): number | undefined {
  const ms = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_CONSUMER_TIMEOUT_MS) : undefined;
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
  heartbeatIdleMs?: number;
  maxBodyLength?: number;
  /** Upstream connections per provider instance. */
  connectionsPerInstance?: number;
}

/** One consumer's socket. */
class Downstream {
  readonly decoder: FrameDecoder;
  inFlight = 0;
  closed = false;

  constructor(
    readonly socket: Socket,
    maxBodyLength: number,
  ) {
    this.decoder = new FrameDecoder({ maxBodyLength });
  }

  /** Writes unless the consumer went away meanwhile. */
  write(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }
}

/** A consumer's request on its way through the bridge. */
class ProxiedRequest implements InFlight {
  deadline = 0;
  timeoutMs = 0;
  attempts = 0;
  /** The instance it was sent to, and the stack; the label for messages is built only when needed. */
  address = '';
  routedStack: Stack = 'legacy';
  tried: Set<string> | undefined;

  constructor(
    readonly listener: DubboListener,
    readonly downstream: Downstream,
    readonly frame: Frame,
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
    const bytes = response.bytes;
    bytes.writeUInt32BE(this.idHigh, 4);
    bytes.writeUInt32BE(this.idLow, 8);
    this.downstream.write(bytes);
    this.listener.finished(this, response.header.status !== DubboStatus.OK);
  }

  fail(reason: UpstreamFailure): void {
    this.listener.upstreamFailed(this, reason);
  }

  get requestId(): bigint {
    return (BigInt(this.idHigh) << 32n) | BigInt(this.idLow);
  }
}

const SWEEP_MS = 50;
/** Other instances tried for a request whose connection could not be made. */
const NEVER_DELIVERED_RETRIES = 2;

export class DubboListener {
  private server: Server | null = null;
  private readonly downstreams = new Set<Downstream>();
  private readonly pools = new Map<string, UpstreamConnection[]>();
  private readonly pending = new PendingCounts();
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Wall clock for the traffic windows, refreshed by the sweep: one Date.now() per 50 ms, not per request. */
  private clockMs = Date.now();
  private readonly logOnce = new LogOnce();
  private readonly connectTimeoutMs: number;
  private readonly heartbeatIdleMs: number;
  private readonly maxBodyLength: number;
  private readonly connectionsPerInstance: number;
  private readonly corked = new Set<UpstreamConnection>();
  private uncorkScheduled = false;
  private readonly uncorkAll = (): void => {
    this.uncorkScheduled = false;
    for (const connection of this.corked) connection.uncork();
    this.corked.clear();
  };
  private draining = false;
  private readonly metrics: {
    connections: { inc(): void; dec(): void };
    badFrames: { inc(): void };
    failures: { inc(labels: { reason: string }): void };
    retries: { inc(): void };
    fallbacks: { inc(): void };
    heartbeats: { inc(): void };
    ejections: { inc(): void };
  };

  constructor(private readonly options: DubboListenerOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    this.heartbeatIdleMs = options.heartbeatIdleMs ?? 60_000;
    this.maxBodyLength = options.maxBodyLength ?? 8 * 1024 * 1024;
    this.connectionsPerInstance = options.connectionsPerInstance ?? 1;
    const m = options.metrics;
    this.metrics = {
      connections: gauge(m, 'mesh_bridge_dubbo_consumer_connections', 'Consumer connections open on the Dubbo listener'),
      badFrames: counter(m, 'mesh_bridge_dubbo_bad_frames_total', 'Consumer connections closed for a malformed frame'),
      failures: counter(m, 'mesh_bridge_dubbo_upstream_failures_total', 'Requests answered with an error by the bridge, by reason', ['reason']),
      retries: counter(m, 'mesh_bridge_dubbo_retries_total', 'Idempotent requests sent again after their upstream failed'),
      fallbacks: counter(m, 'mesh_bridge_route_fallbacks_total', 'Requests served by the other stack because the chosen one had no instance'),
      heartbeats: counter(m, 'mesh_bridge_dubbo_heartbeats_total', 'Consumer heartbeats answered by the bridge'),
      ejections: counter(m, 'mesh_bridge_outlier_ejections_total', 'Upstream instances left out of routing for a while after repeated connection failures', ['protocol']).labels({ protocol: 'dubbo' }),
    };
  }

  /** Requests in flight to one instance address, for the least-pending choice. */
  readonly pendingOf = this.pending.of;

  get address(): { host: string; port: number } {
    return listeningAddress(this.server, 'Dubbo');
  }

  async start(): Promise<void> {
    this.server = await listenOn(this.options.host, this.options.port, (socket) => this.accept(socket));
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Serves a consumer connection accepted elsewhere (the bridge's slot ports) as one of its own. */
  adopt(socket: Socket): void {
    this.accept(socket);
  }

  /**
   * Graceful shutdown: stop accepting, let requests in flight finish until `deadlineMs`, then close
   * every connection. Requests still open at the deadline are answered with an error.
   */
  async stop(deadlineMs = 5000): Promise<void> {
    this.draining = true;
    const closed = stopAccepting(this.server);
    await waitWhileBusy(() => this.totalInFlight() > 0, deadlineMs);
    for (const pool of this.pools.values()) for (const connection of pool) connection.close({ kind: 'closed', message: 'the bridge is shutting down' });
    // close() fails what is in flight at once: the error answers are written before closeSockets ends the sockets.
    await closeSockets(this.downstreams);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await closed;
  }

  private totalInFlight(): number {
    let total = 0;
    for (const downstream of this.downstreams) total += downstream.inFlight;
    return total;
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    const downstream = new Downstream(socket, this.maxBodyLength);
    this.downstreams.add(downstream);
    this.metrics.connections.inc();
    socket.on('data', (chunk) => this.onData(downstream, chunk));
    socket.on('error', () => undefined); // 'close' follows and cleans up
    socket.on('close', () => {
      downstream.closed = true;
      this.downstreams.delete(downstream);
      this.metrics.connections.dec();
    });
  }

  private onData(downstream: Downstream, chunk: Buffer): void {
    try {
      downstream.decoder.push(chunk, (frame) => this.onFrame(downstream, frame));
    } catch (err) {
      // Bad framing: this connection cannot be trusted any more. Close it; others are untouched.
      this.metrics.badFrames.inc();
      const remote = `${downstream.socket.remoteAddress}:${downstream.socket.remotePort}`;
      const detail = err instanceof CodecError ? { code: err.code, where: err.where, value: err.value } : { message: String(err) };
      this.options.logger.warn({ remote, ...detail }, `closing Dubbo consumer connection from ${remote}: ${(err as Error).message}`);
      downstream.socket.destroy();
    }
  }

  private onFrame(downstream: Downstream, frame: Frame): void {
    const { header } = frame;
    if (!header.isRequest) return; // consumers send requests; a stray response is ignored
    if (header.event) {
      if (header.twoWay) {
        this.metrics.heartbeats.inc();
        downstream.write(encodeHeartbeat(readRequestId(frame.bytes), false, header.serializationId));
      }
      return;
    }
    const idHigh = frame.bytes.readUInt32BE(4);
    const idLow = frame.bytes.readUInt32BE(8);
    // Everything read from the body happens in here: group and sticky attachments are read lazily
    // (past the arguments), and a malformed body is this request's fault, not the connection's.
    let view;
    let service: string;
    let stickyKey: string | undefined;
    let group = '';
    let timeoutMs: number | undefined;
    let policy: DubboServicePolicy;
    try {
      view = readRoutingView(frame.body);
      service = view.path;
      policy = this.options.policy(service);
      if (policy.stickyAttachment !== undefined) {
        const value = view.attachment(policy.stickyAttachment);
        if (typeof value === 'string' || typeof value === 'number') stickyKey = String(value);
      }
      if (this.options.routes.needsGroup(service)) group = view.group;
      if (policy.honorConsumerTimeout) timeoutMs = consumerTimeout(view.attachment('timeout'));
    } catch (err) {
      // The framing is sound, so only this request is bad: answer it, keep the connection.
      this.metrics.failures.inc({ reason: 'bad-request' });
      if (header.twoWay) {
        const message = err instanceof MeshBridgeError ? `${err.code}: ${err.message}` : String(err);
        this.answerError(downstream, readRequestId(frame.bytes), DubboStatus.BAD_REQUEST, `mesh-bridge could not read the request: ${message}`);
      }
      return;
    }
    const now = performance.now();
    const choice = this.options.routes.choose(service, view.version, group, view.method, stickyKey, Math.random);
    if (choice === null) {
      this.metrics.failures.inc({ reason: 'no-instance' });
      if (header.twoWay) {
        const what = `${service}${view.version ? ':' + view.version : ''}${group ? ' group ' + group : ''}`;
        this.answerError(downstream, readRequestId(frame.bytes), DubboStatus.SERVICE_NOT_FOUND, `mesh-bridge: no legacy or mesh instance of ${what}`);
      }
      return;
    }
    if (choice.routedStack !== choice.stack) this.metrics.fallbacks.inc();
    if (!header.twoWay) {
      this.connectionTo(choice).sendOneWay(frame);
      return;
    }
    const request = new ProxiedRequest(
      this,
      downstream,
      frame,
      idHigh,
      idLow,
      service,
      view.version,
      group,
      view.method,
      stickyKey,
      policy,
      now,
    );
    request.timeoutMs = timeoutMs ?? policy.timeoutMs;
    downstream.inFlight++;
    this.dispatch(request, choice);
  }

  private dispatch(request: ProxiedRequest, choice: RouteChoice): void {
    const connection = this.connectionTo(choice);
    request.attempts++;
    request.address = choice.candidate.address;
    request.routedStack = choice.routedStack;
    request.deadline = performance.now() + request.timeoutMs;
    const address = choice.candidate.address;
    this.pending.add(address);
    if (!this.corked.has(connection)) {
      // Requests from many consumers read in one event-loop turn leave in one write per upstream:
      // uncorking after each consumer's chunk cost a write system call per request.
      connection.cork();
      this.corked.add(connection);
      if (!this.uncorkScheduled) {
        this.uncorkScheduled = true;
        setImmediate(this.uncorkAll);
      }
    }
    connection.send(request.frame, request);
  }

  private connectionTo(choice: RouteChoice): UpstreamConnection {
    const address = choice.candidate.address;
    let pool = this.pools.get(address);
    if (pool === undefined) this.pools.set(address, (pool = []));
    let best: UpstreamConnection | undefined;
    for (const connection of pool) if (connection.isOpen && (best === undefined || connection.inFlight < best.inFlight)) best = connection;
    if (best !== undefined && (pool.length >= this.connectionsPerInstance || best.inFlight === 0)) return best;
    const { host, port } = choice.candidate.instance;
    const connection = new UpstreamConnection({
      host,
      port,
      connectTimeoutMs: this.connectTimeoutMs,
      heartbeatIdleMs: this.heartbeatIdleMs,
      maxBodyLength: this.maxBodyLength,
      onClose: (closed) => {
        const current = this.pools.get(address);
        if (!current) return;
        const index = current.indexOf(closed);
        if (index >= 0) current.splice(index, 1);
        if (current.length === 0) this.pools.delete(address);
      },
    });
    pool.push(connection);
    return connection;
  }

  private releasePending(request: ProxiedRequest): void {
    this.pending.release(request.address);
  }

  /** @internal Called by a request when its response was delivered. */
  finished(request: ProxiedRequest, error: boolean): void {
    this.releasePending(request);
    this.options.routes.outliers.success(request.address);
    request.downstream.inFlight--;
    const now = performance.now();
    this.options.stats.record(request.service, request.routedStack, this.clockMs, (now - request.startedAt) * 1000, error);
  }

  /** @internal Called by a request whose upstream failed or timed out. */
  upstreamFailed(request: ProxiedRequest, reason: UpstreamFailure): void {
    this.releasePending(request);
    // A connection that cannot be made or breaks counts against the instance; a slow answer does not.
    if ((reason.kind === 'connect' || reason.kind === 'closed') && !this.draining && this.options.routes.outliers.failure(request.address, Date.now())) {
      this.metrics.ejections.inc();
      this.options.logger.warn({ upstream: request.address }, `ejecting Dubbo upstream ${request.address} for a while: its connections keep failing`);
    }
    // A request whose connection was never made never reached a provider: sending it elsewhere is
    // safe for any method. One that may have arrived is sent again only when idempotent.
    const neverDelivered = reason.kind === 'connect';
    const retryable = neverDelivered
      ? request.attempts <= Math.max(request.policy.retries, NEVER_DELIVERED_RETRIES)
      : reason.kind !== 'timeout' && request.policy.idempotentMethods.has(request.method) && request.attempts <= request.policy.retries;
    if (retryable && !request.downstream.closed && !this.draining) {
      request.tried ??= new Set();
      request.tried.add(request.address);
      const choice = this.options.routes.choose(request.service, request.version, request.group, request.method, request.stickyKey, Math.random, request.tried);
      if (choice !== null) {
        this.metrics.retries.inc();
        this.dispatch(request, choice);
        return;
      }
    }
    request.downstream.inFlight--;
    this.metrics.failures.inc({ reason: reason.kind });
    const upstream = `${request.address} (${request.routedStack})`;
    const status = reason.kind === 'timeout' ? DubboStatus.SERVER_TIMEOUT : DubboStatus.SERVICE_ERROR;
    const what = reason.kind === 'timeout' ? `timed out after ${request.timeoutMs} ms waiting for` : 'failed calling';
    this.answerError(
      request.downstream,
      request.requestId,
      status,
      `mesh-bridge ${what} upstream ${upstream} for ${request.service}.${request.method}: ${reason.message}`,
    );
    this.options.stats.record(request.service, request.routedStack, this.clockMs, (performance.now() - request.startedAt) * 1000, true);
    if (this.logOnce.first(`${reason.kind}|${upstream}`)) {
      this.options.logger.warn({ upstream, service: request.service, reason: reason.kind }, reason.message);
    }
  }

  private answerError(downstream: Downstream, requestId: bigint, status: number, message: string): void {
    downstream.write(encodeResponse({ requestId, status, errorMessage: message }));
  }

  private sweep(): void {
    const now = performance.now();
    this.clockMs = Date.now();
    for (const pool of this.pools.values()) {
      for (const connection of pool) {
        connection.expire(now);
        connection.keepAlive(now);
      }
    }
  }
}

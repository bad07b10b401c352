// The bridge's HTTP listener for Spring Cloud callers. A caller names the service by its Eureka app
// name (the Host header's first label, or the first path segment); the request head is parsed with
// Node's parser, rewritten with X-Forwarded-* and sent to an instance of the legacy or mesh set over
// a keep-alive pool; bodies stream through in both directions and are never buffered whole. Errors
// the bridge makes are JSON: 400 for a malformed request, 502/503/504 naming the cause.
import { outlierSet } from '../router/outlier-detector';
import { Server, Socket } from 'node:net';
// Imported, not the globals: Node defines those globals as accessors, which optimised code reads
// through a global load IC on every use (callgrind: about 230 instructions per performance.now()).
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Stack } from '../../catalog';
import type { Logger } from '../../telemetry/logger';
import { LogOnce } from '../../telemetry/logger';
import { Registry, counter, gauge } from '../../telemetry/metrics';
import { BridgeRefusal, FAILURE_LABEL_NAMES, Outcome, failureLabels, httpStatusFor } from '../failure-class';
import { httpFallbackResponse } from './fallback-reply';
import type { ProxyRequest } from '../filters/filter';
import type { FilterChain } from '../filters/filter-chain';
import { PendingCounts } from '../router/pending-counts';
import { RouteChoice, ServiceRoutes } from '../router/service-routes';
import type { ConnectionGate, RetryGate } from '../router/upstream-caps';
import { closeSockets, listenOn, listeningAddress, stopAccepting, waitWhileBusy } from '../../bridge/socket-lifecycle';
import { TrafficStats } from '../../bridge/stats/traffic-stats';
import { HTTPParser, HttpParseError, HttpParser, MAX_HEADER_SIZE, METHODS, assertParserWorks } from './http-parser';
import { HttpUpstream, UpstreamFailure, UpstreamSink, coarseClock } from './http-upstream';
import type { HttpMirrorCall, HttpMirrorHook } from '../mirror/http-mirror';
import { READ_BUFFER, keep, readIntoShared, readView } from './read-buffer';
import { PLAIN_HEADS, closeGaps, newPlainHead, scanPlainRequest } from './plain-head';
import { ResponseFraming, isHopByHop, finalResponseHead, interimResponseHead, switchingProtocolsHead } from './response-head';
import { SlotSet, Slotted } from '../slot-set';
import { DirectWriter } from '../direct-write';

export type HttpRouteBy = 'host' | 'path';

export interface HttpServicePolicy {
  /** Header whose value keeps a caller on one stack. */
  stickyHeader?: string;
  /** Time allowed for the response head to arrive. */
  timeoutMs: number;
  /** Times a request of an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) is sent to another instance after its connection broke before any answer. Default 0. */
  retries?: number;
  /** Asked before sending a request to another instance (a retry budget); none: always allowed. */
  retryGate?: RetryGate;
  /** Asked before a request opens an upstream connection (caps on connections and pending requests). */
  connectionGate?: ConnectionGate;
}

export interface HttpListenerOptions {
  host: string;
  port: number;
  routes: ServiceRoutes;
  stats: TrafficStats;
  metrics: Registry;
  logger: Logger;
  /** `host`: the Host header's first label is the app name. `path`: the first path segment is, and is removed. */
  routeBy: HttpRouteBy;
  policy(service: string): HttpServicePolicy;
  /** Copies chosen requests to the other stack and compares the answers (the sidecar's shadow run). */
  mirror?: HttpMirrorHook;
  /** Time allowed to open a connection to an instance; past it the request goes to another. Default 1,000 ms. */
  connectTimeoutMs?: number;
  /** A caller's request head must arrive whole within this, from its first byte (slowloris). Default 10,000 ms. */
  headerTimeoutMs?: number;
  /** A request body may pause this long between reads. Default 30,000 ms. */
  bodyIdleTimeoutMs?: number;
  /** An idle keep-alive caller connection is closed after this. Default 60,000 ms. */
  keepAliveTimeoutMs?: number;
  /** An upstream that stops sending mid-response (while its caller reads) fails after this. Default 30,000 ms. */
  responseStallTimeoutMs?: number;
  /** An idle pooled upstream connection is closed after this. Default 4,000 ms (under Node's 5 s keep-alive). */
  upstreamIdleTimeoutMs?: number;
  /** Idle keep-alive connections kept per upstream address. */
  maxIdlePerUpstream?: number;
  /** Requests read ahead on one caller connection (pipelining); past it the caller is not read. Default 16. */
  maxPipelined?: number;
  /** Caller connections open at once; more are closed as they arrive. Default 10,000. */
  maxConnections?: number;
  /**
   * Peers (socket addresses) whose X-Forwarded-Proto and X-Forwarded-Host are kept: a TLS-ending load
   * balancer in front of the bridge. From anyone else they are replaced. Default: none.
   */
  trustedForwarders?: readonly string[];
  /** Bridges a request may already have crossed (x-mesh-bridge-hops); at this many it is refused 508. Default 8. */
  maxHops?: number;
  /** Filters every routed request goes through before the router; none by default (and then they cost nothing). */
  filters?: FilterChain;
  /** Every request goes to this service, whatever its Host or path names (a sidecar's inbound stack: the local app). */
  service?: string;
}

/** The header a caller may name its application in, for filters (unverified, as in Dubbo's `application` attachment). */
export const CALLER_APP_HEADER = 'x-caller-app';

/** What filters see of an HTTP request: built only when there are filters. */
export class HttpProxyRequest implements ProxyRequest {
  readonly protocol = 'http';
  readonly version = '';
  readonly group = '';

  constructor(
    readonly service: string,
    readonly method: string,
    readonly remoteAddress: string,
    private readonly fields: readonly string[],
  ) {}

  callerApp(): string | undefined {
    return this.attribute(CALLER_APP_HEADER);
  }

  /** A header by name, in any case (a rule may spell it X-Env). */
  attribute(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.fields.length; i += 2) if (this.fields[i].toLowerCase() === lower) return this.fields[i + 1];
    return undefined;
  }

  argument(): undefined {
    return undefined;
  }
}

/** Counts the bridges a request crossed, so a routing loop between bridges is cut. */
export const HOPS_HEADER = 'x-mesh-bridge-hops';

/** Methods a request may be sent again for when a reused connection broke before any answer (RFC 9110 9.2.2). */
/**
 * By name length: 1 where a request header may be Host, Content-Length or hop-by-hop (response-head.ts),
 * the names the head is rebuilt around; X- headers are told by their first letter.
 */
const REQUEST_NEEDS_A_LOOK: Readonly<Record<number, 1>> = { 2: 1, 4: 1, 7: 1, 10: 1, 14: 1, 16: 1, 17: 1, 18: 1, 19: 1 };
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** What a caller connection is reading, for its timeouts. */
const enum Phase {
  Idle = 0,
  Head = 1,
  Body = 2,
}

/** A response head goes out in one write with its body's first bytes when they are at most this long. */
const JOIN_HEAD_BYTES = 16 * 1024;

/**
 * Buffer methods called through these, not looked up on each buffer: optimised code here reads a
 * method of a Buffer through a load IC call on every use (about 170 instructions; callgrind).
 */
const writeString = Buffer.prototype.write;
/** What the last plain request said (one read at a time on this thread: one object serves them all). */
const PLAIN_REQUEST = newPlainHead();

/** A head as text (the mirror copies text; a plain request's head is bytes). */
function headText(head: string | Buffer): string {
  return typeof head === 'string' ? head : head.toString('latin1');
}
const copyBytes = Uint8Array.prototype.set;

/** Response bytes held for a pipelined exchange that must wait its turn, before its upstream is paused. */
const HELD_BYTES_LIMIT = 64 * 1024;

/** Why a caller connection is not being read (a bit each; reading resumes when none is left). */
const enum Hold {
  /** As many requests as `maxPipelined` are waiting for answers. */
  Pipeline = 1,
  /** The upstream is not taking the request body (or tunnel bytes) as fast as the caller sends it. */
  UpstreamFull = 2,
  /** An upgrade request waits for the upstream's answer. */
  Upgrading = 4,
  /** The connection is being closed (a timeout): never read again. */
  Closing = 8,
}


const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  508: 'Loop Detected',
};

function jsonResponse(status: number, code: string, message: string, extra: Record<string, unknown> = {}, close = false): Buffer {
  const body = JSON.stringify({ error: { code, message, ...extra } });
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `${close ? 'connection: close\r\n' : ''}x-mesh-bridge-error: ${code}\r\n\r\n${body}`,
  );
}

/** One request and its response, in the order the caller sent them. */
class Exchange implements UpstreamSink, ResponseFraming, Slotted {
  /** Its place among the listener's exchanges in flight (-1: not in flight). */
  slot = -1;
  upstream: HttpUpstream | null = null;
  service = '';
  stack: Stack = 'legacy';
  address = '';

  /** `host:port (stack)` for messages; built only when one is needed. */
  get upstreamLabel(): string {
    return `${this.address} (${this.stack})`;
  }
  chunkedRequest = false;
  requestDone = false;
  responseStarted = false;
  done = false;
  /** The caller's connection closes after this response. */
  closeAfter = false;
  /** The caller spoke HTTP/1.0: no chunked bodies, no interim responses. */
  http10 = false;
  /** The response body goes to the caller chunked (see response-head.ts). */
  rechunk = false;
  /** The final response's Content-Length when that frames its body, else -1 (see response-head.ts). */
  contentLength = -1;
  /** The final response's head, held until its body's first bytes (or its end) to go out with them. */
  private pendingHead: string | null = null;
  deadline = 0;
  status = 0;
  /** The head as sent upstream, kept to send again when a connection could not be made (bytes for a plain request). */
  head: string | Buffer = '';
  sticky: string | undefined;
  upgrade = false;
  attempts = 0;
  tried: Set<string> | undefined;
  /** Where the request went last, to send it again on a fresh connection when a reused one was stale. */
  choice: RouteChoice | null = null;
  staleRetried = false;
  /** Request body bytes written upstream: once there are any, the request cannot be sent again. */
  bodyBytes = 0;
  /** After a 101: the exchange left the queue and its connection carries the upgraded protocol. */
  tunnelled = false;
  /** Routed (sent upstream or answered): a pipelined request waits unrouted until its turn. */
  routed = false;
  /** False while filters decide on the request: it is not routed before they let it go. */
  cleared = true;
  /** The request as filters saw it, for their onComplete; null without filters. */
  proxyRequest: ProxyRequest | null = null;
  /** Body bytes read before the request was routed (at most one read's worth: the caller is held). */
  pendingBody: Buffer[] | null = null;
  /** Set when the mirror copied this request: it is told the body and the real answer. */
  shadow: HttpMirrorCall | undefined = undefined;
  /** Response bytes held while an earlier exchange on the same connection is still answering. */
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  /** Inside one upstream read (cork() .. uncork()): its first write waits here, the caller's socket is corked from the second. */
  private batching = false;
  private firstWrite: Buffer | string | null = null;
  private corked = false;

  constructor(
    readonly downstream: Downstream,
    readonly startedAt: number,
    readonly method: string,
  ) {}

  get skipResponseBody(): boolean {
    return this.method === 'HEAD';
  }

  get isHead(): boolean {
    return this.downstream.queue[0] === this;
  }

  /**
   * The upstream's own head can go to this caller as it is (hop-by-hop lines cut): unless the caller
   * reads HTTP/1.0, asked for HEAD, or its connection closes after this response (the head must say
   * so), and unless a mirror or an upgrade needs the fields.
   */
  get takesPlainHead(): boolean {
    return PLAIN_HEADS && !this.http10 && !this.closeAfter && !this.upgrade && this.shadow === undefined && this.method !== 'HEAD';
  }

  onPlainResponse(statusCode: number, from: number, to: number): void {
    this.responseStarted = true;
    this.status = statusCode;
    // A copy: the bytes are the shared read buffer's, and a write may keep them.
    const copy = Buffer.allocUnsafe(to - from);
    copyBytes.call(copy, readView(from, to), 0);
    this.emit(copy);
  }

  /**
   * Sends response bytes now if this exchange is at the head of the connection, else holds them.
   * Either way the upstream stops being read once the caller's buffer (or the held bytes) is full.
   */
  emit(bytes: Buffer | string): void {
    if (this.tunnelled || this.isHead) {
      if (this.batching) {
        // Within one upstream read: a lone write goes out as it is, two or more as one (corked).
        if (!this.corked) {
          const first = this.firstWrite;
          if (first === null) {
            this.firstWrite = bytes;
            return;
          }
          this.firstWrite = null;
          this.corked = true;
          this.downstream.socket.cork();
          this.write(first);
        }
      }
      this.write(bytes);
    } else {
      (this.held ??= []).push(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
      this.heldBytes += bytes.length;
      if (this.heldBytes > HELD_BYTES_LIMIT) this.upstream?.pauseReading();
    }
  }

  private write(bytes: Buffer | string): void {
    if (!this.downstream.writer.write(bytes)) this.upstream?.pauseReading();
  }

  /** The exchange's turn came: what it held goes out, and its upstream is read again if the caller can take it. */
  flushHeld(): void {
    const writer = this.downstream.writer;
    if (this.held !== null) {
      for (const bytes of this.held) writer.write(bytes);
      this.held = null;
      this.heldBytes = 0;
    }
    if (!writer.needsDrain) this.upstream?.resumeReading();
  }

  onResponseHead(statusCode: number, statusMessage: string, fields: string[]): void {
    if (statusCode === 101) this.emit(switchingProtocolsHead(statusMessage, fields));
    else if (statusCode < 200) {
      const head = interimResponseHead(statusCode, statusMessage, fields, this.http10);
      if (head !== '') this.emit(head);
    } else {
      this.responseStarted = true;
      this.status = statusCode;
      this.shadow?.primaryHead(statusCode, fields);
      // An upstream's Connection: close is about its own connection, not the caller's. The head
      // waits for the body's first bytes, to go out with them in one write.
      this.pendingHead = finalResponseHead(this, statusCode, statusMessage, fields, this.skipResponseBody, this.http10);
    }
  }

  onResponseBody(bytes: Buffer): void {
    this.shadow?.primaryBody(bytes);
    const head = this.pendingHead;
    if (head !== null) {
      this.pendingHead = null;
      if (!this.rechunk && bytes.length <= JOIN_HEAD_BYTES) {
        const joined = Buffer.allocUnsafe(head.length + bytes.length);
        writeString.call(joined, head, 0, 'latin1');
        copyBytes.call(joined, bytes, head.length);
        this.emit(joined);
        return;
      }
      this.emit(head);
    }
    // A copy: the bytes may be a view of the upstreams' shared read buffer, and a write may keep them.
    if (this.rechunk) {
      this.emit(`${bytes.length.toString(16)}\r\n`);
      this.emit(keep(bytes));
      this.emit('\r\n');
    } else this.emit(keep(bytes));
  }

  onResponseBytes(bytes: Buffer): void {
    this.responseStarted = true;
    this.emit(keep(bytes));
  }

  onResponseEnd(): void {
    if (this.pendingHead !== null) {
      this.emit(this.pendingHead);
      this.pendingHead = null;
    }
    if (this.rechunk) this.emit('0\r\n\r\n');
    // Written before the queue moves on: the next exchange's held bytes must follow this one's.
    this.flushFirstWrite();
    this.downstream.listener.exchangeEnded(this);
  }

  cork(): void {
    this.batching = true;
  }

  uncork(): void {
    this.batching = false;
    this.flushFirstWrite();
    if (this.corked) {
      this.corked = false;
      this.downstream.socket.uncork();
    }
  }

  private flushFirstWrite(): void {
    const first = this.firstWrite;
    if (first !== null) {
      this.firstWrite = null;
      this.write(first);
    }
  }

  onUpstreamError(message: string, outcome: UpstreamFailure, staleReuse: boolean): void {
    if (this.downstream.tunnel === this.upstream && this.done) {
      // The tunnel's far end went away: so does the caller's side.
      this.downstream.socket.end();
      return;
    }
    this.downstream.listener.upstreamFailed(this, message, outcome, staleReuse);
  }

  onTunnelOpen(): void {
    if (!this.done) this.downstream.listener.tunnelOpened(this);
  }
}

/** One caller connection. */
class Downstream {
  readonly parser: HttpParser;
  readonly queue: Exchange[] = [];
  /** The exchange whose request is being read. */
  current: Exchange | null = null;
  closed = false;
  /** Header fields delivered in pieces when a head spans several reads. */
  partialHeaders: string[] = [];
  partialUrl = '';
  /** Set once the upstream answered an upgrade request 101: the caller's bytes go to it unparsed. */
  tunnel: HttpUpstream | null = null;
  /**
   * An upgrade request waiting for the upstream's answer: the caller is not read meanwhile, and the
   * bytes that followed its head in the same read wait here (at most one read's worth).
   */
  upgrading: Exchange | null = null;
  afterUpgrade: Buffer | null = null;
  /** Reasons the caller is not read (Hold bits). */
  private holds = 0;
  /** Set while waiting pipelined requests are being routed, so a local answer does not start it again. */
  routing = false;
  /** What is being read, since when, and when the connection last did anything (coarse clock). */
  phase = Phase.Idle;
  phaseSince = 0;
  lastActiveAt = coarseClock.now;
  /** Since when the caller has not taken what was written to it (0: it has); coarse clock. */
  notReadingSince = 0;
  /** Bytes handed to the kernel for this caller when its connection was last looked at. */
  dispatchedAtLastLook = 0;
  /** Writes answers to the caller (direct-write.ts). */
  readonly writer: DirectWriter;

  /** The caller's address, read once (X-Forwarded-For, trusted forwarders). */
  readonly client: string;
  /** `address:port` of the caller, made once: filters see it on every request (one string, hashed once). */
  readonly remote: string;
  /** The lines a plain request's head ends with, for the last Host (see HttpListener.plainRequestHead); null after it changed. */
  plainTail: Buffer | null = null;
  /** The last Host a plain request named, and its bytes: a caller names the same one request after request. */
  private lastHost = '';
  private lastHostBytes: Buffer | null = null;

  /** The Host value `READ_BUFFER[from, to)` as text, without making a string when it is the last one's. */
  plainHost(from: number, to: number): string {
    const last = this.lastHostBytes;
    if (last !== null && last.length === to - from) {
      let i = 0;
      while (i < last.length && last[i] === READ_BUFFER[from + i]) i++;
      if (i === last.length) return this.lastHost;
    }
    const host = READ_BUFFER.toString('latin1', from, to);
    this.lastHost = host;
    this.lastHostBytes = Buffer.from(host, 'latin1');
    this.plainTail = null;
    return host;
  }

  constructor(
    readonly listener: HttpListener,
    readonly socket: Socket,
  ) {
    this.client = socket.remoteAddress ?? '';
    this.remote = `${this.client}:${socket.remotePort}`;
    this.writer = new DirectWriter(socket);
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE);
  }

  hold(reason: Hold): void {
    if (this.holds === 0) this.socket.pause();
    this.holds |= reason;
  }

  /** True while the bridge itself is not reading the caller: its silence then is not its own. */
  get held(): boolean {
    return this.holds !== 0;
  }

  letGo(reason: Hold): void {
    if ((this.holds & reason) === 0) return;
    this.holds &= ~reason;
    if (this.holds === 0 && !this.closed) {
      // Time spent held was the bridge's: the caller's timeouts count from now.
      this.phaseSince = this.lastActiveAt = coarseClock.now;
      this.socket.resume();
    }
  }

  /** Sets Phase.Head where the parser says a message begins (see HttpListener.onData). */
  headBegins: (() => void) | null = null;
  private watchingBegins = false;
  /** The parser's message-complete callback; muted after a head with no body, which ended its request itself. */
  requestEnds: (() => void) | null = null;
  private completeMuted = false;
  /** Set while a head is read: no Transfer-Encoding, no Content-Length above 0, no upgrade. */
  bodylessHead = false;

  watchBegins(on: boolean): void {
    if (this.watchingBegins === on) return;
    this.watchingBegins = on;
    this.parser[HTTPParser.kOnMessageBegin] = on ? this.headBegins : null;
  }

  muteComplete(on: boolean): void {
    if (this.completeMuted === on) return;
    this.completeMuted = on;
    this.parser[HTTPParser.kOnMessageComplete] = on ? null : this.requestEnds;
  }

  /** The upstream that filled up took its bytes: read the caller again. */
  upstreamDrained(): void {
    this.letGo(Hold.UpstreamFull);
  }

  /** Writes request (or tunnel) bytes upstream; the caller waits while the upstream's buffer is full. */
  sendUpstream(upstream: HttpUpstream, bytes: Buffer | string): void {
    if (!upstream.write(bytes)) {
      upstream.drainWaiter = this;
      this.hold(Hold.UpstreamFull);
    }
  }
}

const SWEEP_MS = 50;
/** Caller timeouts and idle pools are checked every this many sweeps (250 ms). */
const CALLER_SWEEP_EVERY = 5;
/** Other instances tried for a request whose connection could not be made. */
const NEVER_DELIVERED_RETRIES = 2;

export class HttpListener {
  private server: Server | null = null;
  private readonly downstreams = new Set<Downstream>();
  private readonly idle = new Map<string, HttpUpstream[]>();
  private readonly pending = new PendingCounts();
  /** Exchanges sent upstream and not yet ended (a SlotSet: see slot-set.ts for why not a Set). */
  private readonly inFlight = new SlotSet<Exchange>();
  private readonly serviceByName = new Map<string, string>();
  /**
   * The last name looked up there and its spelling: most connections name one service, and each
   * request's name is a new string, hashed anew by a map lookup, where comparing it is cheaper.
   */
  private lastName = '';
  private lastSpelling = '';
  private readonly outlierSets = new Map<string, Record<Stack, string>>();
  private readonly logOnce = new LogOnce();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepImmediate: NodeJS.Immediate | null = null;
  /** Wall clock for the traffic windows, refreshed by the sweep: one Date.now() per 50 ms, not per request. */
  private clockMs = Date.now();
  private draining = false;
  private readonly maxIdlePerUpstream: number;
  private readonly maxPipelined: number;
  private readonly maxConnections: number;
  private readonly connectTimeoutMs: number;
  private readonly headerTimeoutMs: number;
  private readonly bodyIdleTimeoutMs: number;
  private readonly keepAliveTimeoutMs: number;
  private readonly responseStallTimeoutMs: number;
  private readonly upstreamIdleTimeoutMs: number;
  private readonly trustedForwarders: ReadonlySet<string>;
  private readonly maxHops: number;
  /** Null without a chain; an empty chain is skipped per request (a length check). */
  private readonly filters: FilterChain | null;
  private sweeps = 0;
  private readonly metrics: {
    connections: { inc(): void; dec(): void };
    badRequests: { inc(): void };
    failures: { inc(labels: { reason: string }): void };
    tunnels: { inc(): void };
    ejections: { inc(): void };
    retries: { inc(): void };
    outOfStep: { inc(): void };
    refusedConnections: { inc(): void };
    acceptErrors: { inc(labels: { code: string }): void };
    callerTimeouts: { inc(labels: { phase: string }): void };
  };

  constructor(private readonly options: HttpListenerOptions) {
    assertParserWorks();
    this.maxIdlePerUpstream = options.maxIdlePerUpstream ?? 64;
    this.maxPipelined = Math.max(1, options.maxPipelined ?? 16);
    this.maxConnections = options.maxConnections ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    this.headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
    this.bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? 30_000;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 60_000;
    this.responseStallTimeoutMs = options.responseStallTimeoutMs ?? 30_000;
    this.upstreamIdleTimeoutMs = options.upstreamIdleTimeoutMs ?? 4000;
    this.trustedForwarders = new Set(options.trustedForwarders ?? []);
    this.maxHops = options.maxHops ?? 8;
    // Kept even while empty: a sidecar's chain is swapped on reload; an empty one costs a length check per request.
    this.filters = options.filters ?? null;
    const m = options.metrics;
    this.metrics = {
      connections: gauge(m, 'mesh_bridge_http_client_connections', 'Caller connections open on the HTTP listener'),
      badRequests: counter(m, 'mesh_bridge_http_bad_requests_total', 'Malformed HTTP requests answered 400'),
      failures: counter(m, 'mesh_bridge_http_upstream_failures_total', 'HTTP requests that did not end ok, by failure class (and the kind of a bridge_refusal)', FAILURE_LABEL_NAMES),
      retries: counter(m, 'mesh_bridge_http_retries_total', 'Requests sent again: to another instance when a connection could not be made, or on a fresh connection when a reused one was stale'),
      outOfStep: counter(m, 'mesh_bridge_http_upstream_out_of_step_total', 'Upstream connections closed for sending bytes past the end of a response (never passed on)'),
      refusedConnections: counter(m, 'mesh_bridge_http_refused_connections_total', 'Caller connections closed on arrival because maxConnections were open'),
      acceptErrors: counter(m, 'mesh_bridge_http_accept_errors_total', 'Connections the HTTP listener could not accept (EMFILE: out of file descriptors), by code', ['code']),
      callerTimeouts: counter(m, 'mesh_bridge_http_caller_timeouts_total', 'Caller connections closed for a timeout: header, body, idle (keep-alive) or not_reading (answers not taken)', ['phase']),
      tunnels: counter(m, 'mesh_bridge_http_upgrades_total', 'Protocol upgrades (WebSocket) the bridge tunnels to an upstream'),
      ejections: counter(m, 'mesh_bridge_outlier_ejections_total', 'Upstream instances left out of routing for a while after repeated connection failures', ['protocol']).labels({ protocol: 'http' }),
    };
  }

  /** Requests in flight to one instance address, for the least-pending choice. */
  readonly pendingOf = this.pending.of;

  get address(): { host: string; port: number } {
    return listeningAddress(this.server, 'HTTP');
  }

  async start(): Promise<void> {
    this.server = await listenOn(this.options.host, this.options.port, (socket) => this.accept(socket));
    // Accept errors (EMFILE, ENFILE when descriptors run out) are counted; the listener keeps going.
    this.server.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === 'EMFILE' || err.code === 'ENFILE' ? err.code : 'other';
      this.metrics.acceptErrors.inc({ code });
      if (this.logOnce.first(`accept|${code}`)) this.options.logger.warn({ code: err.code }, `the HTTP listener could not accept a connection: ${err.message}`);
    });
    this.sweepTimer = setInterval(() => this.sweepSoon(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Stops accepting, lets exchanges in flight finish until the deadline, then closes everything. */
  async stop(deadlineMs = 5000): Promise<void> {
    this.draining = true;
    const closed = stopAccepting(this.server);
    // Idle callers are closed now; busy ones after their last response.
    for (const downstream of this.downstreams) if (downstream.queue.length === 0) downstream.socket.end();
    await waitWhileBusy(() => this.inFlight.size > 0, deadlineMs);
    await closeSockets(this.downstreams);
    for (const pool of this.idle.values()) for (const upstream of pool) upstream.destroy();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.sweepImmediate !== null) clearImmediate(this.sweepImmediate);
    await closed;
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    if (this.downstreams.size >= this.maxConnections) {
      this.metrics.refusedConnections.inc();
      socket.destroy();
      return;
    }
    const downstream = new Downstream(this, socket);
    const parser = downstream.parser;
    // Installed only when a head may begin mid-read (see onData): most heads begin a read.
    downstream.headBegins = () => {
      downstream.phase = Phase.Head;
      downstream.phaseSince = coarseClock.now;
      downstream.muteComplete(false); // this message's end is the parser's to tell
    };
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      downstream.partialHeaders.push(...headers);
      downstream.partialUrl += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: unknown,
      _message: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      const fields = headers ?? downstream.partialHeaders;
      const target = url ?? downstream.partialUrl;
      if (headers === undefined) downstream.partialHeaders = [];
      downstream.partialUrl = '';
      downstream.phase = Phase.Body;
      downstream.bodylessHead = false;
      this.onRequestHead(downstream, major, minor, fields, METHODS[method], target, upgrade, keepAlive);
      if (downstream.bodylessHead) {
        // No body follows: the request ends here, and the parser's "complete" for it is not needed
        // (it is back for the next message: see Downstream.watchBegins).
        this.onRequestEnd(downstream);
        downstream.muteComplete(true);
      }
      return 0;
    };
    parser[HTTPParser.kOnBody] = (body: Buffer) => this.onRequestBody(downstream, body);
    downstream.requestEnds = () => this.onRequestEnd(downstream);
    parser[HTTPParser.kOnMessageComplete] = downstream.requestEnds;
    this.downstreams.add(downstream);
    this.metrics.connections.inc();
    // Read into the shared buffer where this Node allows it; else through 'data' events.
    const read = (length: number): boolean => {
      this.onSharedRead(downstream, length);
      return true;
    };
    if (!readIntoShared(socket, read)) socket.on('data', (chunk: Buffer) => this.onData(downstream, chunk));
    socket.on('drain', () => this.callerDrained(downstream));
    socket.on('error', () => undefined);
    socket.on('close', () => this.callerClosed(downstream));
  }

  /**
   * The caller's connection closed. Its exchanges still in flight end as caller_gone: their upstream
   * connections are detached and closed (they cannot be reused mid-response) and never blamed.
   */
  private callerClosed(downstream: Downstream): void {
    downstream.closed = true;
    downstream.parser.close();
    this.downstreams.delete(downstream);
    this.metrics.connections.dec();
    downstream.tunnel?.destroy();
    for (const exchange of downstream.queue) this.abandon(exchange);
    downstream.queue.length = 0;
  }

  /** An exchange whose caller went (or was sent) away: ended as caller_gone, never blamed on the upstream. */
  private abandon(exchange: Exchange): void {
    if (exchange.done) return;
    exchange.done = true;
    const upstream = exchange.upstream;
    // Held by a filter or waiting its turn: never sent, but the filters that saw it hear it ended.
    if (upstream === null || !this.inFlight.has(exchange)) return this.endFilters(exchange, 'caller_gone');
    upstream.detach();
    upstream.destroy();
    this.release(exchange);
    this.metrics.failures.inc(failureLabels('caller_gone'));
    this.record(exchange, 'caller_gone');
  }

  /**
   * `READ_BUFFER[0, length)` was read from a caller. Plain requests at its start skip the parser
   * (plain-head.ts), and no view of the buffer is made for them; the parser reads what follows.
   */
  private onSharedRead(downstream: Downstream, length: number): void {
    let at = 0;
    if (downstream.phase === Phase.Idle && downstream.tunnel === null && this.plainRequests) {
      while (at < length && downstream.phase === Phase.Idle && !downstream.closed) {
        const end = scanPlainRequest(at, length, PLAIN_REQUEST);
        if (end < 0 || !this.onPlainRequest(downstream, at, end)) break;
        at = end;
      }
      if (at === length || downstream.closed) {
        downstream.lastActiveAt = coarseClock.now;
        return;
      }
    }
    this.onData(downstream, READ_BUFFER.subarray(at, length));
  }

  private onData(downstream: Downstream, chunk: Buffer): void {
    downstream.lastActiveAt = coarseClock.now;
    if (downstream.tunnel !== null) {
      downstream.sendUpstream(downstream.tunnel, keep(chunk)); // a copy: the chunk is the shared read buffer's
      return;
    }
    // A read that arrives while idle starts a head (the header timeout counts from its first
    // byte). Where else a head may begin, after a request ended in this read or after empty lines,
    // the parser says so through its begin callback, installed only then.
    if (downstream.phase === Phase.Idle) {
      const first = chunk[0];
      if (first === 13 || first === 10) downstream.watchBegins(true);
      else {
        downstream.phase = Phase.Head;
        downstream.phaseSince = coarseClock.now;
      }
    }
    const result = downstream.parser.execute(chunk);
    downstream.watchBegins(false);
    downstream.muteComplete(false);
    // The parser's callbacks may have set it: an upgrade request's head was just read. Nothing more
    // of this caller is read or sent upstream before the upstream has agreed (101): what followed
    // the head waits, and belongs to the new protocol if it agrees.
    if (typeof result === 'number' && downstream.upgrading !== null) {
      if (result < chunk.length) downstream.afterUpgrade = keep(chunk.subarray(result));
      downstream.hold(Hold.Upgrading);
      return;
    }
    // Not `instanceof Error`: the parser's errors come from Node's realm, not always the caller's (jest).
    if (typeof result !== 'number') {
      const err = result as HttpParseError;
      this.metrics.badRequests.inc();
      const remote = downstream.remote;
      if (this.logOnce.first(`bad-request|${remote}`)) {
        this.options.logger.warn({ remote, code: err.code }, `malformed HTTP request from ${remote}: ${err.reason ?? err.message}`);
      }
      const answer = jsonResponse(400, 'HTTP_BAD_REQUEST', `malformed HTTP request: ${err.reason ?? err.message}`, { parserCode: err.code }, true);
      if (downstream.queue.length === 0) downstream.socket.end(answer);
      else downstream.socket.destroy();
    }
  }

  /**
   * A plain request (scanPlainRequest filled PLAIN_REQUEST): routed as onRequestHead would route it,
   * its head built from the caller's own lines. False, with nothing done, when it needs what only
   * the parser's path has (a sticky or label route reads the fields; no service is answered there).
   */
  private onPlainRequest(downstream: Downstream, start: number, end: number): boolean {
    const plain = PLAIN_REQUEST;
    const host = downstream.plainHost(plain.hostStart, plain.hostEnd);
    // Routed by Host, the target goes on as it came: the request line is copied with the header lines.
    const byHost = this.options.service === undefined && this.options.routeBy !== 'path';
    let service: string;
    let line = '';
    if (byHost) service = this.hostService(host);
    else {
      const routed = this.serviceOf(host, READ_BUFFER.toString('latin1', plain.targetStart, plain.targetEnd));
      service = routed.service;
      line = `${plain.method} ${routed.path} HTTP/1.1\r\n`;
    }
    if (service === '') return false;
    const policy = this.options.policy(service);
    if (policy.stickyHeader !== undefined || this.options.routes.hasLabelRoutes(service)) return false;
    const exchange = new Exchange(downstream, performance.now(), plain.method);
    downstream.queue.push(exchange);
    if (downstream.queue.length >= this.maxPipelined) downstream.hold(Hold.Pipeline);
    if (plain.close || this.draining) exchange.closeAfter = true;
    exchange.service = service;
    exchange.deadline = policy.timeoutMs;
    const from = closeGaps(byHost ? start : plain.headersStart, plain);
    exchange.head = this.plainRequestHead(downstream, line, from, end - 2, host);
    if (downstream.queue.length <= this.maxPipelined) this.route(exchange, exchange.startedAt);
    // No body: the request ended with its head (as onRequestEnd has it).
    exchange.requestDone = true;
    return true;
  }

  /**
   * The head a plain request goes upstream with: what onRequestHead builds for a request without
   * X-Forwarded-* or hops headers. `line` (the request line, '' when it is among the bytes), then
   * the caller's lines `READ_BUFFER[from, to)` as they came, then the forwarding headers.
   */
  private plainRequestHead(downstream: Downstream, line: string, from: number, to: number, host: string): Buffer {
    const tail = (downstream.plainTail ??= Buffer.from(
      `x-forwarded-for: ${downstream.client}\r\nx-forwarded-proto: http\r\n${HOPS_HEADER}: 1\r\nx-forwarded-host: ${host}\r\nconnection: keep-alive\r\n\r\n`,
      'latin1',
    ));
    const head = Buffer.allocUnsafe(line.length + (to - from) + tail.length);
    if (line !== '') writeString.call(head, line, 0, 'latin1');
    copyBytes.call(head, readView(from, to), line.length);
    copyBytes.call(head, tail, line.length + (to - from));
    return head;
  }

  /** Requests may skip the parser: nothing on this listener reads their fields (filters, a mirror). */
  private get plainRequests(): boolean {
    return PLAIN_HEADS && (this.filters === null || this.filters.empty) && this.options.mirror === undefined && this.maxHops > 0;
  }

  /** The service a request names; '' when it names none. */
  private serviceOf(host: string, target: string): { service: string; path: string } {
    if (this.options.service !== undefined) return { service: this.options.service, path: target };
    if (this.options.routeBy === 'path') {
      const end = target.indexOf('/', 1);
      const query = target.indexOf('?');
      const stop = end < 0 ? (query < 0 ? target.length : query) : query >= 0 && query < end ? query : end;
      const name = target.slice(1, stop);
      const rest = target.slice(stop);
      return { service: this.knownService(name), path: rest === '' || rest[0] === '?' ? '/' + rest : rest };
    }
    return { service: this.hostService(host), path: target };
  }

  /** The service a Host header names: its first label. */
  private hostService(host: string): string {
    const dot = host.indexOf('.');
    const colon = host.indexOf(':');
    const end = dot >= 0 ? dot : colon >= 0 ? colon : host.length;
    return this.knownService(host.slice(0, end));
  }

  /** Maps a name from a request to the catalog's spelling (Eureka keeps app names upper case). */
  private knownService(name: string): string {
    if (name === '') return '';
    if (name === this.lastName) return this.lastSpelling;
    let known = this.serviceByName.get(name);
    if (known === undefined) {
      for (const spelling of [name, name.toUpperCase()]) {
        const set = this.options.routes.routeSet(spelling, '', '');
        if (set.legacy.length + set.mesh.length === 0) continue;
        if (this.serviceByName.size > 10_000) this.serviceByName.clear();
        this.serviceByName.set(name, spelling);
        known = spelling;
        break;
      }
    }
    if (known !== undefined) {
      this.lastName = name;
      this.lastSpelling = known;
      return known;
    }
    return name; // unknown: not remembered, it may appear later
  }

  private onRequestHead(
    downstream: Downstream,
    major: number,
    minor: number,
    fields: string[],
    method: string,
    target: string,
    upgrade: boolean,
    keepAlive: boolean,
  ): void {
    const exchange = new Exchange(downstream, performance.now(), method);
    downstream.queue.push(exchange);
    downstream.current = exchange;
    // Pipelining: past the cap the caller is not read until answers go out (the rest of this read
    // is parsed, and those requests wait unrouted).
    if (downstream.queue.length >= this.maxPipelined) downstream.hold(Hold.Pipeline);
    if (!keepAlive || this.draining) exchange.closeAfter = true;
    if (major === 1 && minor === 0) exchange.http10 = true;
    // A protocol upgrade (WebSocket) gets a connection of its own, piped both ways after the 101;
    // until then the caller is not read, and if the upgrade is refused its connection closes.
    if (upgrade) {
      exchange.closeAfter = true;
      exchange.upgrade = true;
      downstream.upgrading = exchange;
    }
    // One pass over the fields: each name is lower-cased once, and the head to send is built as we go.
    let host = '';
    let hosts = 0;
    let hops = 0;
    let forwardedFor = '';
    let forwardedProto = '';
    let forwardedHost = '';
    let transferEncoding = '';
    let headers = '';
    let declaresBody = false;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      // Most names (User-Agent, Accept ...) can be none of those looked at below: passed on as they are.
      if (!REQUEST_NEEDS_A_LOOK[name.length] && (name.charCodeAt(0) | 0x20) !== 0x78 /* x */) {
        headers += `${name}: ${value}\r\n`;
        continue;
      }
      const lower = name.toLowerCase();
      if (lower === 'host') {
        host = value;
        hosts++;
      } else if (lower.startsWith('x-')) {
        if (lower === 'x-forwarded-for') forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
        else if (lower === 'x-forwarded-proto') forwardedProto = value;
        else if (lower === 'x-forwarded-host') forwardedHost = value;
        else if (lower === HOPS_HEADER) hops = Number.parseInt(value, 10) || 0;
        else headers += `${name}: ${value}\r\n`;
        continue;
      } else if (isHopByHop(lower)) {
        if (lower === 'transfer-encoding') transferEncoding = transferEncoding === '' ? value : `${transferEncoding}, ${value}`;
        if (!(upgrade && lower === 'upgrade')) continue;
      } else if (lower === 'content-length' && Number(value) !== 0) declaresBody = true; // (unreadable: a body, to be safe)
      headers += `${name}: ${value}\r\n`;
    }
    downstream.bodylessHead = !declaresBody && transferEncoding === '' && !upgrade;
    // The parser accepts a request with a body only when chunked is its last coding; the others (gzip ...) stay.
    if (transferEncoding !== '') exchange.chunkedRequest = true;
    if (hosts > 1) {
      // Which one would the upstream believe? Refused rather than routed by one and read by the other.
      this.answerLocal(exchange, 'bad_request', 'HTTP_BAD_REQUEST', 'the request has more than one Host header');
      return;
    }
    if (hops >= this.maxHops) {
      this.answerLocal(exchange, 'loop', 'HTTP_LOOP_DETECTED', `the request already crossed ${hops} bridges (${HOPS_HEADER}): a routing loop?`);
      return;
    }
    const { service, path } = this.serviceOf(host, target);
    if (service === '') {
      this.answerLocal(exchange, 'bad_request', 'HTTP_NO_SERVICE', `the request names no service: use ${this.options.routeBy === 'host' ? 'a Host header whose first label is the app name' : 'a path starting /<app name>/'}`);
      return;
    }
    const policy = this.options.policy(service);
    let sticky: string | undefined;
    if (policy.stickyHeader !== undefined) {
      for (let i = 0; i < fields.length; i += 2) if (fields[i].toLowerCase() === policy.stickyHeader) sticky = fields[i + 1];
    }
    const client = downstream.client;
    // What a caller says about the scheme and host it used is believed only from a trusted hop.
    if (this.trustedForwarders.size === 0 || !this.trustedForwarders.has(client)) {
      forwardedProto = '';
      forwardedHost = '';
    }
    let head =
      `${method} ${path} HTTP/1.1\r\n${headers}` +
      `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ${client}` : client}\r\n` +
      `x-forwarded-proto: ${forwardedProto || 'http'}\r\n${HOPS_HEADER}: ${hops + 1}\r\n`;
    if (forwardedHost || host) head += `x-forwarded-host: ${forwardedHost || host}\r\n`;
    if (exchange.chunkedRequest) head += `transfer-encoding: ${transferEncoding}\r\n`;
    head += upgrade ? 'connection: upgrade\r\n\r\n' : 'connection: keep-alive\r\n\r\n';
    exchange.service = service;
    exchange.deadline = policy.timeoutMs;
    exchange.head = head;
    exchange.sticky = sticky;
    if (this.filters !== null && !this.filters.empty) this.filter(exchange, this.filters, `${method} ${path}`, fields);
    else {
      // Label routing reads the request's view too: built only for a service with route rules.
      if (this.options.routes.hasLabelRoutes(service)) exchange.proxyRequest = new HttpProxyRequest(service, `${method} ${path}`, downstream.remote, fields);
      if (downstream.queue.length <= this.maxPipelined) this.route(exchange, exchange.startedAt);
    }
  }

  /** Runs the filters on a request; it is routed (when its turn has come) once they let it go. */
  private filter(exchange: Exchange, filters: FilterChain, method: string, fields: string[]): void {
    exchange.cleared = false;
    const request = new HttpProxyRequest(exchange.service, method, exchange.downstream.remote, fields);
    exchange.proxyRequest = request;
    filters.run(request, this.clockMs, (reply) => {
      if (exchange.done) return this.endFilters(exchange, 'caller_gone'); // its caller went away while a filter held it
      exchange.cleared = true;
      if (reply !== undefined) {
        exchange.routed = true;
        exchange.pendingBody = null;
        this.metrics.failures.inc(failureLabels(reply.outcome, reply.refusal));
        this.endFilters(exchange, reply.outcome, reply.refusal);
        if (reply.answer !== undefined) return this.answerWith(exchange, httpFallbackResponse(reply.answer, reply.message, exchange.closeAfter, exchange.skipResponseBody));
        this.answer(exchange, reply.outcome, reply.refusal, `HTTP_${(reply.refusal ?? reply.outcome).toUpperCase()}`, reply.message, { service: exchange.service });
        return;
      }
      if (exchange.downstream.queue.indexOf(exchange) < this.maxPipelined) this.route(exchange);
    });
  }

  /** Picks an instance and sends the request, or answers 503 when there is none; `now`: the clock, when the caller has just read it. */
  private route(exchange: Exchange, now = performance.now()): void {
    exchange.routed = true;
    const view = exchange.proxyRequest ?? undefined;
    const choice = this.options.routes.choose(exchange.service, '', '', undefined, exchange.sticky, Math.random, undefined, view);
    if (choice === null) {
      exchange.pendingBody = null;
      const labels = view === undefined ? '' : this.options.routes.missDetail(exchange.service, view);
      this.answerLocal(exchange, 'no_instance', 'HTTP_NO_INSTANCE', `no legacy or mesh instance of ${exchange.service}${labels}`, { service: exchange.service });
      return;
    }
    // The policy's timeout (or its route rule's), until now; from now on the time it ends.
    exchange.deadline = (choice.timeoutMs ?? exchange.deadline) + now;
    const bodySoFar = exchange.pendingBody;
    this.dispatch(exchange, choice, false);
    // After the real request is on its way, so the copy follows it.
    if (this.options.mirror !== undefined && !exchange.upgrade) exchange.shadow = this.options.mirror.start(exchange.service, exchange.method, headText(exchange.head), choice.routedStack, bodySoFar, exchange.requestDone);
  }

  /** Routes the pipelined requests whose turn has come; reads the caller again once under the cap. */
  private routeWaiting(downstream: Downstream): void {
    if (downstream.routing) return;
    downstream.routing = true;
    const queue = downstream.queue;
    for (let i = 0; i < queue.length && i < this.maxPipelined; i++) {
      const exchange = queue[i];
      if (exchange.routed || !exchange.cleared) continue;
      this.route(exchange);
      i = -1; // a local answer may have moved the queue on: look again from its head
    }
    downstream.routing = false;
    if (queue.length < this.maxPipelined) downstream.letGo(Hold.Pipeline);
  }

  /** The caller's buffer drained: the upstream feeding it (the head exchange's, or the tunnel) is read again. */
  private callerDrained(downstream: Downstream): void {
    if (downstream.tunnel !== null) downstream.tunnel.resumeReading();
    else downstream.queue[0]?.upstream?.resumeReading();
  }

  /**
   * Sends an exchange's head, and what of its body was read, to the chosen instance (again, after a
   * connection that was never made, or on a `fresh` one after a stale keep-alive connection).
   */
  private dispatch(exchange: Exchange, choice: RouteChoice, fresh: boolean): void {
    const address = choice.candidate.address;
    const view = exchange.proxyRequest;
    const gate = view === null ? undefined : this.options.policy(exchange.service).connectionGate;
    const pooled = !(exchange.upgrade || fresh) && (this.idle.get(address)?.length ?? 0) > 0;
    const refused = gate === undefined || pooled ? undefined : gate.beforeConnect(view as ProxyRequest);
    if (refused !== undefined) {
      exchange.pendingBody = null;
      this.answerLocal(exchange, refused.refusal ?? 'overloaded', 'HTTP_UPSTREAM_CAP', refused.message, { service: exchange.service });
      return;
    }
    exchange.attempts++;
    exchange.stack = choice.routedStack;
    exchange.address = address;
    exchange.choice = choice;
    const { host: upstreamHost, port: upstreamPort } = choice.candidate.instance;
    // An upgrade gets a connection of its own that never returns to the pool, whatever the answer.
    const upstream = exchange.upgrade || fresh ? this.dedicatedUpstream(address, upstreamHost, upstreamPort) : this.upstreamFor(address, upstreamHost, upstreamPort);
    exchange.upstream = upstream;
    if (gate !== undefined && !upstream.connected) gate.connecting(view as ProxyRequest, () => !upstream.closed, () => !upstream.connected && !upstream.closed);
    upstream.attach(exchange);
    this.pending.add(address);
    this.inFlight.add(exchange);
    exchange.downstream.sendUpstream(upstream, exchange.head);
    const body = exchange.pendingBody;
    if (body !== null) {
      exchange.pendingBody = null;
      for (const bytes of body) this.sendBody(exchange, bytes);
    }
    if (exchange.requestDone && exchange.chunkedRequest) exchange.downstream.sendUpstream(upstream, '0\r\n\r\n');
  }

  private onRequestBody(downstream: Downstream, body: Buffer): void {
    const exchange = downstream.current;
    if (exchange === null) return;
    if (!exchange.routed) (exchange.pendingBody ??= []).push(body);
    else if (exchange.upstream !== null && !exchange.done) this.sendBody(exchange, body);
    exchange.shadow?.requestBody(body);
    // else: answered already, the body is dropped
  }

  private sendBody(exchange: Exchange, body: Buffer): void {
    const upstream = exchange.upstream as HttpUpstream;
    const downstream = exchange.downstream;
    exchange.bodyBytes += body.length;
    if (exchange.chunkedRequest) {
      upstream.write(`${body.length.toString(16)}\r\n`);
      upstream.write(body);
      downstream.sendUpstream(upstream, '\r\n');
    } else downstream.sendUpstream(upstream, body);
  }

  private onRequestEnd(downstream: Downstream): void {
    downstream.phase = Phase.Idle;
    downstream.watchBegins(true); // another request may begin in the same read
    const exchange = downstream.current;
    if (!exchange) return;
    exchange.requestDone = true;
    if (exchange.chunkedRequest && exchange.routed && exchange.upstream && !exchange.done) downstream.sendUpstream(exchange.upstream, '0\r\n\r\n');
    exchange.shadow?.requestEnd();
    downstream.current = null;
  }

  private upstreamFor(address: string, host: string, port: number): HttpUpstream {
    const pool = this.idle.get(address);
    while (pool && pool.length > 0) {
      const upstream = pool.pop() as HttpUpstream;
      if (!upstream.closed && upstream.reusable) return upstream;
    }
    return this.dedicatedUpstream(address, host, port);
  }

  /** A new connection, never taken from the pool (an upgrade's, or when none is idle). */
  private dedicatedUpstream(address: string, host: string, port: number): HttpUpstream {
    return new HttpUpstream(address, host, port, this.connectTimeoutMs, (closed) => {
      const idle = this.idle.get(address);
      const index = idle ? idle.indexOf(closed) : -1;
      if (idle && index >= 0) idle.splice(index, 1);
    });
  }

  /** @internal The upstream answered 101: the exchange is over, the connection is a tunnel now. */
  tunnelOpened(exchange: Exchange): void {
    this.release(exchange);
    this.metrics.tunnels.inc();
    this.record(exchange, 'ok');
    exchange.done = true;
    exchange.tunnelled = true;
    const downstream = exchange.downstream;
    const queue = downstream.queue;
    const at = queue.indexOf(exchange);
    if (at >= 0) queue.splice(at, 1);
    const upstream = exchange.upstream as HttpUpstream;
    downstream.upgrading = null;
    downstream.tunnel = upstream;
    if (downstream.afterUpgrade !== null) downstream.sendUpstream(upstream, downstream.afterUpgrade);
    downstream.afterUpgrade = null;
    downstream.letGo(Hold.Upgrading);
  }

  private release(exchange: Exchange): void {
    if (!this.inFlight.delete(exchange)) return;
    const address = exchange.upstream?.address;
    if (address === undefined) return;
    this.pending.release(address);
  }

  /** Answers an exchange from the bridge itself, in the HTTP form failure-class.ts gives the outcome. */
  private answer(exchange: Exchange, outcome: Outcome, refusal: BridgeRefusal | undefined, code: string, message: string, extra: Record<string, unknown> = {}): void {
    const status = httpStatusFor(outcome, refusal);
    exchange.status = status;
    exchange.emit(jsonResponse(status, code, message, extra, exchange.closeAfter));
    this.endFilters(exchange, outcome, refusal);
    this.complete(exchange);
  }

  /** Answers an exchange with a response built elsewhere (a degradation fallback: fallback-reply.ts). */
  private answerWith(exchange: Exchange, response: { status: number; bytes: Buffer }): void {
    exchange.status = response.status;
    exchange.emit(response.bytes);
    this.complete(exchange);
  }

  /** The bridge refuses a request before it went anywhere. */
  private answerLocal(exchange: Exchange, refusal: BridgeRefusal, code: string, message: string, extra: Record<string, unknown> = {}): void {
    this.metrics.failures.inc(failureLabels('bridge_refusal', refusal));
    if (refusal === 'bad_request') this.metrics.badRequests.inc();
    this.answer(exchange, 'bridge_refusal', refusal, code, message, extra);
  }

  /** Traffic stats for an exchange that was routed (its service and stack are known). */
  private record(exchange: Exchange, outcome: Outcome): void {
    const micros = (performance.now() - exchange.startedAt) * 1000;
    this.options.stats.recordCall(exchange.service, exchange.stack, exchange.method, this.clockMs, micros, outcome);
    exchange.shadow?.primaryEnded(outcome);
    this.endFilters(exchange, outcome, undefined, micros);
  }

  /** Tells the filters how a request they saw ended: once, whichever way it ended. */
  private endFilters(exchange: Exchange, outcome: Outcome, refusal?: BridgeRefusal, micros = (performance.now() - exchange.startedAt) * 1000): void {
    const request = exchange.proxyRequest;
    if (request === null) return;
    exchange.proxyRequest = null;
    this.filters?.complete(request, outcome, micros, this.clockMs, refusal);
  }

  /** The outlier detector's set names of a service, made once (not a new string, hashed anew, per request). */
  private outlierSetOf(service: string, stack: Stack): string {
    let sets = this.outlierSets.get(service);
    if (sets === undefined) {
      // Only routed services report: the catalog bounds them; the cap is a backstop.
      if (this.outlierSets.size >= 10_000) this.outlierSets.clear();
      this.outlierSets.set(service, (sets = { legacy: outlierSet(service, 'legacy'), mesh: outlierSet(service, 'mesh') }));
    }
    return sets[stack];
  }

  /** Tells outlier detection how a call to an instance ended; logs and counts an ejection. */
  private reportOutcome(exchange: Exchange, outcome: Outcome, now: number): void {
    const address = exchange.address;
    // The exchange's upstream connection is its own: a lost one counts once however it is reported.
    if (this.draining || !this.options.routes.outliers.report(address, outcome, now, this.outlierSetOf(exchange.service, exchange.stack), exchange.upstream ?? undefined)) return;
    this.metrics.ejections.inc();
    this.options.logger.warn({ upstream: address, outcome }, `ejecting HTTP upstream ${address} for a while: its calls keep failing (${outcome})`);
  }

  /** @internal The upstream's response ended. A 5xx is the application's error, never the instance's transport's. */
  exchangeEnded(exchange: Exchange): void {
    const upstream = exchange.upstream;
    this.release(exchange);
    const outcome: Outcome = exchange.status >= 500 ? 'application_exception' : 'ok';
    this.reportOutcome(exchange, outcome, this.clockMs);
    if (outcome !== 'ok') this.metrics.failures.inc(failureLabels(outcome));
    if (upstream?.outOfStep) {
      this.metrics.outOfStep.inc();
      if (this.logOnce.first(`out-of-step|${upstream.address}`)) {
        this.options.logger.warn({ upstream: upstream.address }, `HTTP upstream ${upstream.address} sent bytes past the end of its response: dropped, with its connection`);
      }
    }
    if (upstream) {
      // The request body may still be arriving (an early answer): the connection is not reusable then.
      // An upgrade's connection never is, even when the upstream declined it.
      if (exchange.requestDone && !exchange.upgrade && upstream.reusable && !upstream.closed && !this.draining) {
        let pool = this.idle.get(upstream.address);
        if (!pool) this.idle.set(upstream.address, (pool = []));
        if (pool.length < this.maxIdlePerUpstream) {
          upstream.resumeReading(); // an idle connection is read, so its close is seen
          upstream.idleSince = coarseClock.now;
          pool.push(upstream);
        }
        else upstream.destroy();
      } else upstream.destroy();
    }
    this.record(exchange, outcome);
    this.complete(exchange);
  }

  /** @internal The upstream failed before its response completed. */
  upstreamFailed(exchange: Exchange, message: string, outcome: UpstreamFailure | 'response_timeout', staleReuse: boolean): void {
    if (exchange.done) return;
    this.release(exchange);
    const upstream = exchange.upstream;
    upstream?.detach();
    upstream?.destroy();
    const resendable = !exchange.responseStarted && exchange.bodyBytes === 0 && !this.draining && !exchange.downstream.closed;
    // A kept-alive connection the upstream closed as we reused it: the request never reached the
    // application. Sent once more on a fresh connection when sending it twice would do no harm.
    if (staleReuse && resendable && exchange.choice !== null && !exchange.staleRetried && IDEMPOTENT.has(exchange.method)) {
      exchange.staleRetried = true;
      this.metrics.retries.inc();
      this.dispatch(exchange, exchange.choice, true);
      return;
    }
    if (outcome !== 'bridge_refusal') this.reportOutcome(exchange, outcome, Date.now());
    // A connection that was never made delivered nothing: the request goes to another instance,
    // whatever its method, as long as none of its body was consumed.
    // One that may have arrived (a reset before any answer) is sent again only when its method is
    // idempotent and the service's policy allows retries (none by default).
    const neverDelivered = outcome === 'connect_failure' || outcome === 'connect_timeout';
    const idempotentRetry = outcome === 'reset' && IDEMPOTENT.has(exchange.method) && exchange.attempts <= (this.options.policy(exchange.service).retries ?? 0);
    if (resendable && (neverDelivered ? exchange.attempts <= NEVER_DELIVERED_RETRIES : idempotentRetry)) {
      (exchange.tried ??= new Set()).add(exchange.address);
      const choice = this.options.routes.choose(exchange.service, '', '', undefined, exchange.sticky, Math.random, exchange.tried, exchange.proxyRequest ?? undefined);
      const gate = choice === null || exchange.proxyRequest === null ? undefined : this.options.policy(exchange.service).retryGate;
      if (choice !== null && (gate === undefined || gate.tryRetry(exchange.proxyRequest as ProxyRequest))) {
        this.metrics.retries.inc();
        this.dispatch(exchange, choice, false);
        return;
      }
    }
    this.metrics.failures.inc(failureLabels(outcome, 'overloaded')); // a bridge_refusal here is answered as overloaded, below
    this.record(exchange, outcome);
    if (this.logOnce.first(`${outcome}|${exchange.upstreamLabel}`)) this.options.logger.warn({ upstream: exchange.upstreamLabel, outcome }, message);
    if (exchange.responseStarted) {
      // Part of the response went out: the caller must see the connection break, not a spliced answer.
      exchange.downstream.socket.destroy();
      exchange.done = true;
      return;
    }
    if (outcome === 'bridge_refusal') {
      this.answer(exchange, outcome, 'overloaded', 'HTTP_BRIDGE_OVERLOADED', `mesh-bridge cannot open a connection to ${exchange.upstreamLabel} now: ${message}`, {
        service: exchange.service,
      });
      return;
    }
    const timeout = outcome === 'response_timeout' || outcome === 'connect_timeout';
    this.answer(
      exchange,
      outcome,
      undefined,
      timeout ? 'HTTP_UPSTREAM_TIMEOUT' : 'HTTP_UPSTREAM_FAILED',
      `mesh-bridge ${timeout ? 'timed out waiting for' : 'failed calling'} upstream ${exchange.upstreamLabel} for ${exchange.service}: ${message}`,
      { service: exchange.service, upstream: exchange.upstreamLabel },
    );
  }

  /** Marks an exchange answered and moves the connection's queue on. */
  private complete(exchange: Exchange): void {
    exchange.done = true;
    const downstream = exchange.downstream;
    while (downstream.queue.length > 0 && downstream.queue[0].done) {
      const finished = downstream.queue.shift() as Exchange;
      if (finished.closeAfter) {
        // A declined upgrade: the caller is not read again (what it sent after the head was meant
        // for the new protocol); the connection closes once the answer is written.
        if (finished.upgrade) {
          downstream.upgrading = null;
          downstream.afterUpgrade = null;
          downstream.socket.destroySoon();
        } else downstream.socket.end();
        return;
      }
      const next = downstream.queue[0];
      next?.flushHeld();
    }
    this.routeWaiting(downstream);
    if (downstream.queue.length === 0) {
      downstream.lastActiveAt = coarseClock.now;
      if (this.draining) downstream.socket.end();
    }
  }

  /**
   * The sweep's timer reads the clocks, and the sweep itself runs once the I/O that is ready has
   * been read (setImmediate: after this turn's poll phase). Timers run before pending reads are
   * delivered: after the event loop was held up (a long garbage collection, a starved CPU) a sweep
   * run straight away would judge peers by a stale view, and cut off an upstream or a caller whose
   * bytes, or whose reading, were waiting in the kernel. Reads in between are stamped with the fresh clock.
   */
  private sweepSoon(): void {
    coarseClock.now = performance.now();
    this.clockMs = Date.now();
    if (this.sweepImmediate !== null) return;
    this.sweepImmediate = setImmediate(() => {
      this.sweepImmediate = null;
      this.sweep();
    });
  }

  private sweep(): void {
    const now = coarseClock.now;
    for (const exchange of this.inFlight.snapshot()) {
      if (!this.inFlight.has(exchange)) continue; // ended by an earlier one's failure (a retry)
      if (!exchange.responseStarted) {
        if (exchange.deadline <= now) this.upstreamFailed(exchange, `no response within ${Math.round(exchange.deadline - exchange.startedAt)} ms`, 'response_timeout', false);
        continue;
      }
      // Mid-response: silence counts only while the bridge is reading (its caller takes the bytes).
      const upstream = exchange.upstream;
      if (upstream !== null && !upstream.isPaused && now - upstream.lastReadAt > this.responseStallTimeoutMs) {
        this.upstreamFailed(exchange, `the response stalled for ${this.responseStallTimeoutMs} ms`, 'response_timeout', false);
      }
    }
    // Caller connections and pools are looked at less often: their timeouts are seconds.
    if (++this.sweeps % CALLER_SWEEP_EVERY === 0) {
      for (const downstream of this.downstreams) this.checkCaller(downstream, now);
      for (const pool of this.idle.values()) {
        for (const upstream of pool) if (now - upstream.idleSince > this.upstreamIdleTimeoutMs) upstream.destroy();
      }
    }
  }

  /** Closes a caller connection that has been too slow sending a head or a body, or idle too long. */
  private checkCaller(downstream: Downstream, now: number): void {
    if (downstream.tunnel !== null || downstream.closed) return;
    // A caller that stopped reading its answers holds their upstream connections (paused): it gets
    // as long as an upstream may stall mid-response, then its connection is broken (caller_gone).
    // Not reading: bytes wait in the bridge for this caller and none reached the kernel since the
    // last look (progress, not writableNeedDrain, which depends on how the writes happened to return).
    const socket = downstream.socket;
    const queued = downstream.writer.queuedBytes;
    const dispatched = socket.bytesWritten - queued;
    if (queued > 0 && dispatched === downstream.dispatchedAtLastLook) {
      if (downstream.notReadingSince === 0) downstream.notReadingSince = now;
      else if (now - downstream.notReadingSince > this.responseStallTimeoutMs) {
        this.metrics.callerTimeouts.inc({ phase: 'not_reading' });
        socket.destroy();
        return;
      }
    } else downstream.notReadingSince = 0;
    downstream.dispatchedAtLastLook = dispatched;
    if (downstream.held) return;
    if (downstream.phase === Phase.Head) {
      if (now - downstream.phaseSince > this.headerTimeoutMs) this.callerTimedOut(downstream, 'header', this.headerTimeoutMs);
    } else if (downstream.phase === Phase.Body) {
      if (now - downstream.lastActiveAt > this.bodyIdleTimeoutMs) this.callerTimedOut(downstream, 'body', this.bodyIdleTimeoutMs);
    } else if (downstream.queue.length === 0 && now - downstream.lastActiveAt > this.keepAliveTimeoutMs) {
      this.metrics.callerTimeouts.inc({ phase: 'idle' });
      downstream.socket.destroySoon();
    }
  }

  /**
   * A caller too slow with its request: answered 408 when nothing else is owed on the connection,
   * then closed. Its exchanges in flight end as caller_gone when the socket closes.
   */
  private callerTimedOut(downstream: Downstream, phase: 'header' | 'body', limitMs: number): void {
    this.metrics.callerTimeouts.inc({ phase });
    downstream.hold(Hold.Closing);
    const queue = downstream.queue;
    // The request whose body stalled is answered 408 itself when it is the only one and nothing of its answer went out.
    const stalled = phase === 'body' && queue.length === 1 && queue[0] === downstream.current && !queue[0].responseStarted ? queue[0] : null;
    if (stalled !== null) {
      this.abandon(stalled);
      queue.length = 0;
    }
    if (queue.length === 0) {
      const what = phase === 'header' ? 'request head' : 'request body';
      downstream.socket.write(jsonResponse(408, 'HTTP_REQUEST_TIMEOUT', `the ${what} did not arrive within ${limitMs} ms`, {}, true));
      downstream.socket.destroySoon();
    } else downstream.socket.destroy();
  }
}

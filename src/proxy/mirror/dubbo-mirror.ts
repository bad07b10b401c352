// The Dubbo mirror of one outbound stack: a copy of a chosen call goes to an instance of the other
// stack on connections of the mirror's own (never the real calls' pool), fire and forget with a
// deadline; when both answers are in, they are decoded and compared on a later turn, so neither
// the real call nor its consumer ever waits for the mirror. The listener's hooks: `start` after
// routing, then `primaryAnswered` with the real answer's bytes and `primaryEnded` as it completes.
import type { Stack } from '../../catalog';
import type { Frame } from '../../dubbo-codec';
import { MeshBridgeError } from '../../errors';
import type { Outcome } from '../failure-class';
import { pickInstance } from '../router/instance-picker';
import type { ServiceRoutes } from '../router/service-routes';
import { InFlight, UpstreamConnection, UpstreamFailure } from '../upstream/dubbo-upstream-connection';
import { DubboAnswer, dubboAnswer, dubboAnswerDifference } from './dubbo-answer';
import type { MirrorRule } from './mirror-policy';
import { Shadow } from './shadow';
import { SweepAfterReads } from '../sweep-after-reads';

/** What the Dubbo listener calls for a request the mirror copied. */
export interface DubboMirrorCall {
  /** The real answer's whole frame (it is only read). */
  primaryAnswered(frame: Buffer): void;
  /** The real call is over, answered or not. */
  primaryEnded(outcome: Outcome): void;
}

/** What the Dubbo listener is given: `start`, once the real call is sent, returns a call only when this request is copied. */
export interface DubboMirrorHook {
  start(service: string, version: string, group: string, method: string, frame: Frame, routedTo: Stack): DubboMirrorCall | undefined;
}

const SWEEP_MS = 100;
/** A mirror connection unused this long is closed. */
const IDLE_CLOSE_MS = 60_000;
const TOO_LARGE = 'too_large';

class MirroredCall implements InFlight, DubboMirrorCall {
  deadline = 0;
  private primary: Buffer | Outcome | typeof TOO_LARGE | undefined;
  private ended = false;
  private shadow: Buffer | UpstreamFailure | undefined;

  constructor(
    private readonly mirror: DubboMirror,
    readonly rule: MirrorRule,
    readonly method: string,
    readonly target: string,
  ) {}

  /** `frame` is a view of the listener's read chunk: kept as a copy, so the chunk is not held. */
  primaryAnswered(frame: Buffer): void {
    this.primary = frame.length > this.mirror.shadow.config.maxResponseBytes ? TOO_LARGE : Buffer.from(frame);
  }

  primaryEnded(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    this.primary ??= outcome;
    this.settle();
  }

  deliver(frame: Frame): void {
    this.shadow = frame.bytes;
    this.settle();
  }

  fail(reason: UpstreamFailure): void {
    this.shadow = reason;
    this.settle();
  }

  private settle(): void {
    if (this.primary === undefined || !this.ended || this.shadow === undefined) return;
    // Decoding and comparing wait for a later turn: the real answer leaves first.
    setImmediate(() => this.mirror.compare(this, this.primary as Buffer | string, this.shadow as Buffer | UpstreamFailure));
  }
}

export class DubboMirror implements DubboMirrorHook {
  private readonly connections = new Map<string, { connection: UpstreamConnection; lastUsed: number }>();
  /**
   * Connections that said READONLY, replaced for new copies but still carrying some: swept like the
   * others (their copies' deadlines) until they close. At most one per address and READONLY event.
   */
  private readonly retiring = new Set<UpstreamConnection>();
  /** Copies' deadlines and heartbeats, judged after the answers already waiting are read; runs while connections exist. */
  private readonly sweeper = new SweepAfterReads(SWEEP_MS, (now) => this.sweep(now));
  private closed = false;
  private readonly unregister: () => void;

  constructor(
    readonly shadow: Shadow,
    private readonly routes: ServiceRoutes,
    private readonly connectTimeoutMs = 1000,
  ) {
    this.unregister = shadow.onClose(() => this.close());
  }

  start(service: string, version: string, group: string, method: string, frame: Frame, routedTo: Stack): DubboMirrorCall | undefined {
    if (this.shadow.dubbo.empty) return undefined;
    const rule = this.shadow.admit('dubbo', service, method, Math.random());
    if (rule === undefined) return undefined;
    const report = this.shadow.report;
    if (frame.bytes.length > this.shadow.config.maxRequestBytes) {
      this.shadow.release();
      report.count('dubbo', rule.service, method, 'too_large');
      return undefined;
    }
    const candidates = this.routes.routeSet(service, version, group)[Shadow.otherStack(routedTo)];
    const index = pickInstance(candidates, Math.random());
    if (index < 0) {
      this.shadow.release();
      report.count('dubbo', rule.service, method, 'no_target');
      return undefined;
    }
    const { instance, address } = candidates[index];
    const call = new MirroredCall(this, rule, method, address);
    call.deadline = performance.now() + this.shadow.config.timeoutMs;
    report.count('dubbo', rule.service, method, 'mirrored');
    // Sent on a later turn, after the real request's write; a copy of its own, since the
    // connection rewrites the request id in place (the frame's bytes are never changed otherwise).
    setImmediate(() => {
      if (this.closed) return call.fail({ outcome: 'reset', message: 'the mirror closed before the copy was sent' });
      this.connectionTo(address, instance.host, instance.port).send({ ...frame, bytes: Buffer.from(frame.bytes) }, call);
    });
    return call;
  }

  /** @internal Both answers are in: count and compare. */
  compare(call: MirroredCall, primary: Buffer | string, shadow: Buffer | UpstreamFailure): void {
    this.shadow.release();
    const { service } = call.rule;
    const report = this.shadow.report;
    if (primary === TOO_LARGE) return report.count('dubbo', service, call.method, 'too_large');
    if (typeof primary === 'string') return report.error('dubbo', service, call.method, 'primary_error', `the real call ended ${primary}`);
    if (!Buffer.isBuffer(shadow)) {
      // The mirror's connection fails an answer over its body bound as an application exception.
      if (shadow.outcome === 'application_exception') return report.count('dubbo', service, call.method, 'too_large');
      return report.error('dubbo', service, call.method, 'shadow_error', `${call.target}: ${shadow.outcome}: ${shadow.message}`);
    }
    let a: DubboAnswer;
    let b: DubboAnswer;
    try {
      a = dubboAnswer(primary);
    } catch (err) {
      return report.error('dubbo', service, call.method, 'primary_error', `undecodable answer: ${describeError(err)}`);
    }
    try {
      b = dubboAnswer(shadow);
    } catch (err) {
      return report.error('dubbo', service, call.method, 'shadow_error', `${call.target}: undecodable answer: ${describeError(err)}`);
    }
    const difference = dubboAnswerDifference(a, b, call.rule.ignorePaths);
    if (difference === null) report.count('dubbo', service, call.method, 'matched');
    else report.mismatch('dubbo', service, call.method, difference, Date.now());
  }

  private connectionTo(address: string, host: string, port: number): UpstreamConnection {
    const now = performance.now();
    const held = this.connections.get(address);
    if (held !== undefined && held.connection.usable) {
      held.lastUsed = now;
      return held.connection;
    }
    if (held !== undefined && held.connection.inFlight > 0) this.retiring.add(held.connection);
    const { maxResponseBytes } = this.shadow.config;
    const connection = new UpstreamConnection({
      host,
      port,
      connectTimeoutMs: this.connectTimeoutMs,
      heartbeatIdleMs: 30_000,
      maxBodyLength: maxResponseBytes,
      onClose: (closed) => {
        this.retiring.delete(closed);
        if (this.connections.get(address)?.connection === closed) this.connections.delete(address);
      },
      onReadonly: () => undefined, // it takes no new copies; the next one opens another connection
      onDrain: () => undefined,
    });
    this.connections.set(address, { connection, lastUsed: now });
    this.sweeper.start();
    return connection;
  }

  /** Deadlines of the copies in flight, heartbeats, and closing connections no copy used for a while. */
  private sweep(now: number): void {
    for (const [address, held] of this.connections) {
      held.connection.expire(now);
      held.connection.keepAlive(now);
      if (held.connection.inFlight === 0 && now - held.lastUsed > IDLE_CLOSE_MS) {
        this.connections.delete(address);
        held.connection.retire();
      }
    }
    for (const connection of this.retiring) {
      connection.expire(now);
      connection.keepAlive(now);
    }
    if (this.connections.size === 0 && this.retiring.size === 0) this.sweeper.stop();
  }

  close(): void {
    this.closed = true;
    this.unregister();
    this.sweeper.stop();
    for (const connection of [...this.retiring, ...[...this.connections.values()].map((held) => held.connection)]) connection.close({ outcome: 'reset', message: 'the sidecar is shutting down' });
    this.connections.clear();
    this.retiring.clear();
  }
}

function describeError(err: unknown): string {
  return err instanceof MeshBridgeError ? `${err.code}: ${err.message}` : String(err);
}

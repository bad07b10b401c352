// The HTTP mirror of one outbound stack: a copy of a chosen request goes to an instance of the
// other stack through node:http on an agent of the mirror's own (never the real calls' pool), with
// a deadline and bounded bodies both ways; the real answer's status, headers and body (up to the
// bound) are collected from the listener's hooks, and the two are compared on a later turn. A copy
// carries `x-mesh-bridge-shadow: 1` so the other stack can tell it from real traffic.
import { Agent, IncomingMessage, request as httpRequest } from 'node:http';
import type { Stack } from '../../catalog';
import type { Outcome } from '../failure-class';
import { pickInstance } from '../router/instance-picker';
import type { ServiceRoutes } from '../router/service-routes';
import { HttpAnswer, headerMap, httpAnswerDifference } from './http-answer';
import type { MirrorRule } from './mirror-policy';
import { Shadow } from './shadow';

export const SHADOW_HEADER = 'x-mesh-bridge-shadow';

/** What the HTTP listener calls for an exchange the mirror copied. */
export interface HttpMirrorCall {
  requestBody(bytes: Buffer): void;
  requestEnd(): void;
  primaryHead(status: number, fields: readonly string[]): void;
  primaryBody(bytes: Buffer): void;
  /** The real exchange is over: answered (ok, or a 5xx as application_exception) or failed. */
  primaryEnded(outcome: Outcome): void;
}

/**
 * What the HTTP listener is given: `start` once the real request is sent, with the head it sent
 * upstream, the body read before routing, and whether the request is already complete.
 */
export interface HttpMirrorHook {
  start(service: string, method: string, head: string, routedTo: Stack, bodySoFar: readonly Buffer[] | null, requestDone: boolean): HttpMirrorCall | undefined;
}

/** Request headers a copy does not carry: framing (set again for the buffered body), the connection's own, and Expect (the body goes at once). */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'te', 'trailer', 'upgrade', 'expect', SHADOW_HEADER]);

/** The head the listener sends upstream, back into a path and `[name, value, ...]` for node:http. */
function parseHead(head: string): { path: string; fields: string[] } {
  const lines = head.split('\r\n');
  const line = lines[0];
  const path = line.slice(line.indexOf(' ') + 1, line.lastIndexOf(' '));
  const fields: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) continue;
    const name = lines[i].slice(0, colon);
    if (NOT_COPIED.has(name.toLowerCase())) continue;
    fields.push(name, lines[i].slice(colon + 1).trim());
  }
  fields.push(SHADOW_HEADER, '1');
  return { path, fields };
}

type Side = HttpAnswer | { error: string } | 'too_large';

class MirroredExchange implements HttpMirrorCall {
  private body: Buffer[] = [];
  private bodyBytes = 0;
  private sent = false;
  private primary: Side | undefined;
  private primaryStatus = 0;
  private primaryFields: readonly string[] = [];
  private primaryChunks: Buffer[] | null = [];
  private primaryBytes = 0;
  private shadow: Side | undefined;
  private settled = false;

  constructor(
    private readonly mirror: HttpMirror,
    readonly rule: MirrorRule,
    readonly method: string,
    private readonly head: string,
    private readonly host: string,
    private readonly port: number,
  ) {}

  get target(): string {
    return `${this.host}:${this.port}`;
  }

  requestBody(bytes: Buffer): void {
    if (this.sent || this.shadow !== undefined) return;
    this.bodyBytes += bytes.length;
    if (this.bodyBytes > this.mirror.shadow.config.maxRequestBytes) {
      this.body = [];
      this.shadow = 'too_large'; // never sent
      this.settle();
      return;
    }
    this.body.push(Buffer.from(bytes)); // the parser's buffer is reused
  }

  requestEnd(): void {
    if (this.sent || this.shadow !== undefined) return;
    this.sent = true;
    const body = this.body;
    this.body = [];
    // On a later turn: the real request's bytes leave first.
    setImmediate(() => this.mirror.send(this, this.head, body, this.host, this.port));
  }

  primaryHead(status: number, fields: readonly string[]): void {
    this.primaryStatus = status;
    this.primaryFields = fields.slice(); // the parser's array is not ours to keep
  }

  primaryBody(bytes: Buffer): void {
    if (this.primaryChunks === null) return;
    this.primaryBytes += bytes.length;
    if (this.primaryBytes > this.mirror.shadow.config.maxResponseBytes) this.primaryChunks = null;
    else this.primaryChunks.push(Buffer.from(bytes));
  }

  primaryEnded(outcome: Outcome): void {
    if (this.primary !== undefined) return;
    const answered = this.primaryStatus > 0 && (outcome === 'ok' || outcome === 'application_exception');
    if (!answered) this.primary = { error: `the real call ended ${outcome}` };
    else if (this.primaryChunks === null) this.primary = 'too_large';
    else this.primary = { status: this.primaryStatus, headers: headerMap(this.primaryFields, this.rule.ignoreHeaders), body: Buffer.concat(this.primaryChunks, this.primaryBytes) };
    this.primaryChunks = null;
    if (!this.sent && this.shadow === undefined) {
      // Answered before its request was all read (an early answer, or its caller left): no copy goes.
      this.sent = true;
      this.body = [];
      this.shadow = { error: 'no copy was sent: the real call ended before its request did' };
    }
    this.settle();
  }

  /** @internal The copy's answer, or why there is none. */
  shadowDone(side: Side): void {
    if (this.shadow !== undefined) return;
    this.shadow = side;
    this.settle();
  }

  private settle(): void {
    if (this.primary === undefined || this.shadow === undefined || this.settled) return;
    this.settled = true;
    const primary = this.primary;
    const shadow = this.shadow;
    setImmediate(() => this.mirror.compare(this, primary, shadow));
  }
}

export class HttpMirror implements HttpMirrorHook {
  private readonly agent: Agent;
  private closed = false;
  private readonly unregister: () => void;

  constructor(
    readonly shadow: Shadow,
    private readonly routes: ServiceRoutes,
  ) {
    // Connections of the mirror's own, at most as many as copies may be in flight (followed on reload: send).
    this.agent = new Agent({ keepAlive: true, maxSockets: shadow.config.maxInFlight, maxFreeSockets: 16, timeout: 60_000 });
    this.unregister = shadow.onClose(() => this.close());
  }

  start(service: string, method: string, head: string, routedTo: Stack, bodySoFar: readonly Buffer[] | null, requestDone: boolean): HttpMirrorCall | undefined {
    if (this.shadow.http.empty) return undefined;
    const rule = this.shadow.admit('http', service, method, Math.random());
    if (rule === undefined) return undefined;
    const candidates = this.routes.routeSet(service, '', '')[Shadow.otherStack(routedTo)];
    const index = pickInstance(candidates, Math.random());
    if (index < 0) {
      this.shadow.release();
      this.shadow.report.count('http', rule.service, method, 'no_target');
      return undefined;
    }
    const { host, port } = candidates[index].instance;
    const call = new MirroredExchange(this, rule, method, head, host, port);
    if (bodySoFar !== null) for (const bytes of bodySoFar) call.requestBody(bytes);
    if (requestDone) call.requestEnd();
    return call;
  }

  /** @internal The whole request is in: the copy leaves. */
  send(call: MirroredExchange, head: string, body: Buffer[], host: string, port: number): void {
    if (this.closed) return call.shadowDone({ error: 'the mirror closed before the copy was sent' });
    this.shadow.report.count('http', call.rule.service, call.method, 'mirrored');
    const { path, fields } = parseHead(head);
    const payload = body.length === 0 ? null : Buffer.concat(body);
    if (payload !== null) fields.push('content-length', String(payload.length));
    const { timeoutMs, maxResponseBytes, maxInFlight } = this.shadow.config;
    // A reload may have changed the bound: new connections follow it (a lowered one lets those open finish).
    if (this.agent.maxSockets !== maxInFlight) this.agent.maxSockets = maxInFlight;
    const req = httpRequest({ host, port, method: call.method, path, headers: fields, agent: this.agent, setHost: false });
    let answered = false;
    const done = (side: Side): void => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      call.shadowDone(side);
    };
    // Judged after the poll phase: an answer that came while the event loop was held up (a long
    // garbage collection) is read before the copy is called late (timers run before pending reads).
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (answered) return;
        done({ error: `no answer within ${timeoutMs} ms` });
        req.destroy();
      });
    }, timeoutMs);
    timer.unref();
    req.on('error', (err) => done({ error: err.message }));
    // Whatever else happens, a closed request has ended its side (a no-op once the answer is in).
    req.on('close', () => done({ error: 'the connection closed before the answer was complete' }));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxResponseBytes) {
          res.destroy();
          done('too_large');
        } else chunks.push(chunk);
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: headerMap(res.rawHeaders, call.rule.ignoreHeaders), body: Buffer.concat(chunks, bytes) }));
      res.on('error', (err) => done({ error: err.message }));
    });
    req.end(payload ?? undefined);
  }

  /** @internal Both sides are in: count and compare. */
  compare(call: MirroredExchange, primary: Side, shadow: Side): void {
    this.shadow.release();
    const report = this.shadow.report;
    const { service } = call.rule;
    if (primary === 'too_large' || shadow === 'too_large') return report.count('http', service, call.method, 'too_large');
    if ('error' in primary) return report.error('http', service, call.method, 'primary_error', primary.error);
    if ('error' in shadow) return report.error('http', service, call.method, 'shadow_error', `${call.target}: ${shadow.error}`);
    const difference = httpAnswerDifference(primary, shadow, call.rule.ignorePaths);
    if (difference === null) report.count('http', service, call.method, 'matched');
    else report.mismatch('http', service, call.method, difference, Date.now());
  }

  close(): void {
    this.closed = true;
    this.unregister();
    this.agent.destroy();
  }
}

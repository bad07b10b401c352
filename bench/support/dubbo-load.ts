// Dubbo load generator: N connections, each keeping K requests in flight (multiplexed by request
// id, as real consumers do), all sending one precomputed request frame with its id patched. Every
// response's latency is measured with process.hrtime; after the warmup the parent is told
// ("MEASURE_START") so it can sample the proxy's CPU, and at the end one "RESULT <json>" line is
// printed: requests, seconds, rps, p50/p99 in µs, errors.
//
// With several ports (--ports=A,B) the systems are loaded in turn, one at a time, for --slice-ms
// each (250), over the whole warmup and measurement: each one's figures cover only its own slices
// (seconds = the time it was loaded), so systems compared this way see the same spells of a noisy
// machine. The RESULT line then holds { targets: [one result per port] }.
//
// Usage: node --import tsx bench/support/dubbo-load.ts --port=P --connections=N --depth=K --warmup-ms=W --duration-ms=D
//        [--ports=A,B --slice-ms=S]
import { Socket, connect } from 'node:net';
import { encodeRequest } from '../../src/dubbo-codec';
import { arg } from './child-protocol';

const BENCH_SERVICE = 'com.example.bench.EchoService';

const HEADER = 16;
const STATUS_OK = 20;

const ports = (arg('ports', '') || arg('port')).split(',').map(Number);
const connections = Number(arg('connections', '1'));
const depth = Number(arg('depth', '1'));
const warmupMs = Number(arg('warmup-ms', '1000'));
const durationMs = Number(arg('duration-ms', '5000'));
const sliceMs = Number(arg('slice-ms', '250'));

const template = encodeRequest({
  requestId: 0n,
  path: BENCH_SERVICE,
  version: '1.0.0',
  method: 'echo',
  parameterTypes: 'Ljava/lang/String;',
  args: ['hello'],
  attachments: { interface: BENCH_SERVICE },
});

type Phase = 'warmup' | 'measure' | 'done';
let phase: Phase = 'warmup';

/** One system under load (a port): its connections, what they measured, and the time it was loaded. */
class Target {
  readonly open: Connection[] = [];
  latencies = new Float64Array(1 << 20);
  count = 0;
  errors = 0;
  lost = 0;
  /** Sending new requests (in alternating mode only one target is at a time). */
  active = false;
  /** Measured time this target was loaded, ns: from its start to the last answer of its slice. */
  loadedNs = 0n;
  private loadedSince = 0n;

  constructor(readonly port: number) {}

  record(ns: number): void {
    if (this.count === this.latencies.length) {
      const bigger = new Float64Array(this.latencies.length * 2);
      bigger.set(this.latencies);
      this.latencies = bigger;
    }
    this.latencies[this.count++] = ns;
  }

  get inFlight(): number {
    let total = 0;
    for (const c of this.open) total += c.inFlight;
    return total;
  }

  start(): void {
    this.active = true;
    this.loadedSince = process.hrtime.bigint();
    for (const c of this.open) c.start();
  }

  /** The measurement starts: a target loaded now counts its time from here. */
  restartClock(): void {
    this.loadedSince = process.hrtime.bigint();
  }

  /** Its slice ended and its last answer came: the time it was loaded is counted. */
  stopped(): void {
    if (phase === 'measure') this.loadedNs += process.hrtime.bigint() - this.loadedSince;
  }

  /** At the end of the measurement: the time of a slice under way (or still draining) counts. */
  finish(): void {
    if (this.active || this.inFlight > 0) this.loadedNs += process.hrtime.bigint() - this.loadedSince;
  }
}

class Connection {
  private readonly started = new Map<number, bigint>();
  private nextId = 1;
  private pending: Buffer | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly target: Target,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => fail(`connection error: ${err.message}`));
    socket.on('close', () => {
      if (phase !== 'done') fail('connection closed by the server');
    });
  }

  get inFlight(): number {
    return this.started.size;
  }

  start(): void {
    this.sendBatch(depth);
  }

  close(): void {
    this.socket.destroy();
  }

  private sendBatch(n: number): void {
    if (n === 0 || phase === 'done' || !this.target.active) return;
    const out = Buffer.allocUnsafe(n * template.length);
    const now = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const at = i * template.length;
      template.copy(out, at);
      const id = this.nextId;
      this.nextId = id >= 0x7fffffff ? 1 : id + 1;
      out.writeUInt32BE(0, at + 4);
      out.writeUInt32BE(id, at + 8);
      this.started.set(id, now);
    }
    this.socket.write(out);
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    const now = process.hrtime.bigint();
    const target = this.target;
    let at = 0;
    let answered = 0;
    while (buf.length - at >= HEADER) {
      const total = HEADER + buf.readUInt32BE(at + 12);
      if (buf.length - at < total) break;
      const id = buf.readUInt32BE(at + 8);
      const startedAt = this.started.get(id);
      if (startedAt !== undefined) {
        this.started.delete(id);
        answered++;
        if (phase === 'measure') {
          target.record(Number(now - startedAt));
          if (buf[at + 3] !== STATUS_OK) target.errors++;
        }
      } else target.lost++;
      at += total;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
    this.sendBatch(answered);
    if (!target.active && target.inFlight === 0) drained(target);
  }
}

const targets = ports.map((p) => new Target(p));

function fail(message: string): void {
  if (phase === 'done') return;
  phase = 'done';
  process.stderr.write(`dubbo-load: ${message}\n`);
  for (const t of targets) for (const c of t.open) c.close();
  process.exit(2);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// Alternating mode (several ports): one target is loaded at a time, for `sliceMs`; then it stops
// sending, and once its last answer is in, the next one starts. Systems compared this way share
// the machine's slow and fast spells, which on a noisy machine differ more than the systems do.
let current = 0;

function endSlice(): void {
  if (phase === 'done') return;
  const target = targets[current];
  target.active = false;
  if (target.inFlight === 0) drained(target);
}

function drained(target: Target): void {
  if (phase === 'done' || target !== targets[current]) return;
  target.stopped();
  current = (current + 1) % targets.length;
  targets[current].start();
  setTimeout(endSlice, sliceMs);
}

async function main(): Promise<void> {
  for (const target of targets) {
    for (let i = 0; i < connections; i++) {
      const socket = connect({ host: '127.0.0.1', port: target.port, noDelay: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      target.open.push(new Connection(socket, target));
    }
  }
  if (targets.length === 1) targets[0].start();
  else {
    targets[0].start();
    setTimeout(endSlice, sliceMs);
  }
  await new Promise((r) => setTimeout(r, warmupMs));
  // Time loaded counts from here: a target mid-slice now counts from now.
  for (const t of targets) t.restartClock();
  phase = 'measure';
  process.stdout.write('MEASURE_START\n');
  const from = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, durationMs));
  for (const t of targets) t.finish();
  phase = 'done';
  const seconds = Number(process.hrtime.bigint() - from) / 1e9;
  for (const t of targets) for (const c of t.open) c.close();
  const results = targets.map((t) => {
    const sorted = t.latencies.subarray(0, t.count).sort();
    const loaded = targets.length === 1 ? seconds : Number(t.loadedNs) / 1e9;
    return { requests: t.count, seconds: loaded, rps: t.count / loaded, p50us: percentile(sorted, 50) / 1000, p99us: percentile(sorted, 99) / 1000, errors: t.errors, lost: t.lost };
  });
  process.stdout.write(`RESULT ${JSON.stringify(targets.length === 1 ? results[0] : { targets: results })}\n`);
  process.exit(0);
}

main().catch((err: unknown) => fail(String(err)));

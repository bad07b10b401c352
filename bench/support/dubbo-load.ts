// Dubbo load generator: N connections, each keeping K requests in flight (multiplexed by request
// id, as real consumers do), all sending one precomputed request frame with its id patched. Every
// response's latency is measured with process.hrtime; after the warmup the parent is told
// ("MEASURE_START") so it can sample the proxy's CPU, and at the end one "RESULT <json>" line is
// printed: requests, seconds, rps, p50/p99 in µs, errors.
//
// Usage: node --import tsx bench/support/dubbo-load.ts --port=P --connections=N --depth=K --warmup-ms=W --duration-ms=D
import { Socket, connect } from 'node:net';
import { encodeRequest } from '../../src/dubbo-codec';
import { arg } from './child-protocol';

const BENCH_SERVICE = 'com.example.bench.EchoService';

const HEADER = 16;
const STATUS_OK = 20;

const port = Number(arg('port'));
const connections = Number(arg('connections', '1'));
const depth = Number(arg('depth', '1'));
const warmupMs = Number(arg('warmup-ms', '1000'));
const durationMs = Number(arg('duration-ms', '5000'));

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
let latencies = new Float64Array(1 << 20);
let count = 0;
let errors = 0;
let lost = 0;

function record(ns: number): void {
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[count++] = ns;
}

class Connection {
  private readonly started = new Map<number, bigint>();
  private nextId = 1;
  private pending: Buffer | null = null;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => fail(`connection error: ${err.message}`));
    socket.on('close', () => {
      if (phase !== 'done') fail('connection closed by the server');
    });
  }

  start(): void {
    this.sendBatch(depth);
  }

  close(): void {
    this.socket.destroy();
  }

  private sendBatch(n: number): void {
    if (n === 0 || phase === 'done') return;
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
          record(Number(now - startedAt));
          if (buf[at + 3] !== STATUS_OK) errors++;
        }
      } else lost++;
      at += total;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
    this.sendBatch(answered);
  }
}

const open: Connection[] = [];

function fail(message: string): void {
  if (phase === 'done') return;
  phase = 'done';
  process.stderr.write(`dubbo-load: ${message}\n`);
  for (const c of open) c.close();
  process.exit(2);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  for (let i = 0; i < connections; i++) {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    open.push(new Connection(socket));
  }
  for (const c of open) c.start();
  await new Promise((r) => setTimeout(r, warmupMs));
  phase = 'measure';
  process.stdout.write('MEASURE_START\n');
  const from = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, durationMs));
  phase = 'done';
  const seconds = Number(process.hrtime.bigint() - from) / 1e9;
  for (const c of open) c.close();
  const sorted = latencies.subarray(0, count).sort();
  const result = {
    requests: count,
    seconds,
    rps: count / seconds,
    p50us: percentile(sorted, 50) / 1000,
    p99us: percentile(sorted, 99) / 1000,
    errors,
    lost,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((err: unknown) => fail(String(err)));

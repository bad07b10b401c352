// A paced HTTP client (wrk2 is not installed here): a steady rate of GET / over a few keep-alive
// connections, each request sent on its schedule (a 5 ms tick sends what the schedule owes, so a
// late tick catches up rather than lowering the rate), with a cap on requests in flight. After the
// warmup it prints "MEASURE_START"; at the end one "RESULT <json>" line: sent, answered, errors,
// late (not sent on time because the cap was reached), rps, p50/p99 in µs.
//
// Usage: node --import tsx bench/support/sidecar-paced.ts --port=P --rate=1000 --connections=8 --warmup-ms=W --duration-ms=D
import { Agent, request } from 'node:http';
import { arg } from './child-protocol';

const port = Number(arg('port'));
const rate = Number(arg('rate', '1000'));
const connections = Number(arg('connections', '8'));
const warmupMs = Number(arg('warmup-ms', '2000'));
const durationMs = Number(arg('duration-ms', '10000'));
const MAX_IN_FLIGHT = connections * 16;
const TICK_MS = 5;

const agent = new Agent({ keepAlive: true, maxSockets: connections });
let measuring = false;
let inFlight = 0;
let sent = 0;
let answered = 0;
let errors = 0;
let late = 0;
const latencies: number[] = [];

function send(): void {
  inFlight++;
  const began = performance.now();
  const counted = measuring;
  if (counted) sent++;
  const req = request({ host: '127.0.0.1', port, path: '/', agent, headers: { host: 'app' }, timeout: 5000 }, (res) => {
    res.resume();
    res.on('end', () => {
      inFlight--;
      if (!counted) return;
      answered++;
      latencies.push((performance.now() - began) * 1000);
      if (res.statusCode !== 200) errors++;
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => {
    inFlight--;
    if (counted) errors++;
  });
  req.end();
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const startedAt = performance.now();
let scheduled = 0;
const timer = setInterval(() => {
  const owed = Math.floor(((performance.now() - startedAt) * rate) / 1000);
  while (scheduled < owed) {
    scheduled++;
    if (inFlight >= MAX_IN_FLIGHT) {
      if (measuring) late++;
      continue;
    }
    send();
  }
}, TICK_MS);

setTimeout(() => {
  measuring = true;
  process.stdout.write('MEASURE_START\n');
  const from = performance.now();
  setTimeout(() => {
    clearInterval(timer);
    const seconds = (performance.now() - from) / 1000;
    latencies.sort((a, b) => a - b);
    const result = { sent, answered, errors, late, rps: answered / seconds, p50us: percentile(latencies, 50), p99us: percentile(latencies, 99) };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    agent.destroy();
    process.exit(0);
  }, durationMs);
}, warmupMs);

// The long-running processes' log output (telemetry/logger.ts): bulk lines (the access log) wait in
// a buffer, every other line goes out at once with what waited, and a stdout nobody reads costs
// dropped, counted lines, never an unbounded buffer or a blocked process. Each case runs a child
// process whose stdout is a pipe, as under a container runtime.
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** A child that builds a logger with `output` and runs `body` (logger, bulk, registry in scope). */
function child(output: object, body: string): ChildProcess {
  const code = `
    const { createLogger, bulkLogger, registerLogMetrics } = require(${JSON.stringify(join(ROOT, 'src/telemetry/logger'))});
    const { Registry } = require(${JSON.stringify(join(ROOT, 'src/telemetry/metrics'))});
    const registry = new Registry();
    registerLogMetrics(registry);
    const logger = createLogger({ level: 'info', redactor: null, output: ${JSON.stringify(output)} });
    const bulk = bulkLogger(logger);
    ${body}
  `;
  return spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the stdout chunks as they arrive until `done` says enough (or the child exits). */
function chunksUntil(proc: ChildProcess, done: (text: string) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const chunks: string[] = [];
    let text = '';
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      chunks.push(d.toString());
      text += d.toString();
      if (done(text)) resolve(chunks);
    });
    proc.on('exit', (code) => (done(text) ? resolve(chunks) : reject(new Error(`child exited (${code}) before the lines came: ${err}`))));
  });
}

describe('log output', () => {
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const proc of started.splice(0)) if (proc.exitCode === null) proc.kill('SIGKILL');
  });

  it('writes a warning at once, with the bulk lines that waited before it, in order', async () => {
    // The flush timer is far away: only the warning can have sent the bulk lines out.
    const proc = child({ bufferBytes: 16000, flushMs: 60000, maxBufferBytes: 1 << 20 }, `
      bulk.info({ n: 1 }, 'bulk one');
      bulk.info({ n: 2 }, 'bulk two');
      setTimeout(() => logger.warn('a warning'), 200);
      setTimeout(() => {}, 30000);
    `);
    started.push(proc);
    const chunks = await chunksUntil(proc, (text) => text.includes('a warning'));
    const messages = chunks.join('').trim().split('\n').map((line) => JSON.parse(line).msg);
    expect(messages).toEqual(['bulk one', 'bulk two', 'a warning']);
    // The bulk lines were not written on their own before the warning came.
    expect(chunks[0]).toContain('bulk one');
    expect(chunks[0]).toContain('a warning');
  });

  it('writes bulk lines that nothing else pushes out within the flush interval', async () => {
    const proc = child({ bufferBytes: 16000, flushMs: 100, maxBufferBytes: 1 << 20 }, `
      bulk.info('alone');
      setTimeout(() => {}, 30000);
    `);
    started.push(proc);
    const chunks = await chunksUntil(proc, (text) => text.includes('alone'));
    expect(JSON.parse(chunks.join('').trim()).msg).toBe('alone');
  });

  it('drops and counts lines a stdout nobody reads cannot take, and keeps running', async () => {
    // 8 MiB of lines into a pipe that is never read (64 KiB in the kernel) through a 256 KiB buffer.
    const proc = child({ bufferBytes: 4096, flushMs: 50, maxBufferBytes: 256 * 1024 }, `
      const line = 'x'.repeat(200);
      let sent = 0;
      const burst = () => {
        for (let i = 0; i < 2000; i++) bulk.info(line);
        sent += 2000;
        if (sent < 40000) return setImmediate(burst);
        setTimeout(async () => {
          const metric = await registry.getSingleMetric('mesh_bridge_log_lines_dropped_total').get();
          process.stderr.write('DROPPED ' + metric.values[0].value + ' RSS ' + process.memoryUsage().rss + '\\n');
        }, 300);
      };
      burst();
      setTimeout(() => {}, 30000);
    `);
    started.push(proc);
    proc.stdout?.pause(); // never read
    const report = await new Promise<string>((resolve, reject) => {
      let err = '';
      proc.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        if (/DROPPED \d+ RSS \d+/.test(err)) resolve(err);
      });
      proc.on('exit', (code) => reject(new Error(`child exited (${code}): ${err}`)));
    });
    const [, dropped, rss] = /DROPPED (\d+) RSS (\d+)/.exec(report) as RegExpExecArray;
    // Most of the 40,000 lines found no room: counted, not kept.
    expect(Number(dropped)).toBeGreaterThan(30_000);
    expect(Number(rss)).toBeLessThan(400 * 1024 * 1024);
  });
});

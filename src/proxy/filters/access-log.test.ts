import { Writable } from 'node:stream';
import pino from 'pino';
import { AccessLogFilter, accessLogConfigSchema } from './access-log';
import { testRequest } from './test-request';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('AccessLogFilter', () => {
  it('logs the sampled share of successes and every failure, with its outcome class and blame', async () => {
    const { logger, lines } = capture();
    let i = 0;
    const filter = new AccessLogFilter(accessLogConfigSchema.parse({ sample: 0.1 }), logger, () => (i++ % 10) / 10);
    for (let n = 0; n < 100; n++) filter.onComplete(testRequest({ app: 'web' }), 'ok', 1500);
    filter.onComplete(testRequest(), 'caller_gone', 200);
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => l.outcome === 'ok')).toHaveLength(10);
    expect(lines.find((l) => l.outcome === 'caller_gone')).toMatchObject({ blame: 'caller', service: 'com.example.Greeter', method: 'sayHello' });
    expect(lines[0]).toMatchObject({ callerApp: 'web', callerIdentity: 'unverified', latencyMs: 1.5 });
    expect(lines.find((l) => l.outcome === 'caller_gone')).toMatchObject({ callerIdentity: 'none' });
    expect(lines[0]).not.toHaveProperty('refusal');
  });

  it('says which kind of local answer a call got: a fallback apart from a refusal', async () => {
    const { logger, lines } = capture();
    const filter = new AccessLogFilter(accessLogConfigSchema.parse({ sample: 0 }), logger);
    filter.onComplete(testRequest(), 'bridge_refusal', 10, 0, 'degraded');
    filter.onComplete(testRequest(), 'bridge_refusal', 10, 0, 'rate_limited');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.outcome, l.refusal, l.blame])).toEqual([
      ['bridge_refusal', 'degraded', 'bridge'],
      ['bridge_refusal', 'rate_limited', 'bridge'],
    ]);
  });
});

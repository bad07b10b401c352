// Degradation answers as a Java consumer reads them: the fallback values a config writes in YAML,
// turned into Dubbo response frames by the degrade filter and the Dubbo listener's encoder, are
// read by Caucho Hessian 4.0.38 (Java) with the Java types the config meant (int vs long, a
// BigDecimal, a Date, an enum, a DTO), and a fallback exception is a Throwable with its message.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dubboFallbackFrame } from '../../src/proxy/dubbo/fallback-reply';
import { DegradeFilter, degradeConfigSchema } from '../../src/proxy/filters/degrade';
import type { FallbackAnswer, LocalReply } from '../../src/proxy/filters/filter';
import { testRequest } from '../../src/proxy/filters/test-request';
import { cleanupJava, javaUnavailable, runJava } from '../support/java';

const unavailable = javaUnavailable();
const describeJava = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`SKIPPING Java fallback tests: ${unavailable}`);

/** name -> [the answer as config writes it, the Java class read, HessianGround's canonical form]. */
const cases: Record<string, [Record<string, unknown>, string, string]> = {
  string: [{ type: 'value', value: 'cached' }, 'java.lang.String', '"cached"'],
  int: [{ type: 'value', value: 42 }, 'java.lang.Integer', 'Integer(42)'],
  long_from_size: [{ type: 'value', value: 2 ** 40 }, 'java.lang.Long', `Long(${2 ** 40})`],
  long_typed: [{ type: 'value', value: { $long: '9007199254740993' } }, 'java.lang.Long', 'Long(9007199254740993)'],
  double: [{ type: 'value', value: { $double: 1 } }, 'java.lang.Double', 'Double(1.0)'],
  big_decimal: [{ type: 'value', value: { $bigDecimal: '9.99' } }, 'java.math.BigDecimal', 'BigDecimal(9.99)'],
  date: [{ type: 'value', value: { $date: '2026-01-01T00:00:00Z' } }, 'java.util.Date', `Date(${Date.parse('2026-01-01T00:00:00Z')})`],
  enum: [{ type: 'value', value: { $enum: 'com.example.Color', name: 'BLUE' } }, 'com.example.Color', 'Color.BLUE'],
  map: [{ type: 'value', value: { currency: 'EUR', cents: { $long: 1200 } } }, 'java.util.HashMap', 'HashMap{"cents"=Long(1200), "currency"="EUR"}'],
  dto: [
    { type: 'value', value: { $class: 'com.example.Order', fields: { id: 'cached', amount: { $long: 0 }, items: [{ $class: 'com.example.Item', fields: { name: 'none', qty: 0 } }] } } },
    'com.example.Order',
    'Order{id="cached", amount=Long(0), items=ArrayList[Item{name="none", qty=Integer(0)}]}',
  ],
  exception: [{ type: 'exception', class: 'java.lang.IllegalStateException', message: 'stock is switched off' }, 'java.lang.IllegalStateException', 'IllegalStateException(stock is switched off)'],
};

function answerOf(spec: Record<string, unknown>): FallbackAnswer {
  const filter = new DegradeFilter(degradeConfigSchema.parse({ rules: [{ mode: 'force', answer: spec }] }));
  return (filter.onRequest(testRequest()) as LocalReply).answer as FallbackAnswer;
}

afterAll(() => cleanupJava());

describeJava('degradation answers read by Java (Caucho Hessian 4.0.38)', () => {
  let dir: string;
  const javaRead = new Map<string, { className: string; canon: string }>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fallback-java-'));
    for (const [name, [spec]] of Object.entries(cases)) {
      const frame = dubboFallbackFrame(answerOf(spec), 0, 1);
      // Body: the result type (compact int 0x90 + type: 1 value, 0 exception), then the value.
      const body = frame.subarray(16);
      expect(body[0]).toBe(spec.type === 'exception' ? 0x90 : 0x91);
      writeFileSync(join(dir, `${name}.hessian`), body.subarray(1));
    }
    const out = await runJava('com.example.HessianGround', ['read', dir]);
    for (const line of out.split('\n').filter(Boolean)) {
      const [name, className, ...rest] = line.split('\t');
      javaRead.set(name, { className, canon: rest.join('\t') });
    }
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(Object.keys(cases))('%s', (name) => {
    const [, className, canon] = cases[name];
    expect(javaRead.get(name)).toEqual({ className, canon });
  });
});

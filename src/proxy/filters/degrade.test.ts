import { ZodError } from 'zod';
import { decodeResponseBody, decodeHeader } from '../../dubbo-codec';
import { dubboFallbackFrame } from '../dubbo/fallback-reply';
import { httpFallbackResponse } from '../http/fallback-reply';
import { CircuitBreakerFilter, circuitBreakerConfigSchema } from './circuit-breaker';
import { DegradeFilter, degradeConfigSchema } from './degrade';
import type { LocalReply } from './filter';
import { FilterChain } from './filter-chain';
import { testRequest } from './test-request';

const degrade = (rules: unknown[]) => new DegradeFilter(degradeConfigSchema.parse({ rules }));

function decodeFrame(frame: Buffer) {
  return { header: decodeHeader(frame), response: decodeResponseBody(decodeHeader(frame), frame.subarray(16)) };
}

describe('DegradeFilter', () => {
  it('answers a forced rule with its fallback, as a local reply naming the rule', () => {
    const filter = degrade([{ name: 'price-off', match: { method: 'price' }, mode: 'force', answer: { type: 'value', value: 42 } }]);
    expect(filter.onRequest(testRequest({ method: 'other' }))).toBeUndefined();
    const reply = filter.onRequest(testRequest({ method: 'price' })) as LocalReply;
    expect(reply).toMatchObject({ outcome: 'bridge_refusal', refusal: 'degraded', message: 'degraded by price-off (forced)', answer: { kind: 'value', value: 42, json: '42' } });
    expect(filter.counts()).toEqual([{ rule: 'price-off', reason: 'forced', count: 1 }]);
  });

  it('turns an open breaker into the fallback, wherever the breaker stands in the chain', () => {
    const breaker = () => new CircuitBreakerFilter(circuitBreakerConfigSchema.parse({ rules: [{ errorCount: 1, openMs: 60_000 }] }));
    const filter = degrade([{ name: 'greet-fallback', answer: { type: 'exception', class: 'com.example.GreetingUnavailableException', message: 'later' } }]);
    for (const chain of [new FilterChain([breaker(), filter]), new FilterChain([filter, breaker()])]) {
      const request = testRequest();
      chain.run(request, 0, () => undefined);
      chain.complete(request, 'application_exception', 1000, 1);
      let reply: LocalReply | undefined;
      chain.run(testRequest(), 2, (r) => (reply = r));
      expect(reply).toMatchObject({ refusal: 'degraded', answer: { kind: 'exception', className: 'com.example.GreetingUnavailableException' } });
      expect(reply?.message).toMatch(/^degraded by greet-fallback: circuit breaker circuit-breaker\[0\] is open/);
    }
    expect(filter.counts()).toEqual([{ rule: 'greet-fallback', reason: 'circuit_open', count: 2 }]);
  });

  it('leaves other local replies alone, and a static HTTP response to HTTP requests', () => {
    const filter = degrade([{ mode: 'force', answer: { type: 'http', status: 200, body: 'cached' } }]);
    expect(filter.onLocalReply(testRequest(), { outcome: 'bridge_refusal', refusal: 'rate_limited', message: 'x' })).toBeUndefined();
    expect(filter.onRequest(testRequest({ protocol: 'dubbo' }))).toBeUndefined();
    expect(filter.onRequest(testRequest({ protocol: 'http', method: 'GET /' }))).toMatchObject({ answer: { kind: 'http', status: 200, body: 'cached' } });
  });

  it('refuses bad answers with the key path', () => {
    const issue = (rules: unknown[]) => {
      try {
        degradeConfigSchema.parse({ rules });
      } catch (err) {
        const i = (err as ZodError).issues[0];
        return `${i.path.join('.')}: ${i.message}`;
      }
      return 'valid';
    };
    expect(issue([{ answer: { type: 'exception', class: 'Oops', message: 'm' } }])).toMatch(/^rules\.0\.answer\.class: expected a Java class name/);
    expect(issue([{ answer: { type: 'value', value: { $int: 2 ** 40 } } }])).toMatch(/^rules\.0\.answer\.value\.\$int: a Java int must be a 32-bit integer/);
    expect(issue([{ answer: { type: 'value', value: { a: [1, { $class: 'x' }] } } }])).toMatch(/^rules\.0\.answer\.value\.a\.1\.\$class: expected a Java class name/);
    expect(issue([{ answer: { type: 'http', status: 200, headers: { 'content-length': '3' } } }])).toMatch(/^rules\.0\.answer\.headers\.content-length: content-length/);
    expect(issue([{ answer: { type: 'null' }, mode: 'sometimes' }])).toMatch(/^rules\.0\.mode/);
    expect(issue([{ answer: { type: 'http', status: 204, body: 'gone' } }])).toBe('rules.0.answer.body: a 204 or 304 answer has no body');
    expect(issue([{ answer: { type: 'http', status: 204 } }])).toBe('valid');
  });
});

describe('fallback answers on the wire', () => {
  const answer = (spec: unknown) => (degrade([{ mode: 'force', answer: spec }]).onRequest(testRequest({ protocol: 'http', method: 'GET /' })) as LocalReply).answer!;

  it('encodes a Dubbo value, null and exception a consumer decodes, with its request id', () => {
    const price = answer({ type: 'value', value: { $class: 'com.example.Price', fields: { amount: { $bigDecimal: '9.99' }, currency: 'EUR', cents: { $long: 999 } } } });
    const { header, response } = decodeFrame(dubboFallbackFrame(price, 0, 77));
    expect(header).toMatchObject({ status: 20, requestId: 77n, isRequest: false });
    expect(response).toMatchObject({ kind: 'value', value: { amount: { $class: 'java.math.BigDecimal', $: { value: '9.99' } }, currency: 'EUR', cents: 999 } });
    expect(decodeFrame(dubboFallbackFrame(answer({ type: 'null' }), 1, 2)).response.kind).toBe('null');
    const failed = decodeFrame(dubboFallbackFrame(answer({ type: 'exception', class: 'com.example.NoPriceException', message: 'no price now' }), 0, 3)).response;
    expect(failed.kind).toBe('exception');
    expect(JSON.stringify(failed.exception)).toContain('no price now');
  });

  it('writes HTTP fallbacks as complete responses saying they were degraded', () => {
    const text = (spec: unknown, close = false) => httpFallbackResponse(answer(spec), 'degraded by r (forced)', close).bytes.toString('latin1');
    expect(text({ type: 'value', value: { a: { $long: '12' }, d: { $date: 0 } } })).toBe(
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-mesh-bridge-degraded: degraded by r (forced)\r\ncontent-length: 39\r\n\r\n{"a":12,"d":"1970-01-01T00:00:00.000Z"}',
    );
    expect(text({ type: 'null' }, true)).toBe('HTTP/1.1 204 No Content\r\nx-mesh-bridge-degraded: degraded by r (forced)\r\nconnection: close\r\n\r\n');
    expect(text({ type: 'http', status: 200, headers: { 'cache-control': 'no-store' }, body: 'hé' })).toMatch(/^HTTP\/1\.1 200 OK\r\ncache-control: no-store\r\n.*content-length: 3\r\n\r\nh/s);
    expect(httpFallbackResponse(answer({ type: 'value', value: 'x' }), 'm', false, true).bytes.toString('latin1')).toMatch(/content-length: 3\r\n\r\n$/);
    expect(text({ type: 'exception', class: 'com.example.NoPriceException', message: 'no price' })).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n.*"code":"HTTP_DEGRADED"/s);
  });
});

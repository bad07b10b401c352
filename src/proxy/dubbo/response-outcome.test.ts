import { encodeHeartbeat, encodeResponse } from '../../dubbo-codec';
import { responseOutcome } from './response-outcome';

describe('responseOutcome', () => {
  it('reads a status-20 exception result (with or without attachments) as an application exception', () => {
    const thrown = { $class: 'java.lang.IllegalStateException', $: { detailMessage: 'no such order' } };
    expect(responseOutcome(encodeResponse({ requestId: 1n, exception: thrown }))).toBe('application_exception');
    expect(responseOutcome(encodeResponse({ requestId: 1n, exception: thrown, attachments: { a: 'b' } }))).toBe('application_exception');
  });

  it('reads values and nulls as ok', () => {
    expect(responseOutcome(encodeResponse({ requestId: 1n, value: 'x' }))).toBe('ok');
    expect(responseOutcome(encodeResponse({ requestId: 1n, value: null }))).toBe('ok');
    expect(responseOutcome(encodeResponse({ requestId: 1n, value: 'x', attachments: { a: 'b' } }))).toBe('ok');
    expect(responseOutcome(encodeHeartbeat(1n, false))).toBe('ok');
  });

  it('maps error statuses: 100 overloaded, 31 timeout, 80 (sofa business exceptions) and 70 application', () => {
    expect(responseOutcome(encodeResponse({ requestId: 1n, status: 100, errorMessage: 'pool' }))).toBe('upstream_overloaded');
    expect(responseOutcome(encodeResponse({ requestId: 1n, status: 31, errorMessage: 'slow' }))).toBe('response_timeout');
    expect(responseOutcome(encodeResponse({ requestId: 1n, status: 80, errorMessage: 'boom' }))).toBe('application_exception');
    expect(responseOutcome(encodeResponse({ requestId: 1n, status: 70, errorMessage: 'boom' }))).toBe('application_exception');
  });

  it('reads a frame where it lies inside a larger buffer', () => {
    const thrown = { $class: 'java.lang.IllegalStateException', $: { detailMessage: 'no such order' } };
    const ok = encodeResponse({ requestId: 1n, value: 'x' });
    const failed = encodeResponse({ requestId: 2n, exception: thrown });
    const chunk = Buffer.concat([ok, failed, ok]);
    expect(responseOutcome(chunk, 0, ok.length)).toBe('ok');
    expect(responseOutcome(chunk, ok.length, ok.length + failed.length)).toBe('application_exception');
    expect(responseOutcome(chunk, ok.length + failed.length, chunk.length)).toBe('ok');
  });
});

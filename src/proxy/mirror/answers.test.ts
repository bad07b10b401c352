import { encodeResponse, javaThrowable } from '../../dubbo-codec';
import { dubboAnswer, dubboAnswerDifference } from './dubbo-answer';
import { headerMap, httpAnswerDifference } from './http-answer';
import { JsonPath } from './json-path';

const ignore = (...texts: string[]): JsonPath[] => texts.map((t) => JsonPath.parse(t) as JsonPath);

describe('Dubbo answers', () => {
  const value = (v: unknown): Buffer => encodeResponse({ requestId: 1n, value: v });
  it('match on equal decoded values, ignore rules applied to the result', () => {
    expect(dubboAnswerDifference(dubboAnswer(value({ id: 1, at: 5 })), dubboAnswer(value({ id: 1, at: 6 })), ignore('$.at'))).toBeNull();
    expect(dubboAnswerDifference(dubboAnswer(value({ id: 1 })), dubboAnswer(value({ id: 2 })), [])).toMatchObject({ path: ['id'], primary: 1, shadow: 2 });
  });

  it('tell a value from an exception, and exceptions apart by class and message', () => {
    const thrown = (name: string, message: string): Buffer => encodeResponse({ requestId: 1n, exception: javaThrowable({ name, message }) });
    expect(dubboAnswerDifference(dubboAnswer(value('x')), dubboAnswer(thrown('com.x.Oops', 'bad')), [])).toMatchObject({ path: ['(kind)'] });
    expect(dubboAnswerDifference(dubboAnswer(thrown('com.x.OopsException', 'bad')), dubboAnswer(thrown('com.x.OopsException', 'bad')), [])).toBeNull();
    expect(dubboAnswerDifference(dubboAnswer(thrown('com.x.OopsException', 'bad')), dubboAnswer(thrown('com.x.OopsException', 'worse')), [])).toMatchObject({ path: ['message'] });
    expect(dubboAnswerDifference(dubboAnswer(thrown('com.x.OopsException', 'bad')), dubboAnswer(thrown('com.x.OtherException', 'bad')), [])).toMatchObject({ path: ['class'] });
    // hessian.js keeps the class only of *Exception names; others still compare by message.
    expect(dubboAnswerDifference(dubboAnswer(thrown('com.x.Oops', 'bad')), dubboAnswer(thrown('com.x.Oops', 'worse')), [])).toMatchObject({ path: ['message'] });
  });

  it('compare error statuses (sofa-rpc-node status 80) by status and message', () => {
    const error = (status: number, message: string): Buffer => encodeResponse({ requestId: 1n, status, errorMessage: message });
    expect(dubboAnswerDifference(dubboAnswer(error(80, 'no')), dubboAnswer(error(80, 'no')), [])).toBeNull();
    expect(dubboAnswerDifference(dubboAnswer(error(80, 'no')), dubboAnswer(error(70, 'no')), [])).toMatchObject({ path: ['(status)'], primary: 80, shadow: 70 });
  });
});

describe('HTTP answers', () => {
  const answer = (status: number, fields: string[], body: string, ignoreHeaders: string[] = []) => ({ status, headers: headerMap(fields, new Set(ignoreHeaders)), body: Buffer.from(body) });
  const json = ['Content-Type', 'application/json', 'Date', 'Mon', 'Content-Length', '10'];

  it('match JSON bodies that differ only in an ignored field, and volatile headers', () => {
    const a = answer(200, [...json, 'Date', 'x'], '{"id":1,"timestamp":1}');
    const b = answer(200, json, '{"timestamp":2, "id":1}');
    expect(httpAnswerDifference(a, b, ignore('$.timestamp'))).toBeNull();
    expect(httpAnswerDifference(a, b, [])).toMatchObject({ path: ['timestamp'] });
  });

  it('report status, header and byte differences, never a secret header value', () => {
    expect(httpAnswerDifference(answer(200, [], 'a'), answer(404, [], 'a'), [])).toMatchObject({ path: ['(status)'], primary: 200, shadow: 404 });
    expect(httpAnswerDifference(answer(200, ['X-Api-Key', 'k1'], 'a'), answer(200, ['X-Api-Key', 'k2'], 'a'), [])).toEqual({ path: ['(header)', 'x-api-key'], primary: '(secret)', shadow: '(secret)' });
    expect(httpAnswerDifference(answer(200, ['X-Served-By', 'old'], 'a'), answer(200, ['X-Served-By', 'new'], 'a', ['x-served-by']), [])).toMatchObject({ path: ['(header)', 'x-served-by'] });
    expect(httpAnswerDifference(answer(200, ['X-Served-By', 'old'], 'a', ['x-served-by']), answer(200, ['X-Served-By', 'new'], 'a', ['x-served-by']), [])).toBeNull();
    expect(httpAnswerDifference(answer(200, [], 'plain a'), answer(200, [], 'plain b'), [])).toMatchObject({ path: ['(body)'] });
  });
});

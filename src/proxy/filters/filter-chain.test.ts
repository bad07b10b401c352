import type { Filter, FilterContext, ProxyRequest } from './filter';
import { FilterChain } from './filter-chain';

const request: ProxyRequest = {
  protocol: 'dubbo',
  service: 'com.example.Svc',
  version: '',
  group: '',
  method: 'sayHello',
  remoteAddress: '127.0.0.1:1',
  callerApp: () => undefined,
  attribute: () => undefined,
  argument: () => undefined,
};

describe('FilterChain', () => {
  it('continues through every filter when none answers', () => {
    const seen: string[] = [];
    const pass = (name: string): Filter => ({ name, onRequest: () => void seen.push(name) });
    let result: unknown = 'not called';
    new FilterChain([pass('a'), pass('b')]).run(request, 0, (reply) => (result = reply));
    expect(seen).toEqual(['a', 'b']);
    expect(result).toBeUndefined();
  });

  it('stops at the first filter that answers', () => {
    const later = jest.fn();
    const deny: Filter = { name: 'deny', onRequest: () => ({ outcome: 'bridge_refusal', refusal: 'denied', message: 'rule x' }) };
    let result: unknown;
    new FilterChain([deny, { name: 'later', onRequest: later }]).run(request, 0, (reply) => (result = reply));
    expect(later).not.toHaveBeenCalled();
    expect(result).toMatchObject({ refusal: 'denied' });
  });

  it('resumes a held request at the next filter, once', () => {
    let held: FilterContext | undefined;
    const hold: Filter = { name: 'hold', onRequest: (_r, _n, ctx) => ((held = ctx), 'held') };
    const after = jest.fn();
    const done = jest.fn();
    new FilterChain([hold, { name: 'after', onRequest: after }]).run(request, 0, done);
    expect(done).not.toHaveBeenCalled();
    held?.resume();
    held?.resume();
    expect(after).toHaveBeenCalledTimes(1);
    expect(done).toHaveBeenCalledTimes(1);
  });

  it('goes on when a filter resumes before it returns held', () => {
    const quick: Filter = { name: 'quick', onRequest: (_r, _n, ctx) => (ctx.resume(), 'held') };
    const after = jest.fn();
    const done = jest.fn();
    new FilterChain([quick, { name: 'after', onRequest: after }]).run(request, 0, done);
    expect(after).toHaveBeenCalledTimes(1);
    expect(done).toHaveBeenCalledWith(undefined);
  });

  it('offers every local reply, answered at once or on resume, to each filter that may replace it, in order', () => {
    const seen: string[] = [];
    const rewriter = (name: string): Filter => ({
      name,
      onRequest: () => undefined,
      onLocalReply: (_r, reply) => (seen.push(`${name}:${reply.message}`), { ...reply, message: `${reply.message}>${name}` }),
    });
    let held: FilterContext | undefined;
    const hold: Filter = { name: 'hold', onRequest: (_r, _n, ctx) => ((held = ctx), 'held') };
    const replies: string[] = [];
    const chain = new FilterChain([rewriter('a'), hold, rewriter('b')]);
    chain.run(request, 0, (reply) => replies.push(String(reply?.message)));
    held?.resume({ outcome: 'bridge_refusal', refusal: 'circuit_open', message: 'open' });
    expect(replies).toEqual(['open>a>b']);
    expect(seen).toEqual(['a:open', 'b:open>a']);
  });
});

// Unit tests for how what the provider URL learned is stored in ZooKeeper and merged between bridges.
import { formatLearned, mergeLearned, parseLearned } from './learned-params-store';

describe('learned parameters as stored', () => {
  it('reads back what it writes', () => {
    const learned = { methods: ['a', 'b'], params: new Map([['timeout', '5000']]) };
    expect(parseLearned(formatLearned(learned))).toEqual(learned);
  });

  it('refuses what is not an entry', () => {
    for (const text of ['nope', '[]', '{"methods": "a"}', '{"methods": [1], "params": {}}', '{"methods": [], "params": {"t": 5}}', '{"methods": []}']) {
      expect(parseLearned(Buffer.from(text))).toBeNull();
    }
  });

  it('merges methods as a union and lets this bridge\'s settings win', () => {
    const stored = { methods: ['a', 'c'], params: new Map([['timeout', '1000'], ['retries', '2']]) };
    const mine = { methods: ['b'], params: new Map([['timeout', '5000']]) };
    expect(mergeLearned(stored, mine)).toEqual({ methods: ['a', 'b', 'c'], params: new Map([['retries', '2'], ['timeout', '5000']]) });
  });
});

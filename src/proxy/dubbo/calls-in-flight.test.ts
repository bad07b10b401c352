import { CallsInFlight, InFlightLinks } from './calls-in-flight';

class Call implements InFlightLinks<Call> {
  previousInFlight: Call | null = null;
  nextInFlight: Call | null = null;
  inFlightList: CallsInFlight<Call> | null = null;
  constructor(readonly name: string) {}
}

describe('CallsInFlight', () => {
  it('counts calls added once, removes them from anywhere, and clears oldest first', () => {
    const list = new CallsInFlight<Call>();
    const calls = ['a', 'b', 'c', 'd', 'e'].map((n) => new Call(n));
    for (const call of calls) list.add(call);
    list.add(calls[0]);
    expect(list.size).toBe(5);
    expect(list.delete(calls[2])).toBe(true);
    expect(list.delete(calls[2])).toBe(false);
    expect(list.delete(calls[4])).toBe(true);
    expect(list.delete(calls[0])).toBe(true);
    expect(list.size).toBe(2);
    expect(list.clear().map((c) => c.name)).toEqual(['b', 'd']);
    expect(list.size).toBe(0);
    expect(calls.every((c) => c.inFlightList === null && c.nextInFlight === null && c.previousInFlight === null)).toBe(true);
  });

  it('leaves a call of another list alone', () => {
    const one = new CallsInFlight<Call>();
    const other = new CallsInFlight<Call>();
    const call = new Call('x');
    one.add(call);
    other.add(call);
    expect(other.delete(call)).toBe(false);
    expect(other.size).toBe(0);
    expect(one.size).toBe(1);
  });
});

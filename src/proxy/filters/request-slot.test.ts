import { RequestSlot } from './request-slot';
import { testRequest } from './test-request';

describe('RequestSlot', () => {
  it('keeps each slot its own value on a request, and take clears it once', () => {
    // More than have an index in a request's array (32): the last ones keep properties of their own.
    const slots = Array.from({ length: 40 }, (_, i) => new RequestSlot<number>(`slot ${i}`));
    const request = testRequest();
    const other = testRequest();
    slots.forEach((slot, i) => slot.set(request, i));
    expect(slots.map((slot) => slot.get(request))).toEqual(slots.map((_, i) => i));
    expect(slots.map((slot) => slot.get(other))).toEqual(slots.map(() => undefined));
    expect(slots[3].take(request)).toBe(3);
    expect(slots[3].take(request)).toBeUndefined();
    expect(slots[11].take(request)).toBe(11);
    expect(slots[11].get(request)).toBeUndefined();
    expect(slots[39].take(request)).toBe(39);
    expect(slots[39].get(request)).toBeUndefined();
    expect(slots[2].get(request)).toBe(2);
  });

  it('reads a slot made after a request got its array', () => {
    const early = new RequestSlot<string>('early');
    const request = testRequest();
    early.set(request, 'a');
    const late = new RequestSlot<string>('late');
    expect(late.get(request)).toBeUndefined();
    late.set(request, 'b');
    expect([early.get(request), late.get(request)]).toEqual(['a', 'b']);
  });
});

import { SlotSet, Slotted } from './slot-set';

const item = (name: string): Slotted & { name: string } => ({ name, slot: -1 });

describe('SlotSet', () => {
  it('adds, finds and deletes members, the last taking the place of the one deleted', () => {
    const set = new SlotSet<Slotted & { name: string }>();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    set.add(a);
    set.add(b);
    set.add(c);
    set.add(b); // again: nothing changes
    expect(set.size).toBe(3);
    expect(set.delete(a)).toBe(true);
    expect(set.has(a)).toBe(false);
    expect(a.slot).toBe(-1);
    expect(set.snapshot().map((i) => i.name)).toEqual(['c', 'b']);
    expect(set.delete(a)).toBe(false);
    expect(set.has(b) && set.has(c)).toBe(true);
  });

  it('does not take a member of another set for one of its own', () => {
    const one = new SlotSet<Slotted & { name: string }>();
    const other = new SlotSet<Slotted & { name: string }>();
    const a = item('a');
    const b = item('b');
    one.add(a);
    other.add(b);
    expect(other.has(a)).toBe(false);
    expect(other.delete(a)).toBe(false);
    expect(one.has(a)).toBe(true);
  });

  it('gives a snapshot that a change to the set does not alter', () => {
    const set = new SlotSet<Slotted & { name: string }>();
    const members = ['a', 'b', 'c'].map(item);
    for (const m of members) set.add(m);
    const seen = set.snapshot();
    set.delete(members[0]);
    expect(seen.map((i) => i.name)).toEqual(['a', 'b', 'c']);
    expect(set.size).toBe(2);
  });
});

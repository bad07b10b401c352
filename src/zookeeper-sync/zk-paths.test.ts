// Unit tests for the ZooKeeper layout helpers.
import { DEFAULT_LAYOUT, categoryPath, electionLeader, electionNodePrefix, isValidNodeName, ledgerKeyOf, ledgerNodeName, parseElectionNode } from './zk-paths';

describe('zk-paths', () => {
  it('puts Dubbo categories under the interface', () => {
    expect(categoryPath(DEFAULT_LAYOUT, 'org.demo.Greeter', 'providers')).toBe('/dubbo/org.demo.Greeter/providers');
    expect(categoryPath({ ...DEFAULT_LAYOUT, dubboRoot: '/estate-a' }, 'X', 'routers')).toBe('/estate-a/X/routers');
  });

  it('turns any ledger key into one znode name and back', () => {
    const key = '/dubbo/org.demo.Greeter/providers/dubbo%3A%2F%2F10.0.0.1%3A20880%2Forg.demo.Greeter%3Fmethods%3Da%252Cb';
    const name = ledgerNodeName(key);
    expect(isValidNodeName(name)).toBe(true);
    expect(ledgerKeyOf(name)).toBe(key);
    expect(ledgerKeyOf('%E0%A4%A')).toBeNull();
  });

  it('rejects names ZooKeeper would refuse', () => {
    expect(isValidNodeName('.')).toBe(false);
    expect(isValidNodeName('..')).toBe(false);
    expect(isValidNodeName('a/b')).toBe(false);
    expect(isValidNodeName('')).toBe(false);
    expect(isValidNodeName('10.0.0.1:8080')).toBe(true);
  });

  it('elects the lowest sequence and reads back the owner', () => {
    const names = [`${electionNodePrefix('bridge b')}0000000007`, `${electionNodePrefix('bridge_a')}0000000003`, 'junk'];
    expect(electionLeader(names)).toBe('bridge_a_0000000003');
    expect(parseElectionNode(names[0])).toEqual({ owner: 'bridge b', sequence: 7 });
    expect(parseElectionNode('junk')).toBeNull();
    expect(electionLeader([])).toBeNull();
  });
});

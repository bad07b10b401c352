import { buildProgram } from './main';

const names = (only?: string): string[] => buildProgram(only).commands.map((c) => c.name());

describe('buildProgram', () => {
  it('loads only the subcommand that runs, so a sidecar does not carry the bridge in memory', () => {
    expect(names('sidecar')).toEqual(['sidecar']);
    expect(names('decode')).toEqual(['decode']);
  });

  it('has every subcommand for help, an unknown name or none', () => {
    const all = ['bridge', 'decode', 'cutover', 'sidecar'];
    expect(names()).toEqual(all);
    expect(names('help')).toEqual(all);
    expect(names('__proto__')).toEqual(all);
    expect(names('--version')).toEqual(all);
  });
});

import { MeshBridgeError } from '../../errors';
import { assertParserWorks, verifyParser } from './http-parser';

describe("Node's internal HTTP parser, checked at startup", () => {
  it('works on this Node', () => {
    expect(() => assertParserWorks()).not.toThrow();
  });

  it('refuses a module without the parser, or one that parses differently, with HTTP_PARSER_UNAVAILABLE', () => {
    const refused = (candidate: unknown): MeshBridgeError => {
      try {
        verifyParser(candidate);
      } catch (err) {
        return err as MeshBridgeError;
      }
      throw new Error('not refused');
    };
    expect(refused(undefined)).toMatchObject({ code: 'HTTP_PARSER_UNAVAILABLE', value: process.version });
    const real = require('_http_common') as { HTTPParser: { kOnBody: number }; methods: string[] };
    expect(refused({ ...real, methods: [] }).message).toContain('methods');
    // A parser whose method numbering moved: the self-test sees another method.
    expect(refused({ ...real, methods: [...real.methods].reverse() }).message).toContain('self-test');
  });
});

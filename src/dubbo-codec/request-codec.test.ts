import { FrameDecoder, Frame } from './frame-decoder';
import { HessianWriter } from './hessian2';
import { decodeRequestBody, encodeRequest, readRoutingView, readRoutingViewAt, reencodeRequest } from './request-codec';
import { countParameters } from './parameter-types';
import { CodecError } from '../errors';
import { HessianScanner } from './hessian2-scanner';

function onlyFrame(bytes: Buffer): Frame {
  const frames: Frame[] = [];
  new FrameDecoder().push(bytes, (f) => frames.push(f));
  expect(frames).toHaveLength(1);
  return frames[0];
}

const user = { $class: 'org.demo.User', $: { name: 'ann', age: 30, tags: ['a', 'b'] } };
const request = {
  requestId: 12n,
  path: 'org.demo.UserService',
  version: '1.2.0',
  method: 'save',
  parameterTypes: 'Lorg/demo/User;IJ[Ljava/lang/String;',
  args: [user, 5, { $class: 'long', $: 9 }, ['x', 'y']],
  attachments: { group: 'blue', timeout: '3000' },
};

describe('request codec', () => {
  it('counts the parameters of a descriptor', () => {
    expect(countParameters('')).toBe(0);
    expect(countParameters('Ljava/lang/String;I')).toBe(2);
    expect(countParameters('[[Ljava/util/Map;[IJZBCDFS')).toBe(9);
    expect(() => countParameters('Ljava/lang/String')).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_DESCRIPTOR' }));
    expect(() => countParameters('Q')).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_DESCRIPTOR', where: 0 }));
  });

  it('decodes what it encodes, with the attachments a Java consumer adds', () => {
    const frame = onlyFrame(encodeRequest(request));
    expect(frame.header).toMatchObject({ isRequest: true, twoWay: true, event: false, serializationId: 2, requestId: 12n });
    const decoded = decodeRequestBody(frame.body);
    expect(decoded).toMatchObject({ dubboVersion: '2.0.2', path: request.path, version: '1.2.0', method: 'save', parameterTypes: request.parameterTypes });
    expect(decoded.args).toEqual([{ name: 'ann', age: 30, tags: ['a', 'b'] }, 5, 9, ['x', 'y']]);
    expect(decoded.attachments).toEqual({ path: request.path, interface: request.path, version: '1.2.0', group: 'blue', timeout: '3000' });
  });

  it('reads the routing view without the arguments and agrees with the full decode', () => {
    const frame = onlyFrame(encodeRequest(request));
    const view = readRoutingView(frame.body);
    const full = decodeRequestBody(frame.body);
    expect(view).toMatchObject({ path: full.path, version: full.version, method: full.method, parameterTypes: full.parameterTypes, group: 'blue' });
    expect(view.attachments).toEqual(full.attachments);
    expect(view.argumentsOffset).toBeLessThan(view.attachmentsOffset);
  });

  it('finds one attachment by comparing key bytes, and all of them on demand', () => {
    const frame = onlyFrame(encodeRequest({ ...request, attachments: { timeout: '3000', 'x-user': 'u-42', n: 7, group: 'red' } }));
    const view = readRoutingView(frame.body);
    expect(view.group).toBe('red');
    expect(view.attachment('x-user')).toBe('u-42');
    expect(view.attachment('n')).toBe(7);
    expect(view.attachment('missing')).toBeUndefined();
    expect(view.attachments).toMatchObject({ timeout: '3000', 'x-user': 'u-42', n: 7, group: 'red' });
  });

  it('reads the group from a typed attachments map', () => {
    const body = new HessianWriter()
      .writeString('2.0.2')
      .writeString('a.B')
      .writeString('1.0')
      .writeString('m')
      .writeString('')
      .write({ $class: 'java.util.HashMap', $: { group: 'g2' } })
      .toBuffer();
    expect(readRoutingView(body).group).toBe('g2');
  });

  it('reads a body with no attachments map at all', () => {
    const body = new HessianWriter().writeString('2.0.2').writeString('a.B').writeString('').writeString('m').writeString('I').write(1).toBuffer();
    expect(readRoutingView(body).attachments).toEqual({});
    expect(decodeRequestBody(body)).toMatchObject({ args: [1], attachments: {} });
  });

  it('re-encodes with a new id and attachments while the argument bytes stay byte for byte', () => {
    const frame = onlyFrame(encodeRequest(request));
    const view = readRoutingView(frame.body);
    const out = onlyFrame(reencodeRequest(frame, { requestId: 77n, attachments: { ...view.attachments, 'x-mesh-stack': 'mesh', weight: 3 } }, view));
    expect(out.header.requestId).toBe(77n);
    expect(out.body.subarray(0, view.attachmentsOffset).equals(frame.body.subarray(0, view.attachmentsOffset))).toBe(true);
    const decoded = decodeRequestBody(out.body);
    expect(decoded.args).toEqual(decodeRequestBody(frame.body).args);
    expect(decoded.attachments).toEqual({ ...view.attachments, 'x-mesh-stack': 'mesh', weight: 3 });
  });

  it('re-encodes only the id without touching anything else', () => {
    const frame = onlyFrame(encodeRequest(request));
    const out = reencodeRequest(frame, { requestId: 5n });
    expect(out.subarray(12).equals(frame.bytes.subarray(12))).toBe(true);
    expect(out.readBigInt64BE(4)).toBe(5n);
    expect(frame.header.requestId).toBe(12n);
  });

  it('refuses object-valued attachments when re-encoding, naming the key', () => {
    const frame = onlyFrame(encodeRequest(request));
    expect(() => reencodeRequest(frame, { attachments: { ctx: { a: 1 } } })).toThrow(expect.objectContaining({ code: 'HESSIAN_ENCODE', where: 'ctx' }));
  });

  it('refuses arguments that do not match the descriptor', () => {
    expect(() => encodeRequest({ ...request, args: [1] })).toThrow(expect.objectContaining({ code: 'HESSIAN_ENCODE' }));
  });

  describe('routing view laziness', () => {
    /** A body whose head is sound and whose only argument is cut short by a stray code. */
    function bodyWithBadArgument(path = 'a.Broken'): Buffer {
      const head = new HessianWriter().writeString('2.0.2').writeString(path).writeString('1.0').writeString('m').writeString('I').toBuffer();
      return Buffer.concat([head, Buffer.from([0x60 /* an object of a class never defined */]), new HessianWriter().write({ group: 'g' }).toBuffer()]);
    }

    it('reads path, version, method and descriptor without touching the arguments', () => {
      const view = readRoutingView(bodyWithBadArgument());
      expect([view.dubboVersion, view.path, view.version, view.method, view.parameterTypes]).toEqual(['2.0.2', 'a.Broken', '1.0', 'm', 'I']);
      expect(view.argumentsOffset).toBeGreaterThan(0);
    });

    it('reports a bad argument as a typed codec error on the first access past the arguments, every time', () => {
      const view = readRoutingView(bodyWithBadArgument());
      expect(() => view.group).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE', where: view.argumentsOffset }));
      expect(() => view.attachmentsOffset).toThrow(CodecError);
      expect(() => view.attachment('group')).toThrow(CodecError);
      expect(() => view.attachments).toThrow(CodecError);
      expect(() => view.group).toThrow(CodecError);
    });

    it('still refuses a broken head or descriptor at once', () => {
      expect(() => readRoutingView(Buffer.from([0x05, 0x32]))).toThrow(expect.objectContaining({ code: 'DUBBO_TRUNCATED' }));
      const badDescriptor = new HessianWriter().writeString('2.0.2').writeString('a.B').writeString('').writeString('m').writeString('Q').toBuffer();
      expect(() => readRoutingView(badDescriptor)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_DESCRIPTOR' }));
    });

    it('skips the arguments once and agrees with the full decode on every lazy field', () => {
      const frame = onlyFrame(encodeRequest(request));
      const view = readRoutingView(frame.body);
      const offset = view.attachmentsOffset;
      expect(view.attachmentsOffset).toBe(offset);
      expect(view.group).toBe('blue');
      expect(view.attachment('timeout')).toBe('3000');
      expect(view.attachments).toEqual(decodeRequestBody(frame.body).attachments);
      // reencodeRequest reads the offset from a fresh view too
      const out = onlyFrame(reencodeRequest(frame, { attachments: { group: 'green' } }));
      expect(out.body.subarray(0, offset).equals(frame.body.subarray(0, offset))).toBe(true);
      expect(readRoutingView(out.body).group).toBe('green');
    });

    it('reads a group after an attachment key that is not a string', () => {
      const body = new HessianWriter().writeString('2.0.2').writeString('a.B').writeString('').writeString('m').writeString('').toBuffer();
      // H 1:'x' 'group':'g' Z
      const map = Buffer.concat([Buffer.from([0x48, 0x91]), new HessianWriter().writeString('x').writeString('group').writeString('g').toBuffer(), Buffer.from([0x5a])]);
      expect(readRoutingView(Buffer.concat([body, map])).group).toBe('g');
    });

    it('reads attachment objects whose class the arguments defined', () => {
      const frame = onlyFrame(encodeRequest({ ...request, attachments: { group: 'blue' } }));
      const view = readRoutingView(frame.body);
      // Replace the attachments with a map holding an object of the arguments' class (#0, org.demo.User).
      const map = Buffer.concat([Buffer.from([0x48]), new HessianWriter().writeString('u').toBuffer(), Buffer.from([0x60, 0x03, 0x62, 0x6f, 0x62, 0x9f, 0x78]), new HessianWriter().writeString('group').writeString('g2').toBuffer(), Buffer.from([0x5a])]);
      const body = Buffer.concat([frame.body.subarray(0, view.attachmentsOffset), map]);
      expect(readRoutingView(body).group).toBe('g2');
    });
  });

  describe('routing view head cache', () => {
    it('gives each request its own head, whatever was read before', () => {
      const seen = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (const method of ['getA', 'getB', 'setA', 'getAA', 'gétA']) {
          for (const path of ['org.demo.A', 'org.demo.B', 'org.démo.B']) {
            for (const version of ['', '1.0', '2.0']) {
              const frame = onlyFrame(encodeRequest({ requestId: 1n, path, version, method, parameterTypes: 'I', args: [round], attachments: { group: method } }));
              const view = readRoutingView(frame.body);
              expect([view.path, view.version, view.method, view.parameterTypes, view.group]).toEqual([path, version, method, 'I', method]);
              const scanner = new HessianScanner(frame.body);
              for (let i = 0; i < 5; i++) scanner.readString();
              expect(view.argumentsOffset).toBe(scanner.pos);
              seen.set(`${path}|${version}|${method}`, view.method);
            }
          }
        }
      }
      expect(seen.size).toBe(45);
    });

    it('never takes a body for the last head read when it is cut short or differs in its last byte', () => {
      const encode = (parameterTypes: string): Buffer =>
        encodeRequest({ requestId: 1n, path: 'org.demo.Last', version: '1.0', method: 'm', parameterTypes, args: [1], attachments: {} }).subarray(16);
      const body = encode('I');
      const head = readRoutingView(body);
      expect(readRoutingView(body).parameterTypes).toBe('I');
      // The same head bytes up to the descriptor, which is cut: a truncated body, as without a cache.
      // Read in place, so the bytes past the body's end are there (and equal the head's).
      expect(() => readRoutingViewAt(body, 0, head.argumentsOffset - 1)).toThrow(CodecError);
      const other = encode('J');
      expect(readRoutingView(other).parameterTypes).toBe('J');
      expect(readRoutingView(body).parameterTypes).toBe('I');
    });

    it('reads a body in place inside a larger buffer exactly as its own view, from the cache or not', () => {
      // Frames in one chunk, as a proxy reads them: each body is read where it lies, with bytes of
      // other frames on both sides, and must give what a view of the body alone gives.
      const frames = ['getA', 'getB', 'getA', 'getAB', 'getB'].map((method, i) =>
        encodeRequest({ requestId: BigInt(i), path: 'org.demo.InPlace', version: i % 2 === 0 ? '1.0' : '', method, parameterTypes: 'I', args: [i], attachments: { group: `g${i}`, n: i } }),
      );
      const chunk = Buffer.concat([Buffer.from([0xda, 0xbb, 0x12]), ...frames, Buffer.from([0x4e, 0x4e])]);
      let at = 3;
      for (let round = 0; round < 2; round++) {
        at = 3;
        for (const encoded of frames) {
          const alone = readRoutingView(encoded.subarray(16));
          const inPlace = readRoutingViewAt(chunk, at + 16, at + encoded.length);
          for (const view of [inPlace, alone]) expect(view.argumentsOffset).toBe(alone.argumentsOffset);
          expect([inPlace.path, inPlace.version, inPlace.method, inPlace.parameterTypes, inPlace.group, inPlace.attachmentsOffset]).toEqual([
            alone.path,
            alone.version,
            alone.method,
            alone.parameterTypes,
            alone.group,
            alone.attachmentsOffset,
          ]);
          expect(inPlace.attachments).toEqual(alone.attachments);
          at += encoded.length;
        }
      }
      expect(at).toBe(chunk.length - 2);
    });

    it('reports a bad argument read in place at its offset in the body', () => {
      const head = new HessianWriter().writeString('2.0.2').writeString('a.InPlaceBroken').writeString('1.0').writeString('m').writeString('I').toBuffer();
      const body = Buffer.concat([head, Buffer.from([0x60]), new HessianWriter().write({ group: 'g' }).toBuffer()]);
      const chunk = Buffer.concat([Buffer.alloc(40, 0x4e), body, Buffer.alloc(7, 0x4e)]);
      for (let i = 0; i < 2; i++) {
        const view = readRoutingViewAt(chunk, 40, 40 + body.length);
        expect(view.path).toBe('a.InPlaceBroken');
        expect(() => view.group).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE', where: head.length }));
      }
    });

    it('reads a null version and a long path, which the cache passes by', () => {
      const longPath = `org.demo.${'x'.repeat(300)}`;
      for (let i = 0; i < 2; i++) {
        const body = new HessianWriter().writeString('2.0.2').writeString(longPath).write(null).writeString('m').writeString('').toBuffer();
        expect(readRoutingView(body)).toMatchObject({ path: longPath, version: '', method: 'm', parameterTypes: '' });
      }
    });
  });
});

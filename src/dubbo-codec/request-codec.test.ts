import { FrameDecoder, Frame } from './frame-decoder';
import { HessianWriter } from './hessian2';
import { decodeRequestBody, encodeRequest, readRoutingView, reencodeRequest } from './request-codec';
import { countParameters } from './parameter-types';

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
});

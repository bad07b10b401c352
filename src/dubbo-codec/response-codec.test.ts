import { Frame, FrameDecoder } from './frame-decoder';
import { encodeHeader } from './header';
import { HessianWriter } from './hessian2';
import { ResponseType, decodeResponseBody, encodeHeartbeat, encodeResponse, isHeartbeat } from './response-codec';

function onlyFrame(bytes: Buffer): Frame {
  const frames: Frame[] = [];
  new FrameDecoder().push(bytes, (f) => frames.push(f));
  return frames[0];
}

function decode(bytes: Buffer) {
  const frame = onlyFrame(bytes);
  return decodeResponseBody(frame.header, frame.body);
}

describe('response codec', () => {
  it('round-trips a value, with and without attachments', () => {
    expect(decode(encodeResponse({ requestId: 1n, value: { a: [1, 2] } }))).toEqual({ status: 20, kind: 'value', value: { a: [1, 2] }, attachments: {} });
    expect(decode(encodeResponse({ requestId: 1n, value: 'v', attachments: { k: 'x' } }))).toEqual({ status: 20, kind: 'value', value: 'v', attachments: { k: 'x' } });
  });

  it('round-trips null results of both types', () => {
    expect(decode(encodeResponse({ requestId: 1n }))).toMatchObject({ kind: 'null', value: null });
    const bytes = encodeResponse({ requestId: 1n, kind: 'null', attachments: {} });
    expect(onlyFrame(bytes).body[0]).toBe(0x90 + ResponseType.NULL_WITH_ATTACHMENTS);
    expect(decode(bytes)).toMatchObject({ kind: 'null', attachments: {} });
  });

  it('writes an Error as a Java exception a reader gets the message of', () => {
    const response = decode(encodeResponse({ requestId: 1n, exception: new Error('no such user') }));
    expect(response.kind).toBe('exception');
    expect(response.exception).toMatchObject({ message: 'no such user' });
  });

  it('reads status-80 string bodies as JavaScript providers send business errors', () => {
    const response = decode(encodeResponse({ requestId: 9n, status: 80, errorMessage: 'Error: boom' }));
    expect(response).toEqual({ status: 80, kind: 'error', errorMessage: 'Error: boom', attachments: {} });
  });

  it('reads a non-string error body without failing', () => {
    const body = new HessianWriter().write({ msg: 'x' }).toBuffer();
    const header = { isRequest: false, twoWay: false, event: false, serializationId: 2, status: 70, requestId: 1n, bodyLength: body.length };
    expect(decodeResponseBody(header, body)).toMatchObject({ kind: 'error', errorMessage: '{"msg":"x"}' });
  });

  it('refuses an unknown result type', () => {
    const body = new HessianWriter().write(9).toBuffer();
    const header = { isRequest: false, twoWay: false, event: false, serializationId: 2, status: 20, requestId: 1n, bodyLength: body.length };
    expect(() => decodeResponseBody(header, body)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_BODY', value: 9 }));
  });

  it('writes heartbeats both ways as Java Dubbo does', () => {
    const ping = encodeHeartbeat(3n, true);
    expect(ping.subarray(0, 4)).toEqual(Buffer.from([0xda, 0xbb, 0xe2, 0x00]));
    expect(ping.subarray(16)).toEqual(Buffer.from([0x4e]));
    const pong = encodeHeartbeat(3n, false);
    expect(pong.subarray(0, 4)).toEqual(Buffer.from([0xda, 0xbb, 0x22, 20]));
    const frame = onlyFrame(pong);
    expect(isHeartbeat(frame.header, frame.body)).toBe(true);
    expect(decodeResponseBody(frame.header, frame.body)).toMatchObject({ kind: 'event', value: null });
  });

  it('does not take an event carrying a value for a heartbeat', () => {
    const body = new HessianWriter().writeString('R').toBuffer();
    const header = { isRequest: true, twoWay: false, event: true, serializationId: 2, status: 0, requestId: 4n, bodyLength: body.length };
    const frame = onlyFrame(Buffer.concat([encodeHeader(header), body]));
    expect(isHeartbeat(frame.header, frame.body)).toBe(false);
  });
});

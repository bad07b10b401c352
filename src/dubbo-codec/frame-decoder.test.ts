import { CodecError } from '../errors';
import { Frame, FrameDecoder } from './frame-decoder';
import { HEADER_LENGTH, encodeHeader } from './header';
import { encodeHeartbeat, encodeResponse } from './response-codec';
import { encodeRequest } from './request-codec';

function sampleStream(): Buffer[] {
  return [
    encodeRequest({ requestId: 1n, path: 'org.demo.Greeter', method: 'hello', parameterTypes: 'Ljava/lang/String;', args: ['a'] }),
    encodeHeartbeat(2n, true),
    encodeResponse({ requestId: 1n, value: 'x'.repeat(70_000) }),
    encodeResponse({ requestId: 3n, status: 80, errorMessage: 'boom' }),
  ];
}

function collect(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) decoder.push(chunk, (frame) => frames.push(frame));
  return frames;
}

function splitEvery(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

describe('FrameDecoder', () => {
  const frames = sampleStream();
  const stream = Buffer.concat(frames);

  it('yields every frame of a coalesced chunk, as views with their stream offsets', () => {
    const got = collect(new FrameDecoder(), [stream]);
    expect(got.map((f) => f.header.requestId)).toEqual([1n, 2n, 1n, 3n]);
    let offset = 0;
    got.forEach((frame, i) => {
      expect(frame.offset).toBe(offset);
      expect(frame.bytes.equals(frames[i])).toBe(true);
      expect(frame.body.length).toBe(frame.header.bodyLength);
      offset += frames[i].length;
    });
  });

  it.each([1, 2, 3, 7, 15, 16, 17, 1000, 65536])('reassembles frames split into %i-byte chunks', (size) => {
    const decoder = new FrameDecoder();
    const got = collect(decoder, splitEvery(stream, size));
    expect(got.map((f) => Buffer.from(f.bytes))).toEqual(frames);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.position).toBe(stream.length);
  });

  it('waits for the rest of a frame without emitting anything', () => {
    const decoder = new FrameDecoder();
    expect(collect(decoder, [stream.subarray(0, frames[0].length - 1)])).toEqual([]);
    expect(decoder.bufferedBytes).toBe(frames[0].length - 1);
    expect(collect(decoder, [stream.subarray(frames[0].length - 1, frames[0].length)])).toHaveLength(1);
  });

  it('rejects a wrong magic on its first byte, naming the offset', () => {
    const decoder = new FrameDecoder();
    const bad = Buffer.concat([frames[0], Buffer.from('GET / HTTP/1.1\r\n')]);
    const got: Frame[] = [];
    let error: unknown;
    try {
      decoder.push(bad, (f) => got.push(f));
    } catch (err) {
      error = err;
    }
    expect(got).toHaveLength(1);
    expect(error).toBeInstanceOf(CodecError);
    expect((error as CodecError).code).toBe('DUBBO_BAD_MAGIC');
    expect((error as CodecError).where).toBe(frames[0].length);
  });

  it('rejects a wrong second magic byte arriving in a later chunk', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.from([0xda]), () => undefined);
    expect(() => decoder.push(Buffer.from([0x00]), () => undefined)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_MAGIC', where: 0 }));
  });

  it('refuses an over-long body from the header alone, before buffering it', () => {
    const decoder = new FrameDecoder({ maxBodyLength: 1024 });
    const header = encodeHeader({ isRequest: true, twoWay: true, event: false, serializationId: 2, status: 0, requestId: 5n, bodyLength: 1025 });
    expect(() => decoder.push(header, () => undefined)).toThrow(expect.objectContaining({ code: 'DUBBO_BODY_TOO_LARGE', value: 1025 }));
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('refuses a negative body length', () => {
    const header = encodeHeader({ isRequest: false, twoWay: false, event: false, serializationId: 2, status: 20, requestId: 5n, bodyLength: -1 });
    expect(() => new FrameDecoder().push(header, () => undefined)).toThrow(expect.objectContaining({ code: 'DUBBO_BODY_TOO_LARGE' }));
  });

  it('refuses an over-long body when the header itself arrives split', () => {
    const decoder = new FrameDecoder({ maxBodyLength: 10 });
    const header = encodeHeader({ isRequest: true, twoWay: true, event: false, serializationId: 2, status: 0, requestId: 5n, bodyLength: 11 });
    decoder.push(header.subarray(0, 9), () => undefined);
    expect(() => decoder.push(header.subarray(9), () => undefined)).toThrow(expect.objectContaining({ code: 'DUBBO_BODY_TOO_LARGE', where: 0 }));
  });

  it('stays failed after an error', () => {
    const decoder = new FrameDecoder();
    expect(() => decoder.push(Buffer.from('xx'), () => undefined)).toThrow(CodecError);
    expect(() => decoder.push(frames[0], () => undefined)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_MAGIC' }));
  });

  it('accepts an empty body', () => {
    const header = encodeHeader({ isRequest: false, twoWay: false, event: true, serializationId: 2, status: 20, requestId: 9n, bodyLength: 0 });
    const got = collect(new FrameDecoder(), [header]);
    expect(got).toHaveLength(1);
    expect(got[0].body.length).toBe(0);
    expect(got[0].bytes.length).toBe(HEADER_LENGTH);
  });

  it('counts every byte pushed in its position, wherever the stream was cut', () => {
    const bytes = Buffer.concat(sampleStream().slice(0, 2));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new FrameDecoder();
      decoder.push(bytes.subarray(0, cut), () => undefined);
      expect(decoder.position).toBe(cut);
    }
  });

  it('holds only the bytes that came of a split frame, never the length its header declares', () => {
    // 20 connections each sending a header that declares 8 MiB and 100 body bytes.
    const header = encodeHeader({ isRequest: true, twoWay: true, event: false, serializationId: 2, status: 0, requestId: 5n, bodyLength: 8 * 1024 * 1024 });
    const start = Buffer.concat([header, Buffer.alloc(100)]);
    const before = process.memoryUsage().arrayBuffers;
    const decoders = Array.from({ length: 20 }, () => new FrameDecoder());
    for (const decoder of decoders) {
      decoder.push(start.subarray(0, 10), () => undefined);
      decoder.push(start.subarray(10), () => undefined);
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 1024 * 1024); // 160 MiB when sized from the header
    expect(decoders[0].bufferedBytes).toBe(116);
  });

  it('skips an oversized frame when asked to, counting its bytes, and decodes the frames after it', () => {
    const big = encodeResponse({ requestId: 7n, value: 'y'.repeat(5000) });
    const bytes = Buffer.concat([frames[0], big, frames[1], big, frames[3]]);
    for (const size of [1, 7, 16, 100, 4096, bytes.length]) {
      const oversized: Array<{ id: bigint; offset: number }> = [];
      const decoder = new FrameDecoder({ maxBodyLength: 1024, onOversized: (header, offset) => oversized.push({ id: header.requestId, offset }) });
      const got = collect(decoder, splitEvery(bytes, size));
      expect(got.map((f) => f.header.requestId)).toEqual([1n, 2n, 3n]);
      expect(oversized).toEqual([
        { id: 7n, offset: frames[0].length },
        { id: 7n, offset: frames[0].length + big.length + frames[1].length },
      ]);
      expect(decoder.position).toBe(bytes.length);
      expect(decoder.midFrame).toBe(false);
    }
  });
});

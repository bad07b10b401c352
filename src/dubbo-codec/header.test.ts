import { FrameHeader, decodeHeader, decodeHeaderLazily, encodeHeader, readRequestId, writeRequestId } from './header';

describe('Dubbo header', () => {
  const request: FrameHeader = { isRequest: true, twoWay: true, event: false, serializationId: 2, status: 0, requestId: 42n, bodyLength: 300 };

  it('round-trips every field', () => {
    expect(decodeHeader(encodeHeader(request))).toEqual(request);
    const response: FrameHeader = { isRequest: false, twoWay: false, event: true, serializationId: 6, status: 70, requestId: -1n, bodyLength: 0 };
    expect(decodeHeader(encodeHeader(response))).toEqual(response);
  });

  it('writes the flag byte Java Dubbo writes', () => {
    const bytes = encodeHeader(request);
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0xda, 0xbb, 0xc2, 0x00]));
    expect(encodeHeader({ ...request, twoWay: false, event: true })[2]).toBe(0xa2);
    expect(encodeHeader({ ...request, isRequest: false, status: 20 })[3]).toBe(20);
  });

  it('keeps request ids as signed 64-bit values, past 2^53', () => {
    const id = 2n ** 62n + 1n;
    const bytes = encodeHeader({ ...request, requestId: id });
    expect(readRequestId(bytes)).toBe(id);
    writeRequestId(bytes, 2n ** 64n - 1n);
    expect(readRequestId(bytes)).toBe(-1n);
  });

  it('names the offset of a bad magic', () => {
    const bytes = encodeHeader(request);
    bytes[1] = 0;
    expect(() => decodeHeader(bytes, 0, 1234)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_MAGIC', where: 1234 }));
  });

  it('reads the same header lazily, the request id made on first read', () => {
    for (const requestId of [0n, 42n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 62n + 5n, -1n, -(2n ** 40n) + 3n, -(2n ** 63n)]) {
      for (const header of [request, { ...request, isRequest: false, twoWay: false, event: true, serializationId: 6, status: 70, bodyLength: 0 }]) {
        const bytes = Buffer.concat([Buffer.alloc(3), encodeHeader({ ...header, requestId })]);
        const lazy = decodeHeaderLazily(bytes, 3, 100);
        const { isRequest, twoWay, event, serializationId, status, bodyLength } = lazy;
        expect({ isRequest, twoWay, event, serializationId, status, requestId: lazy.requestId, bodyLength }).toEqual(decodeHeader(bytes, 3));
        expect(lazy.requestId).toBe(requestId);
      }
    }
    const bytes = encodeHeader(request);
    bytes[0] = 0;
    expect(() => decodeHeaderLazily(bytes, 0, 99)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_MAGIC', where: 99 }));
  });
});

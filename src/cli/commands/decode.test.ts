import { PassThrough, Readable } from 'node:stream';
import { encodeHeartbeat, encodeRequest, encodeResponse } from '../../dubbo-codec';
import { decodeStream } from './decode';

const request = encodeRequest({
  requestId: 7n,
  path: 'org.demo.Echo',
  version: '1.0.0',
  method: 'echo',
  parameterTypes: 'Ljava/lang/String;I',
  args: ['hi', 3],
  attachments: { group: 'blue' },
});
const response = encodeResponse({ requestId: 7n, value: 'hi' });
const heartbeat = encodeHeartbeat(8n, true);

async function run(chunks: Buffer[]): Promise<{ lines: Record<string, unknown>[]; summary: Awaited<ReturnType<typeof decodeStream>> }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const summary = await decodeStream(Readable.from(chunks), out);
  return { lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), summary };
}

describe('decode command', () => {
  it('prints one JSON line per frame, however the stream is cut', async () => {
    const stream = Buffer.concat([request, response, heartbeat]);
    const bytewise = [...stream].map((b) => Buffer.from([b]));
    for (const chunks of [[stream], bytewise]) {
      const { lines, summary } = await run(chunks);
      expect(summary).toEqual({ frames: 3, badFrames: 0, fatal: null });
      expect(lines[0]).toMatchObject({ requestId: '7', kind: 'request', twoWay: true, service: 'org.demo.Echo', version: '1.0.0', group: 'blue', method: 'echo', arguments: ['hi', 3] });
      expect(lines[1]).toMatchObject({ requestId: '7', kind: 'response', status: 20, result: 'hi', offset: request.length });
      expect(lines[2]).toMatchObject({ requestId: '8', kind: 'heartbeat' });
    }
  });

  it('prints the frames before bad magic, then names its offset', async () => {
    const { lines, summary } = await run([request, Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
    expect(lines).toHaveLength(1);
    expect(summary.fatal).toMatchObject({ code: 'DUBBO_BAD_MAGIC', where: request.length });
  });

  it('reports a stream that ends inside a frame, at the frame start', async () => {
    const { lines, summary } = await run([request, response.subarray(0, response.length - 1)]);
    expect(lines).toHaveLength(1);
    expect(summary.fatal).toMatchObject({ code: 'DUBBO_TRUNCATED', where: request.length });
  });

  it('goes on past a frame whose body does not decode, with an error record at the byte', async () => {
    const bad = Buffer.from(request);
    bad[16] = 0x7f; // not a hessian2 value where the dubbo version string starts
    const { lines, summary } = await run([bad, response]);
    expect(summary).toMatchObject({ frames: 2, badFrames: 1, fatal: null });
    expect(lines[0]).toMatchObject({ error: { code: 'HESSIAN_DECODE', offset: 16 } });
    expect(lines[1]).toMatchObject({ kind: 'response', result: 'hi' });
  });
});

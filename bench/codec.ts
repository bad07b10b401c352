// Dubbo 2 codec benchmark: our codec (src/dubbo-codec) against js-remoting-for-apache-dubbo, the
// Dubbo remoting layer of the Node.js Dubbo client, on the same frames, side by side in one run.
//
// Frames are produced by js-remoting's own encoder (an independent implementation), checked to
// decode to the same values with both codecs, then timed:
//
//   ours route    FrameDecoder cuts the stream into frames, readRoutingView(frame.body) reads
//                 dubbo version / path / version / method / parameter descriptor, and the bench
//                 reads view.path, .version and .method: what the proxy reads on its common path
//                 (a service whose instances are all in one group). The arguments are not touched.
//   ours route+group  the same, and also reads view.group: that skips every argument (walking its
//                 structure without building it) to reach the attachments map, and scans the map
//                 for `group` (what the proxy does when a service has instances in several groups).
//   ours full     FrameDecoder, then decodeRequestBody / decodeResponseBody (arguments and
//                 attachments decoded into JS values).
//   js-remoting   its stream decoder (lib/decoder.js, a Writable): write() the same chunks and
//                 count the 'request' / 'response' events; per frame it calls protocol.decode,
//                 which is Request.decode / Response.decode (a full decode, arguments included).
//   encode        ours: encodeRequest / encodeResponse -> Buffer of a whole frame.
//                 js-remoting: protocol.requestEncode / protocol.responseEncode (what its stream
//                 encoder's writeRequest / writeResponse call) -> Buffer of a whole frame; the
//                 stream (Transform) around it is left out, as ours has none.
//
// Both decoders get the same stream: N copies of the frame mix, cut into 64 KiB chunks as a socket
// would deliver them (so some frames span chunks and both sides must reassemble them).
//
// The last line: route_vs_full and route_group_vs_full are the ours route / ours route+group rows
// over ours full on the 3 requests; full_vs_jsremoting and encode_vs_jsremoting ours over
// js-remoting on all 5 frames. Bars: route_vs_full >= 5 and full_vs_jsremoting >= 1.0 (printed as
// BARS MISSED when not met); route_group_vs_full is information only.
//
// Usage: npm run bench:codec  (BENCH_ROUNDS, BENCH_ROUND_MS, BENCH_WARMUP_MS, BENCH_DETAIL=0 to tune)
import { isDeepStrictEqual } from 'node:util';
import {
  DubboResponse,
  Frame,
  FrameDecoder,
  RequestToEncode,
  ResponseToEncode,
  decodeRequestBody,
  decodeResponseBody,
  encodeRequest,
  encodeResponse,
  readRoutingView,
} from '../src/dubbo-codec';

// ---- js-remoting-for-apache-dubbo: the parts we use (it ships no types) -------------------------

interface JsRequestData {
  serverSignature: string;
  methodName: string;
  args: unknown[];
  group?: string;
  requestProps?: Record<string, unknown>;
}
interface JsResponseData {
  appResponse?: unknown;
  isError?: boolean;
  errorMsg?: string;
}
interface JsDecoded {
  packetId: number;
  packetType: string;
  data: {
    // request
    methodName?: string;
    serverSignature?: string;
    args?: unknown[];
    requestProps?: Record<string, unknown>;
    // response
    appResponse?: unknown;
    error?: unknown;
    responseProps?: unknown;
  };
}
interface JsProtocol {
  requestEncode(id: number, data: JsRequestData, options: object): Buffer;
  responseEncode(id: number, data: JsResponseData, options: object): Buffer;
  decode(buf: Buffer, options: object): JsDecoded;
}
interface JsDecoderStream {
  write(chunk: Buffer): boolean;
  on(event: string, listener: (arg: JsDecoded) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}
const jsRemoting = require('js-remoting-for-apache-dubbo') as { decoder(options?: object): JsDecoderStream };
const jsProtocol = require('js-remoting-for-apache-dubbo/lib/protocol') as JsProtocol;

// ---- the frames ---------------------------------------------------------------------------------

/** One logical message, in the shape each codec's encoder takes. */
interface Message {
  name: string;
  isRequest: boolean;
  js: () => Buffer;
  ours: () => Buffer;
  /** What a full decode must yield. */
  expect: ExpectedRequest | ExpectedResponse;
}
interface ExpectedRequest {
  path: string;
  version: string;
  method: string;
  args: unknown[];
  attachments: Record<string, unknown>;
}
interface ExpectedResponse {
  kind: 'value' | 'exception';
  value?: unknown;
  exceptionClass?: string;
  exceptionMessage?: string;
}

const str = (s: string) => ({ $class: 'java.lang.String', $: s });
const long = (n: number) => ({ $class: 'long', $: n });
const int = (n: number) => ({ $class: 'int', $: n });

function requestMessage(
  name: string,
  id: number,
  path: string,
  version: string,
  method: string,
  descriptor: string,
  args: unknown[],
  expectArgs: unknown[],
  attachments: Record<string, string>,
): Message {
  // js-remoting puts dubbo / path / group / version into the attachments; ours path / interface /
  // version. Give ours the same map so both encoders write the same logical request.
  const jsAttachments = { dubbo: '2.0.2', path, group: '', version, ...attachments };
  const request: RequestToEncode = {
    requestId: BigInt(id),
    dubboVersion: '2.0.2',
    path,
    version,
    method,
    parameterTypes: descriptor,
    args,
    attachments: { dubbo: '2.0.2', group: '', ...attachments },
  };
  return {
    name,
    isRequest: true,
    js: () => jsProtocol.requestEncode(id, { serverSignature: `${path}:${version}`, methodName: method, args, requestProps: { ...attachments, dubbo: '2.0.2' } }, {}),
    ours: () => encodeRequest(request),
    expect: { path, version, method, args: expectArgs, attachments: jsAttachments },
  };
}

function orderItem(sku: string, quantity: number, price: number) {
  return { $class: 'com.example.order.dto.OrderItem', $: { sku: str(sku), quantity: int(quantity), price: { $class: 'double', $: price } } };
}

const messages: Message[] = [
  // (a) a small request: one String argument
  requestMessage('req small (String)', 1001, 'com.example.greeting.GreetingService', '1.0.0', 'sayHello', 'Ljava/lang/String;', ['world'], ['world'], {}),
  // (b) a DTO request: a Java object with a few fields and a list of objects
  requestMessage(
    'req DTO (object+list)',
    1002,
    'com.example.order.OrderService',
    '2.1.0',
    'createOrder',
    'Lcom/example/order/dto/OrderDTO;',
    [
      {
        $class: 'com.example.order.dto.OrderDTO',
        $: {
          orderId: long(9_000_000_001),
          customerId: str('c-42'),
          currency: str('EUR'),
          total: { $class: 'double', $: 129.85 },
          express: { $class: 'boolean', $: true },
          items: { $class: 'java.util.List', $: [orderItem('SKU-1', 2, 19.99), orderItem('SKU-2', 1, 49.9), orderItem('SKU-3', 4, 9.99)] },
        },
      },
    ],
    [
      {
        orderId: 9_000_000_001,
        customerId: 'c-42',
        currency: 'EUR',
        total: 129.85,
        express: true,
        items: [
          { sku: 'SKU-1', quantity: 2, price: 19.99 },
          { sku: 'SKU-2', quantity: 1, price: 49.9 },
          { sku: 'SKU-3', quantity: 4, price: 9.99 },
        ],
      },
    ],
    { timeout: '3000' },
  ),
  // (c) a request with several attachments (tracing, routing tags, consumer identity)
  requestMessage(
    'req attachments (8)',
    1003,
    'com.example.user.UserService',
    '1.0.0',
    'findUser',
    'Ljava/lang/String;J',
    ['tenant-7', long(123456789)],
    ['tenant-7', 123456789],
    {
      timeout: '5000',
      'trace-id': '4bf92f3577b34da6a3ce929d0e0e4736',
      'span-id': '00f067aa0ba902b7',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      application: 'checkout-web',
      'dubbo.tag': 'gray',
      'remote.application': 'checkout-web',
      'x-request-id': 'b1c8a3e0-8d5b-4f0e-9d1c-2f1f0b8a6c11',
    },
  ),
  // (d1) a value response: a small result object
  {
    name: 'resp value (object)',
    isRequest: false,
    js: () => jsProtocol.responseEncode(1002, { appResponse: orderResult() }, {}),
    ours: () => encodeResponse({ requestId: 1002n, value: orderResult() } satisfies ResponseToEncode),
    expect: { kind: 'value', value: { orderId: 9_000_000_001, status: 'CREATED', warnings: ['stock low: SKU-3'] } },
  },
  // (d2) an exception response: a RuntimeException thrown by the provider
  {
    name: 'resp exception',
    isRequest: false,
    js: () => jsProtocol.responseEncode(1003, { appResponse: runtimeException() }, {}),
    ours: () => encodeResponse({ requestId: 1003n, kind: 'exception', exception: runtimeException() }),
    expect: { kind: 'exception', exceptionClass: 'java.lang.RuntimeException', exceptionMessage: 'user tenant-7/123456789 not found' },
  },
];

function orderResult() {
  return {
    $class: 'com.example.order.dto.OrderResult',
    $: { orderId: long(9_000_000_001), status: str('CREATED'), warnings: { $class: 'java.util.List', $: [str('stock low: SKU-3')] } },
  };
}

function runtimeException() {
  return { $class: 'java.lang.RuntimeException', $: { detailMessage: str('user tenant-7/123456789 not found') } };
}

// ---- verification: both decoders agree on the js-remoting frames --------------------------------

function fail(message: string): never {
  console.error(`MISMATCH: ${message}`);
  process.exit(1);
}

function check(ok: boolean, what: string, got: unknown, want: unknown): void {
  if (!ok) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function oneFrame(bytes: Buffer): Frame {
  const frames: Frame[] = [];
  new FrameDecoder().push(bytes, (f) => frames.push(f));
  if (frames.length !== 1) fail(`expected one frame, got ${frames.length}`);
  return frames[0];
}

function exceptionFields(e: unknown): { name: unknown; message: unknown } {
  const o = (e ?? {}) as { name?: unknown; message?: unknown; detailMessage?: unknown };
  return { name: o.name, message: o.message ?? o.detailMessage };
}

function verify(message: Message, bytes: Buffer, source: string): void {
  const what = `${message.name} (${source} frame)`;
  const frame = oneFrame(bytes);
  const js = jsProtocol.decode(bytes, {});
  check(Number(frame.header.requestId) === js.packetId, `${what} request id`, frame.header.requestId.toString(), js.packetId);
  if (message.isRequest) {
    const want = message.expect as ExpectedRequest;
    check(frame.header.isRequest && js.packetType === 'request', `${what} kind`, js.packetType, 'request');
    const ours = decodeRequestBody(frame.body);
    const view = readRoutingView(frame.body);
    for (const [name, got] of [
      ['full', ours],
      ['route', view],
    ] as const) {
      check(got.path === want.path, `${what} ${name} path`, got.path, want.path);
      check(got.version === want.version, `${what} ${name} version`, got.version, want.version);
      check(got.method === want.method, `${what} ${name} method`, got.method, want.method);
    }
    check(view.group === '', `${what} route group`, view.group, '');
    check(view.argumentsOffset < view.attachmentsOffset, `${what} route offsets`, view.attachmentsOffset, view.argumentsOffset);
    check(isDeepStrictEqual(ours.args, want.args), `${what} args`, ours.args, want.args);
    check(isDeepStrictEqual(js.data.args, want.args), `${what} js-remoting args`, js.data.args, want.args);
    check(js.data.methodName === want.method, `${what} js-remoting method`, js.data.methodName, want.method);
    check(js.data.serverSignature === `${want.path}:${want.version}`, `${what} js-remoting signature`, js.data.serverSignature, want.path);
    // Ours adds `interface` on its own frames; js-remoting adds nothing. Compare the rest.
    const { interface: _iface, ...attachments } = ours.attachments;
    check(isDeepStrictEqual(attachments, want.attachments), `${what} attachments`, attachments, want.attachments);
    check(isDeepStrictEqual(view.attachments, ours.attachments), `${what} route attachments`, view.attachments, ours.attachments);
    const { interface: _jsIface, ...jsAttachments } = js.data.requestProps ?? {};
    check(isDeepStrictEqual(jsAttachments, want.attachments), `${what} js-remoting attachments`, jsAttachments, want.attachments);
  } else {
    const want = message.expect as ExpectedResponse;
    check(!frame.header.isRequest && js.packetType === 'response', `${what} kind`, js.packetType, 'response');
    const ours: DubboResponse = decodeResponseBody(frame.header, frame.body);
    check(ours.kind === want.kind, `${what} kind`, ours.kind, want.kind);
    if (want.kind === 'value') {
      check(isDeepStrictEqual(ours.value, want.value), `${what} value`, ours.value, want.value);
      check(isDeepStrictEqual(js.data.appResponse, want.value), `${what} js-remoting value`, js.data.appResponse, want.value);
    } else {
      const wantFields = { name: want.exceptionClass, message: want.exceptionMessage };
      check(isDeepStrictEqual(exceptionFields(ours.exception), wantFields), `${what} exception`, exceptionFields(ours.exception), wantFields);
      check(isDeepStrictEqual(exceptionFields(js.data.error), wantFields), `${what} js-remoting exception`, exceptionFields(js.data.error), wantFields);
    }
  }
}

const jsFrames = messages.map((m) => m.js());
const ourFrames = messages.map((m) => m.ours());
messages.forEach((m, i) => {
  verify(m, jsFrames[i], 'js-remoting');
  verify(m, ourFrames[i], 'our'); // and js-remoting reads ours: the encoders are interchangeable
});

// ---- the streams ----------------------------------------------------------------------------------

const CHUNK = 64 * 1024;
const COPIES = Number(process.env.BENCH_COPIES ?? 200);

interface Stream {
  chunks: Buffer[];
  frames: number;
}

function stream(frames: Buffer[]): Stream {
  const one = Buffer.concat(frames);
  const all = Buffer.concat(new Array<Buffer>(COPIES).fill(one));
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; at += CHUNK) chunks.push(all.subarray(at, Math.min(at + CHUNK, all.length)));
  return { chunks, frames: frames.length * COPIES };
}

let sink = 0; // keeps results alive so nothing is optimised away

/** Ours, routing only: frames + readRoutingView, reading path / version / method (requests only). */
function oursRoute(s: Stream): number {
  const decoder = new FrameDecoder();
  let n = 0;
  const onFrame = (f: Frame) => {
    const view = readRoutingView(f.body);
    sink += view.path.length + view.version.length + view.method.length;
    n++;
  };
  for (const chunk of s.chunks) decoder.push(chunk, onFrame);
  return n;
}

/** Ours, routing with the group: as oursRoute, and view.group too (skips the arguments). */
function oursRouteGroup(s: Stream): number {
  const decoder = new FrameDecoder();
  let n = 0;
  const onFrame = (f: Frame) => {
    const view = readRoutingView(f.body);
    sink += view.path.length + view.version.length + view.method.length + view.group.length;
    n++;
  };
  for (const chunk of s.chunks) decoder.push(chunk, onFrame);
  return n;
}

/** Ours, full decode: frames + decodeRequestBody / decodeResponseBody. */
function oursFull(s: Stream): number {
  const decoder = new FrameDecoder();
  let n = 0;
  const onFrame = (f: Frame) => {
    if (f.header.isRequest) sink += decodeRequestBody(f.body).args.length;
    else sink += decodeResponseBody(f.header, f.body).status;
    n++;
  };
  for (const chunk of s.chunks) decoder.push(chunk, onFrame);
  return n;
}

/** js-remoting's stream decoder: write the chunks, count the frames it emits. */
function jsFull(s: Stream): number {
  const decoder = jsRemoting.decoder({});
  let n = 0;
  const onPacket = (p: JsDecoded) => {
    sink += p.packetId & 1;
    n++;
  };
  decoder.on('request', onPacket);
  decoder.on('response', onPacket);
  decoder.on('error', (err: Error) => fail(`js-remoting decoder: ${err.message}`));
  for (const chunk of s.chunks) decoder.write(chunk);
  return n;
}

function encodeAll(encoders: Array<() => Buffer>): () => number {
  return () => {
    for (const encode of encoders) sink += encode().length;
    return encoders.length;
  };
}

// ---- timing -------------------------------------------------------------------------------------
//
// The machine is small and shared, so the contenders of one comparison are timed in interleaved
// rounds (A B C, A B C, ...): a burst of load from elsewhere hits all of them alike. Each row shows
// its median round; a ratio is the median of the per-round ratios of its two rows.

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 500);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 500);

interface Entry {
  name: string;
  work: () => number;
  /** Frames one call must yield: checked once before timing. */
  frames?: number;
}
interface Row {
  name: string;
  rounds: number[];
  fps: number;
  spread: string;
}
const rows: Row[] = [];

/** Runs `work` (returning frames done) for `ms`; returns frames per second. */
function timed(work: () => number, ms: number): number {
  const budget = BigInt(ms) * 1_000_000n;
  const start = process.hrtime.bigint();
  let frames = 0;
  let elapsed: bigint;
  do {
    frames += work();
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < budget);
  return (frames * 1e9) / Number(elapsed);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function group(entries: Entry[], rounds = ROUNDS, roundMs = ROUND_MS, warmupMs = WARMUP_MS): Row[] {
  for (const e of entries) {
    if (e.frames !== undefined) {
      const done = e.work();
      if (done !== e.frames) fail(`${e.name}: decoded ${done} frames, expected ${e.frames}`);
    }
    timed(e.work, warmupMs);
  }
  const out = entries.map((e): Row => ({ name: e.name, rounds: [], fps: 0, spread: '' }));
  for (let r = 0; r < rounds; r++) entries.forEach((e, i) => out[i].rounds.push(timed(e.work, roundMs)));
  for (const row of out) {
    row.fps = median(row.rounds);
    row.spread = `${(((Math.max(...row.rounds) - Math.min(...row.rounds)) / row.fps) * 100).toFixed(0)}%`;
  }
  rows.push(...out);
  return out;
}

/** Median over rounds of a.fps / b.fps, the two timed side by side. */
function ratio(a: Row, b: Row): number {
  return median(a.rounds.map((fps, i) => fps / b.rounds[i]));
}

const requests = stream([0, 1, 2].map((i) => jsFrames[i]));
const everything = stream(jsFrames);

const [route, routeGroup, fullRequests] = group([
  { name: 'decode 3 requests  ours route (FrameDecoder+readRoutingView)', work: () => oursRoute(requests), frames: requests.frames },
  { name: 'decode 3 requests  ours route+group (readRoutingView+.group)', work: () => oursRouteGroup(requests), frames: requests.frames },
  { name: 'decode 3 requests  ours full  (FrameDecoder+decodeRequestBody)', work: () => oursFull(requests), frames: requests.frames },
  { name: 'decode 3 requests  js-remoting full (DubboDecoder stream)', work: () => jsFull(requests), frames: requests.frames },
]);
const [full, jsFullRow] = group([
  { name: 'decode all 5       ours full  (FrameDecoder+decode*Body)', work: () => oursFull(everything), frames: everything.frames },
  { name: 'decode all 5       js-remoting full (DubboDecoder stream)', work: () => jsFull(everything), frames: everything.frames },
]);
const [encode, jsEncode] = group([
  { name: 'encode all 5       ours (encodeRequest/encodeResponse)', work: encodeAll(messages.map((m) => m.ours)) },
  { name: 'encode all 5       js-remoting (protocol.requestEncode/responseEncode)', work: encodeAll(messages.map((m) => m.js)) },
]);

// Per frame, shorter: to see where a difference comes from. BENCH_DETAIL=0 leaves it out.
if (process.env.BENCH_DETAIL !== '0') {
  messages.forEach((m, i) => {
    const one = stream([jsFrames[i]]);
    const label = `  ${m.name.padEnd(22)}`;
    const entries: Entry[] = [];
    if (m.isRequest) {
      entries.push(
        { name: `${label} ours route`, work: () => oursRoute(one), frames: one.frames },
        { name: `${label} ours route+group`, work: () => oursRouteGroup(one), frames: one.frames },
      );
    }
    entries.push(
      { name: `${label} ours full`, work: () => oursFull(one), frames: one.frames },
      { name: `${label} js-remoting full`, work: () => jsFull(one), frames: one.frames },
      { name: `${label} ours encode`, work: encodeAll([m.ours]) },
      { name: `${label} js-remoting encode`, work: encodeAll([m.js]) },
    );
    group(entries, 3, Math.min(ROUND_MS, 250), Math.min(WARMUP_MS, 250));
  });
}

// ---- report -------------------------------------------------------------------------------------

const width = Math.max(...rows.map((r) => r.name.length));
console.log(
  `Dubbo codec: ours vs js-remoting-for-apache-dubbo; median of ${ROUNDS} interleaved rounds x ${ROUND_MS} ms after ${WARMUP_MS} ms warmup ` +
    `(per-frame rows: 3 x ${Math.min(ROUND_MS, 250)} ms); streams of ${COPIES} copies of the mix in ${CHUNK / 1024} KiB chunks`,
);
console.log(`frames (bytes): ${messages.map((m, i) => `${m.name} ${jsFrames[i].length}`).join(', ')}`);
console.log(`${'name'.padEnd(width)}  ${'frames/s'.padStart(12)}  ${'µs/frame'.padStart(9)}  ${'spread'.padStart(6)}`);
for (const r of rows) {
  console.log(`${r.name.padEnd(width)}  ${Math.round(r.fps).toLocaleString('en-US').padStart(12)}  ${(1e6 / r.fps).toFixed(2).padStart(9)}  ${r.spread.padStart(6)}`);
}
if (sink === -1) console.log(sink);

const routeVsFull = ratio(route, fullRequests);
const routeGroupVsFull = ratio(routeGroup, fullRequests); // information only: no bar
const fullVsJs = ratio(full, jsFullRow);
const encodeVsJs = ratio(encode, jsEncode);
const misses = [routeVsFull < 5 ? 'route_vs_full < 5' : '', fullVsJs < 1 ? 'full_vs_jsremoting < 1.0' : ''].filter(Boolean);
if (misses.length > 0) console.log(`BARS MISSED: ${misses.join(', ')}`);
console.log(`route_vs_full=${routeVsFull.toFixed(2)} route_group_vs_full=${routeGroupVsFull.toFixed(2)} full_vs_jsremoting=${fullVsJs.toFixed(2)} encode_vs_jsremoting=${encodeVsJs.toFixed(2)}`);

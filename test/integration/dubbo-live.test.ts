// Our Dubbo 2 codec against real, independently written peers over real sockets, with providers
// discovered through a real ZooKeeper: apache-dubbo-js (consumer) and sofa-rpc-node with
// js-remoting-for-apache-dubbo (provider). Each direction of a live conversation is read with our
// FrameDecoder through a TCP tap; our encoders' frames must be accepted by the peers.
import { Socket, createConnection, createServer, Server, AddressInfo } from 'node:net';
import {
  DubboStatus,
  Frame,
  FrameDecoder,
  FrameDescription,
  decodeRequestBody,
  decodeResponseBody,
  describeFrame,
  encodeHeartbeat,
  encodeRequest,
  encodeResponse,
  isHeartbeat,
  readRoutingView,
} from '../../src/dubbo-codec';
import {
  DubboJsCallResult,
  DubboJsConsumer,
  ProviderRegistration,
  SofaProvider,
  java,
  listRegistered,
  registerProvider,
  startDubboJsConsumer,
  startSofaProvider,
} from '../support/dubbo-peers';
import { TcpTap, startTcpTap } from '../support/tcp-tap';
import { ZookeeperServer } from '../support/zookeeper';
import { waitFor } from '../support/wait';

const GREETING = 'com.example.demo.GreetingService';
const CODEC_SERVICE = 'com.example.demo.CodecService';
const VERSION = '1.0.0';
const BUSINESS_ERROR = 'name must not be empty';

/** The sofa provider's methods (sofa passes the decoded hessian arguments). */
const greetingMethods = {
  sayHello: (name: string) => `Hello ${name}`,
  add: (a: number, b: number) => a + b,
  describe: (person: { name: string; age: number }) => ({
    $class: 'com.example.demo.Greeting',
    $: { text: `${person.name} is ${person.age}`, length: person.name.length },
  }),
  echoMap: (map: Record<string, unknown>) => map,
  fail: (name: string) => {
    throw new Error(`${BUSINESS_ERROR}: got '${name}'`);
  },
  // Returning (not throwing) a typed Throwable makes sofa send what Java Dubbo sends for an
  // exception: status 20, result type 0 and the Throwable.
  reject: (reason: string) => javaException('java.lang.IllegalArgumentException', reason),
  // sofa writes a falsy result as a bare hessian value without the result-type byte (a peer fault).
  zero: () => 0,
  nothing: () => null,
};

/** A Java Throwable as hessian.js writes it, with the fields java.lang.Throwable serializes. */
function javaException(className: string, message: string): unknown {
  return {
    $class: className,
    $: {
      detailMessage: message,
      cause: null,
      stackTrace: { $class: '[java.lang.StackTraceElement', $: [] },
      suppressedExceptions: { $class: 'java.util.List', $: [] },
    },
  };
}
const GREETING_METHODS = Object.keys(greetingMethods);

let zk: ZookeeperServer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  zk = await ZookeeperServer.start();
});

afterAll(async () => {
  // Last started, first stopped; keep going on failure so nothing is left running.
  const failures: unknown[] = [];
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      failures.push(err);
    }
  }
  await zk?.destroy();
  if (failures.length > 0) throw failures[0];
});

/** Frames of one direction of one tapped connection, decoded as they cross the tap. */
class FrameLog {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder();

  push(bytes: Buffer): void {
    this.decoder.push(bytes, (frame) => this.frames.push(frame));
  }

  get described(): FrameDescription[] {
    return this.frames.map(describeFrame);
  }

  /** Bytes held for an incomplete frame: 0 when the stream ended on a frame boundary. */
  get pending(): number {
    return this.decoder.bufferedBytes;
  }
}

/** A raw TCP client of our own: writes frames, collects the frames that come back. */
async function rawClient(port: number): Promise<{ socket: Socket; frames: Frame[]; send(frame: Buffer): void; close(): Promise<void> }> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => decoder.push(Buffer.from(chunk), (frame) => frames.push(frame)));
  return {
    socket,
    frames,
    send: (frame) => socket.write(frame),
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.destroy();
      }),
  };
}

describe('apache-dubbo-js consumer → tap → sofa-rpc-node provider', () => {
  let provider: SofaProvider;
  let tap: TcpTap;
  let registration: ProviderRegistration;
  let consumer: DubboJsConsumer;
  const requests = new FrameLog();
  const responses = new FrameLog();

  beforeAll(async () => {
    provider = await startSofaProvider({ interface: GREETING, version: VERSION, methods: greetingMethods, register: false });
    cleanups.push(() => provider.stop());
    tap = await startTcpTap({
      targetPort: provider.port,
      onClientBytes: (bytes) => requests.push(bytes),
      onServerBytes: (bytes) => responses.push(bytes),
    });
    cleanups.push(() => tap.close());
    // The consumer must connect to the tap: register the tap's port as the provider's.
    registration = await registerProvider(zk.connectString, { interface: GREETING, version: VERSION, port: tap.port, methods: GREETING_METHODS });
    cleanups.push(() => registration.unregister());
    consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: GREETING, version: VERSION, methods: GREETING_METHODS });
    cleanups.push(() => consumer.stop());
  });

  it('discovers the provider through ZooKeeper and registers itself as a consumer', async () => {
    expect(consumer.connectedProviders()).toEqual([tap.address]);
    const providers = await listRegistered(zk.connectString, GREETING, 'providers');
    expect(providers).toEqual([registration.url]);
    expect(registration.url).toMatch(new RegExp(`^dubbo://127\\.0\\.0\\.1:${tap.port}/${GREETING.replace(/\./g, '\\.')}\\?`));
    // apache-dubbo-js writes its consumer znode without waiting for it: poll.
    let consumers: string[] = [];
    for (let i = 0; i < 50 && consumers.length === 0; i++) {
      consumers = await listRegistered(zk.connectString, GREETING, 'consumers');
      if (consumers.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(consumers).toHaveLength(1);
    expect(consumers[0]).toMatch(new RegExp(`^consumer://[^/]+/${GREETING.replace(/\./g, '\\.')}\\?`));
    expect(consumers[0]).toContain('version=1.0.0');
  });

  it('decodes every frame of both directions of a live conversation', async () => {
    const firstRequest = requests.frames.length;
    const firstResponse = responses.frames.length;
    const calls = [
      { method: 'sayHello', args: [java.String('Ann')], attachments: { traceId: 'trace-0001', tenant: 'blue' } },
      { method: 'add', args: [java.int(2), java.int(40)] },
      { method: 'describe', args: [java('com.example.demo.Person', { name: 'Bob', age: 33 })] },
      { method: 'echoMap', args: [java.HashMap({ colour: 'green', size: 3 })] },
      { method: 'sayHello', args: [java.String('Zoë ✓ 漢字')] },
    ];
    const results: DubboJsCallResult[] = [];
    for (const call of calls) results.push(await consumer.call(call.method, call.args, { attachments: call.attachments }));

    // What the consumer got back.
    expect(results.map((r) => r.err)).toEqual([null, null, null, null, null]);
    expect(results.map((r) => r.res)).toEqual(['Hello Ann', 42, { text: 'Bob is 33', length: 3 }, { colour: 'green', size: 3 }, 'Hello Zoë ✓ 漢字']);

    // The tap hands bytes over before forwarding them: every response is decoded by now.
    const sent = requests.frames.slice(firstRequest);
    const received = responses.frames.slice(firstResponse);
    expect(sent).toHaveLength(calls.length);
    expect(received).toHaveLength(calls.length);
    expect(requests.pending).toBe(0);
    expect(responses.pending).toBe(0);
    expect(tap.errors).toEqual([]);

    const expectedTypes = ['Ljava/lang/String;', 'II', 'Lcom/example/demo/Person;', 'Ljava/util/HashMap;', 'Ljava/lang/String;'];
    const expectedArgs = [['Ann'], [2, 40], [{ name: 'Bob', age: 33 }], [{ colour: 'green', size: 3 }], ['Zoë ✓ 漢字']];
    sent.forEach((frame, i) => {
      const d = describeFrame(frame);
      expect(d).toMatchObject({
        kind: 'request',
        direction: 'request',
        twoWay: true,
        serialization: 'hessian2',
        requestId: BigInt(results[i].requestId),
        service: GREETING,
        version: VERSION,
        group: '',
        method: calls[i].method,
        parameterTypes: expectedTypes[i],
        arguments: expectedArgs[i],
      });
      // apache-dubbo-js always sends these; a timeout as an int; then the call's own attachments.
      expect(d.attachments).toEqual({
        path: GREETING,
        interface: GREETING,
        version: VERSION,
        timeout: 5,
        application: 'mesh-bridge-dubbo-js-consumer',
        ...calls[i].attachments,
      });
      // The routing view reads the same without decoding arguments.
      const view = readRoutingView(frame.body);
      expect(view.dubboVersion).toBe('2.0.2'); // the `dubbo` parameter of the registered URL
      expect([view.path, view.version, view.method, view.parameterTypes, view.group]).toEqual([GREETING, VERSION, calls[i].method, expectedTypes[i], '']);
      expect(view.attachment('traceId')).toBe(calls[i].attachments?.traceId);
      expect(view.attachments).toEqual(d.attachments);
      // And the full decoder agrees with both.
      expect(decodeRequestBody(frame.body)).toMatchObject({ dubboVersion: '2.0.2', path: GREETING, args: expectedArgs[i] });
    });

    received.forEach((frame, i) => {
      const d = describeFrame(frame);
      expect(d).toMatchObject({
        kind: 'response',
        direction: 'response',
        serialization: 'hessian2',
        status: DubboStatus.OK,
        statusName: 'OK',
        requestId: BigInt(results[i].requestId),
        result: results[i].res,
        attachments: {},
      });
      expect(decodeResponseBody(frame.header, frame.body).kind).toBe('value');
    });
  });

  it('decodes a business exception sent by sofa as status 80 with a string body', async () => {
    const before = responses.frames.length;
    const result = await consumer.call('fail', [java.String('')]);
    expect(result.res).toBeNull();
    expect(result.err?.message).toContain(`${BUSINESS_ERROR}: got ''`);

    const frame = responses.frames[before];
    expect(responses.frames).toHaveLength(before + 1);
    expect(frame.header.status).toBe(DubboStatus.SERVER_ERROR);
    expect(frame.header.requestId).toBe(BigInt(result.requestId));
    // Non-standard: Java Dubbo would send status 20, type 0 and a Throwable.
    expect(decodeResponseBody(frame.header, frame.body)).toEqual({
      status: 80,
      kind: 'error',
      errorMessage: `${BUSINESS_ERROR}: got ''`,
      attachments: {},
    });
    expect(describeFrame(frame)).toMatchObject({ kind: 'response', status: 80, statusName: 'SERVER_ERROR', errorMessage: `${BUSINESS_ERROR}: got ''` });
    expect(provider.errors.length).toBeGreaterThan(0); // sofa logged the business exception
  });

  it('decodes a standard exception response (status 20, type 0, a Throwable) in both peers and ours', async () => {
    const before = responses.frames.length;
    const result = await consumer.call('reject', [java.String('age must be positive')]);
    expect(result.res).toBeNull();
    expect(result.err).toBeInstanceOf(Error);
    expect(result.err?.message).toContain('age must be positive');

    const frame = responses.frames[before];
    expect(responses.frames).toHaveLength(before + 1);
    expect(frame.header).toMatchObject({ status: DubboStatus.OK, requestId: BigInt(result.requestId) });
    const response = decodeResponseBody(frame.header, frame.body);
    expect(response.kind).toBe('exception');
    expect(response.exception).toMatchObject({ name: 'java.lang.IllegalArgumentException', message: 'age must be positive' });
    expect(describeFrame(frame)).toMatchObject({ kind: 'response', status: 20, exception: { message: 'age must be positive' } });
  });

  it('decodes the consumer heartbeat and the provider heartbeat reply', async () => {
    const beforeRequests = requests.frames.length;
    const beforeResponses = responses.frames.length;
    expect(consumer.sendHeartbeat()).toBe(1);
    await waitFor('the heartbeat reply', () => responses.frames.length > beforeResponses);

    const ping = requests.frames[beforeRequests];
    const pong = responses.frames[beforeResponses];
    expect(isHeartbeat(ping.header, ping.body)).toBe(true);
    expect(describeFrame(ping)).toMatchObject({ kind: 'heartbeat', direction: 'request', twoWay: true, requestId: 0n });
    expect(isHeartbeat(pong.header, pong.body)).toBe(true);
    expect(describeFrame(pong)).toMatchObject({ kind: 'heartbeat', direction: 'response', status: 20, requestId: 0n });
    // The connection is still good afterwards.
    expect(await consumer.call('sayHello', [java.String('again')])).toMatchObject({ err: null, res: 'Hello again' });
  });
});

describe('requests written by our encoder, answered by sofa-rpc-node', () => {
  let provider: SofaProvider;

  beforeAll(async () => {
    provider = await startSofaProvider({ zk: zk.connectString, interface: GREETING, version: '2.0.0', methods: greetingMethods });
    cleanups.push(() => provider.stop());
  });

  it('registers a provider URL with the interface path, in ZooKeeper', async () => {
    const providers = await listRegistered(zk.connectString, GREETING, 'providers');
    expect(providers).toContain(provider.url);
    expect(provider.url).toContain(`127.0.0.1:${provider.port}/${GREETING}?`);
    expect(provider.url).toContain('version=2.0.0');
  });

  it('answers our requests; we decode the answers', async () => {
    const client = await rawClient(provider.port);
    try {
      const bigId = (1n << 40n) + 7n;
      client.send(encodeRequest({ requestId: 1n, path: GREETING, version: '2.0.0', method: 'sayHello', parameterTypes: 'Ljava/lang/String;', args: ['Zoe'] }));
      client.send(
        encodeRequest({
          requestId: bigId,
          path: GREETING,
          version: '2.0.0',
          method: 'describe',
          parameterTypes: 'Lcom/example/demo/Person;',
          args: [{ $class: 'com.example.demo.Person', $: { name: 'Eve', age: 41 } }],
          attachments: { traceId: 'ours-1' },
        }),
      );
      client.send(encodeRequest({ requestId: 3n, path: GREETING, version: '2.0.0', method: 'add', parameterTypes: 'II', args: [20, 22] }));
      client.send(encodeRequest({ requestId: 4n, path: GREETING, version: '2.0.0', method: 'fail', parameterTypes: 'Ljava/lang/String;', args: ['x'] }));
      client.send(encodeHeartbeat(5n, true));
      await waitFor('five answers', () => client.frames.length >= 5);

      const byId = new Map(client.frames.map((f) => [f.header.requestId, f]));
      expect([...byId.keys()].sort()).toEqual([1n, 3n, 4n, 5n, bigId].sort());
      const answer = (id: bigint) => {
        const frame = byId.get(id) as Frame;
        return decodeResponseBody(frame.header, frame.body);
      };
      expect(answer(1n)).toEqual({ status: 20, kind: 'value', value: 'Hello Zoe', attachments: {} });
      expect(answer(bigId)).toEqual({ status: 20, kind: 'value', value: { text: 'Eve is 41', length: 3 }, attachments: {} });
      expect(answer(3n)).toEqual({ status: 20, kind: 'value', value: 42, attachments: {} });
      expect(answer(4n)).toEqual({ status: 80, kind: 'error', errorMessage: `${BUSINESS_ERROR}: got 'x'`, attachments: {} });
      const pong = byId.get(5n) as Frame;
      expect(describeFrame(pong)).toMatchObject({ kind: 'heartbeat', direction: 'response', status: 20 });
    } finally {
      await client.close();
    }
  });

  it('reports sofa falsy results, sent without a result type, as typed codec errors', async () => {
    const client = await rawClient(provider.port);
    try {
      client.send(encodeRequest({ requestId: 11n, path: GREETING, version: '2.0.0', method: 'nothing', parameterTypes: '' }));
      client.send(encodeRequest({ requestId: 12n, path: GREETING, version: '2.0.0', method: 'zero', parameterTypes: '' }));
      await waitFor('two answers', () => client.frames.length >= 2);
      const [nothing, zero] = [11n, 12n].map((id) => client.frames.find((f) => f.header.requestId === id) as Frame);
      // The peer fault itself: status 20 and a body of one hessian value, null (N) or int 0 (0x90).
      expect([nothing.header.status, nothing.body.toString('hex')]).toEqual([20, '4e']);
      expect([zero.header.status, zero.body.toString('hex')]).toEqual([20, '90']);
      // Our decoder: a CodecError naming the problem, never a crash or a wrong value.
      expect(() => decodeResponseBody(nothing.header, nothing.body)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_BODY' }));
      // Read as result type 0 (exception) whose Throwable is missing: the body ends at byte 1.
      expect(() => decodeResponseBody(zero.header, zero.body)).toThrow(expect.objectContaining({ code: 'HESSIAN_DECODE', where: 1 }));
    } finally {
      await client.close();
    }
  });
});

describe('responses written by our encoder, accepted by apache-dubbo-js', () => {
  const CODEC_METHODS = ['hello', 'nothing', 'withAttachments', 'greeting', 'boom', 'serviceError'];
  let server: Server;
  let registration: ProviderRegistration;
  let consumer: DubboJsConsumer;
  const received: FrameDescription[] = [];
  const serverSockets = new Set<Socket>();

  /** A tiny provider made of our codec alone. */
  function answer(frame: Frame): Buffer {
    const requestId = frame.header.requestId;
    if (isHeartbeat(frame.header, frame.body)) return encodeHeartbeat(requestId, false);
    const request = decodeRequestBody(frame.body);
    switch (request.method) {
      case 'hello':
        return encodeResponse({ requestId, value: `Hi ${String(request.args[0])}, from our codec` });
      case 'nothing':
        return encodeResponse({ requestId, kind: 'null' });
      case 'withAttachments':
        return encodeResponse({ requestId, value: 7, attachments: { served: 'codec' } });
      case 'greeting':
        return encodeResponse({ requestId, value: { $class: 'com.example.demo.Greeting', $: { text: 'typed', length: 5 } } });
      case 'boom':
        return encodeResponse({ requestId, exception: new Error('our codec says no') });
      case 'serviceError':
        return encodeResponse({ requestId, status: DubboStatus.SERVICE_ERROR, errorMessage: 'service error from our codec' });
      default:
        return encodeResponse({ requestId, status: DubboStatus.SERVICE_NOT_FOUND, errorMessage: `no method ${request.method}` });
    }
  }

  beforeAll(async () => {
    server = createServer((socket) => {
      serverSockets.add(socket);
      socket.once('close', () => serverSockets.delete(socket));
      socket.on('error', () => undefined);
      const decoder = new FrameDecoder();
      socket.on('data', (chunk: Buffer) =>
        decoder.push(Buffer.from(chunk), (frame) => {
          received.push(describeFrame(frame));
          socket.write(answer(frame));
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of serverSockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
    const port = (server.address() as AddressInfo).port;
    registration = await registerProvider(zk.connectString, { interface: CODEC_SERVICE, version: VERSION, port, methods: CODEC_METHODS });
    cleanups.push(() => registration.unregister());
    consumer = await startDubboJsConsumer({ zk: zk.connectString, interface: CODEC_SERVICE, version: VERSION, methods: CODEC_METHODS });
    cleanups.push(() => consumer.stop());
  });

  it('gets values, null and typed objects from our responses', async () => {
    const hello = await consumer.call('hello', [java.String('Ann')]);
    expect(hello).toMatchObject({ err: null, res: 'Hi Ann, from our codec' });
    expect(await consumer.call('nothing', [])).toMatchObject({ err: null, res: null });
    expect(await consumer.call('withAttachments', [java.int(1)])).toMatchObject({ err: null, res: 7 });
    expect(await consumer.call('greeting', [])).toMatchObject({ err: null, res: { text: 'typed', length: 5 } });

    const request = received.find((d) => d.method === 'hello') as FrameDescription;
    expect(request).toMatchObject({ kind: 'request', service: CODEC_SERVICE, version: VERSION, parameterTypes: 'Ljava/lang/String;', arguments: ['Ann'] });
    expect(request.requestId).toBe(BigInt(hello.requestId));
    // A call without arguments: an empty descriptor and no argument values.
    expect(received.find((d) => d.method === 'nothing')).toMatchObject({ parameterTypes: '', arguments: [] });
  });

  it('gets an error carrying our message from an exception response', async () => {
    const result = await consumer.call('boom', []);
    expect(result.res).toBeNull();
    expect(result.err).toBeInstanceOf(Error);
    expect(result.err?.message).toContain('our codec says no');
  });

  it('gets an error carrying our message from a non-OK status', async () => {
    const result = await consumer.call('serviceError', []);
    expect(result.res).toBeNull();
    // apache-dubbo-js turns the raw body into text: our hessian string is in there.
    expect(result.err?.message).toContain('service error from our codec');
  });

  it('answers the consumer heartbeat with our heartbeat reply, and the connection lives on', async () => {
    const before = received.length;
    expect(consumer.sendHeartbeat()).toBe(1);
    await waitFor('the heartbeat at the fake provider', () => received.length > before);
    expect(received[before]).toMatchObject({ kind: 'heartbeat', direction: 'request', twoWay: true, requestId: 0n });
    expect(await consumer.call('hello', [java.String('after heartbeat')])).toMatchObject({ err: null, res: 'Hi after heartbeat, from our codec' });
    expect(consumer.connectedProviders()).toHaveLength(1);
  });
});

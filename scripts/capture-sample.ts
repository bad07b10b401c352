// Records samples/dubbo-capture.bin: real Dubbo 2 traffic between two independent implementations,
// discovered through a real ZooKeeper: an apache-dubbo-js consumer calling a sofa-rpc-node provider
// (js-remoting-for-apache-dubbo) through a TCP tap. Both directions' frames are written whole, in
// the order they crossed the tap (calls with a String, a DTO, ints and attachments; a value, a typed
// DTO, a Java-style exception and sofa's status-80 error in reply; the consumer's heartbeat and
// sofa's reply), followed by a heartbeat request and reply written by our codec.
//
//   npx tsx scripts/capture-sample.ts [OUTPUT]     (default samples/dubbo-capture.bin)
//
// Needs Debian's `zookeeper` package and the devDependencies. The file is the bundled capture the
// README's first command decodes (`mesh-bridge decode samples/dubbo-capture.bin`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Frame, FrameDecoder, describeFrame, encodeHeartbeat } from '../src/dubbo-codec';
import { java, registerProvider, startDubboJsConsumer, startSofaProvider } from '../test/support/dubbo-peers';
import { startTcpTap } from '../test/support/tcp-tap';
import { ZookeeperServer } from '../test/support/zookeeper';

const SERVICE = 'com.example.demo.GreetingService';
const VERSION = '1.0.0';

const methods = {
  sayHello: (name: string) => `Hello ${name}`,
  describe: (person: { name: string; age: number }) => ({
    $class: 'com.example.demo.Greeting',
    $: { text: `${person.name} is ${person.age}`, length: person.name.length },
  }),
  add: (a: number, b: number) => a + b,
  // A thrown error: sofa sends status 80 with a string body (not what Java Dubbo sends).
  fail: (name: string) => {
    throw new Error(`name must not be empty: got '${name}'`);
  },
  // A returned Throwable: sofa sends what Java Dubbo sends, status 20, result type 0, the Throwable.
  reject: (reason: string) => ({
    $class: 'java.lang.IllegalArgumentException',
    $: {
      detailMessage: reason,
      cause: null,
      stackTrace: { $class: '[java.lang.StackTraceElement', $: [] },
      suppressedExceptions: { $class: 'java.util.List', $: [] },
    },
  }),
};

async function main(): Promise<void> {
  const output = process.argv[2] ?? join(__dirname, '..', 'samples', 'dubbo-capture.bin');
  const frames: Frame[] = [];
  const decoders = { client: new FrameDecoder(), server: new FrameDecoder() };
  const stops: Array<() => Promise<void>> = [];
  const zk = await ZookeeperServer.start();
  try {
    const provider = await startSofaProvider({ interface: SERVICE, version: VERSION, methods, register: false, application: 'greeting-provider' });
    stops.push(() => provider.stop());
    // Frames are cut as the bytes cross the tap, so their order is the conversation's order.
    const tap = await startTcpTap({
      targetPort: provider.port,
      onClientBytes: (bytes) => decoders.client.push(bytes, (frame) => frames.push(frame)),
      onServerBytes: (bytes) => decoders.server.push(bytes, (frame) => frames.push(frame)),
    });
    stops.push(() => tap.close());
    const registration = await registerProvider(zk.connectString, {
      interface: SERVICE,
      version: VERSION,
      port: tap.port,
      methods: Object.keys(methods),
      application: 'greeting-provider',
    });
    stops.push(() => registration.unregister());
    const consumer = await startDubboJsConsumer({
      zk: zk.connectString,
      interface: SERVICE,
      version: VERSION,
      methods: Object.keys(methods),
      application: 'greeting-consumer',
    });
    stops.push(() => consumer.stop());

    const calls: Array<[string, ReturnType<typeof java.String>[], Record<string, string>?]> = [
      ['sayHello', [java.String('Ann')], { traceId: '5f0c2a9e7d41b3c8', tenant: 'blue' }],
      ['describe', [java('com.example.demo.Person', { name: 'Bob', age: 33 })]],
      ['add', [java.int(2), java.int(40)]],
      ['reject', [java.String('age must be positive')]],
      ['fail', [java.String('')]],
    ];
    for (const [method, args, attachments] of calls) {
      const { err, res } = await consumer.call(method, args, { attachments });
      console.error(`${method}: ${err ? `error: ${err.message}` : JSON.stringify(res)}`);
    }
    // apache-dubbo-js's own heartbeat (it sends one after 180 s idle; sent now) and sofa's reply.
    consumer.sendHeartbeat();
    const expected = calls.length * 2 + 2;
    for (let waited = 0; frames.length < expected && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    if (tap.errors.length > 0) throw tap.errors[0];
    if (decoders.client.bufferedBytes !== 0 || decoders.server.bufferedBytes !== 0) throw new Error('capture ended inside a frame');
    if (frames.length !== expected) throw new Error(`expected ${expected} frames, captured ${frames.length}`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(err));
    await zk.destroy();
  }

  // Our own heartbeat pair: apache-dubbo-js only sends one after 180 s idle.
  const heartbeatId = 1000n;
  const bytes = Buffer.concat([...frames.map((f) => f.bytes), encodeHeartbeat(heartbeatId, true), encodeHeartbeat(heartbeatId, false)]);

  // Check the file decodes whole before writing it.
  const check = new FrameDecoder();
  let count = 0;
  check.push(bytes, (frame) => {
    const d = describeFrame(frame);
    count++;
    console.error(`  @${d.offset} #${d.requestId} ${d.kind}${d.status !== undefined ? ` ${d.statusName}` : ''}${d.method ? ` ${d.service}#${d.method}(${d.parameterTypes})` : ''}`);
  });
  if (check.bufferedBytes !== 0) throw new Error('capture does not end on a frame boundary');
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, bytes);
  console.error(`wrote ${count} frames, ${bytes.length} bytes to ${relative(process.cwd(), output)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

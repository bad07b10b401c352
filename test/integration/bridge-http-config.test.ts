// The HTTP path's deadlines are the operator's to set in the bridge's config: a key given there
// reaches the running listener (here the head deadline that cuts off a slowloris caller).
import { connect } from 'node:net';
import { BridgeProcess } from '../support/bridge-process';

describe('the bridge config sets the HTTP path deadlines', () => {
  let bridge: BridgeProcess | null = null;
  afterAll(async () => bridge?.stop());

  it('cuts a caller whose head trickles in after http.headerTimeoutMs, with 408', async () => {
    bridge = await BridgeProcess.start({ admin: { port: 0 }, dubbo: { enabled: false }, http: { port: 0, headerTimeoutMs: 400 } });
    const [host, port] = String(bridge.addresses.http).split(':');
    const socket = connect({ host, port: Number(port) });
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())));
    const began = performance.now();
    const head = 'GET / HTTP/1.1\r\nHost: app\r\nX-Slow: ' + 'a'.repeat(100);
    let i = 0;
    const trickle = setInterval(() => {
      if (i < head.length && !socket.destroyed) socket.write(head[i++]);
    }, 50);
    const closedAt = await closed;
    clearInterval(trickle);
    expect(answer).toMatch(/^HTTP\/1.1 408 /);
    // 400 ms, not the default 10 s (with room for a loaded machine)
    expect(closedAt - began).toBeLessThan(4000);
  });
});

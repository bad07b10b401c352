// The bridge's pooled upstream connections against real sockets: one oversized answer fails only
// its own call, not another in flight on the same connection; and connections to instances that
// left the catalog are closed, so they are no longer heartbeated.
import { Catalog, Instance, instanceDefaults } from '../../src/catalog';
import { encodeResponse } from '../../src/dubbo-codec';
import { RawDubboClient } from '../support/dubbo-client';
import { CodecProvider, startCodecProvider } from '../support/dubbo-codec-provider';
import { dubboGateway } from '../support/gateway';
import { waitFor } from '../support/wait';

const IFACE = 'com.example.demo.StatementService';

function instanceAt(provider: CodecProvider): Instance {
  return { ...instanceDefaults(), id: provider.address, service: IFACE, protocol: 'dubbo', host: '127.0.0.1', port: provider.port, stack: 'legacy', origin: { source: 'static' } };
}

const policy = () => ({ idempotentMethods: new Set<string>(), retries: 0, timeoutMs: 5000 });

describe('Dubbo upstream connections', () => {
  it('fails only the call whose answer is over the size limit, not another in flight on the same connection', async () => {
    const huge = 'h'.repeat(9 * 1024 * 1024);
    const provider = await startCodecProvider({
      answer: (method, requestId) =>
        method === 'huge' ? { bytes: encodeResponse({ requestId, value: huge }), delayMs: 50 } : { bytes: encodeResponse({ requestId, value: 'small' }), delayMs: 400 },
    });
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(provider)]);
    const gateway = dubboGateway(catalog, { policy });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      const unrelated = client.call({ path: IFACE, method: 'small' });
      const oversized = await client.call({ path: IFACE, method: 'huge' });
      expect(oversized.status).not.toBe(20);
      expect(oversized.errorMessage).toContain('the limit is 8388608');
      expect(await unrelated).toMatchObject({ status: 20, value: 'small' });
      expect(provider.accepted()).toBe(1);
      expect((await client.call({ path: IFACE, method: 'after' })).value).toBe('small');
      expect(provider.accepted()).toBe(1);
    } finally {
      client.close();
      await gateway.stop();
      await provider.close();
    }
  });

  it('closes connections to an instance that left the catalog, and stops heartbeating it', async () => {
    const answer = (_method: string, requestId: bigint) => ({ bytes: encodeResponse({ requestId, value: 'ok' }) });
    const leaving = await startCodecProvider({ answer });
    const staying = await startCodecProvider({ answer });
    const catalog = new Catalog();
    catalog.replaceSource('static', IFACE, [instanceAt(leaving), instanceAt(staying)]);
    const gateway = dubboGateway(catalog, { heartbeatIdleMs: 200, policy });
    await gateway.listener.start();
    const client = await RawDubboClient.connect(gateway.listener.address.port);
    try {
      await waitFor('calls on both instances', async () => {
        await client.call({ path: IFACE, method: 'spread' });
        return leaving.openConnections() === 1 && staying.openConnections() === 1;
      });
      catalog.replaceSource('static', IFACE, [instanceAt(staying)]);
      await waitFor('the connection to the instance that left to close', () => leaving.openConnections() === 0, 5000);
      const heartbeats = leaving.heartbeats();
      // Past several heartbeat intervals: none more reached it, and calls go on.
      await new Promise((r) => setTimeout(r, 800));
      expect(leaving.heartbeats()).toBe(heartbeats);
      expect(leaving.accepted()).toBe(1);
      expect((await client.call({ path: IFACE, method: 'after' })).value).toBe('ok');
      expect(staying.openConnections()).toBe(1);
    } finally {
      client.close();
      await gateway.stop();
      await Promise.all([leaving.close(), staying.close()]);
    }
  });
});

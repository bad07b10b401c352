// Request bodies arrive intact, whatever the bridge does with the bytes it read: the HTTP path reads
// every caller into one shared buffer, so any body bytes kept past a read (a write still queued on
// an upstream that is connecting or full, a body waiting for a held request to be routed) must be
// copies. Several callers at once send large random bodies to an upstream that hashes what it got.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import { closeHttp, gatewayTo, listenHttp } from '../support/http-raw';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function post(port: number, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/hash', headers: { host: 'greeting-service', 'content-length': body.length }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    // In pieces, so the body spans many reads of the bridge's, interleaved with other callers'.
    let at = 0;
    const next = () => {
      if (at >= body.length) return void req.end();
      const piece = body.subarray(at, (at += 48 * 1024));
      if (req.write(piece)) setImmediate(next);
      else req.once('drain', next);
    };
    next();
  });
}

describe('HTTP request bodies through the bridge', () => {
  it('reach the upstream byte for byte, from several callers at once, on new and slow upstream connections', async () => {
    // The upstream reads each body slowly at first, so writes to it stay queued in the bridge.
    const upstream = createServer((req, res) => {
      const hash = createHash('sha256');
      req.pause();
      setTimeout(() => req.resume(), 400);
      req.on('data', (c: Buffer) => hash.update(c));
      req.on('end', () => res.end(hash.digest('hex')));
    });
    const port = await listenHttp(upstream);
    const gateway = await gatewayTo([port]);
    try {
      const bodies = Array.from({ length: 6 }, () => randomBytes(8 * 1024 * 1024));
      const answers = await Promise.all(bodies.map((b) => post(gateway.listener.address.port, b)));
      expect(answers.map((a) => a.text)).toEqual(bodies.map(sha256));
    } finally {
      await gateway.stop();
      await closeHttp(upstream);
    }
  });
});

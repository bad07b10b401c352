import { HTTPParser, MAX_HEADER_SIZE } from './http-parser';
import { PlainHead, closeGaps, newPlainHead, scanPlainHead, scanPlainRequest } from './plain-head';
import { METHODS } from './http-parser';
import { READ_BUFFER } from './read-buffer';
import { finalResponseHead } from './response-head';

const NODE_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Wed, 02 Dec 2026 11:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 11\r\n\r\n';
const SPRING_HEAD = 'HTTP/1.1 201 \r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: 2\r\nDate: Wed, 02 Dec 2026 11:00:00 GMT\r\n\r\n';
const NGINX_HEAD = 'HTTP/1.1 503 Service Unavailable\r\nServer: nginx\r\nContent-Length:   0  \r\nconnection: CLOSE\r\nX-Trace:\ta b\t\r\nkeep-alive: timeout=60\r\n\r\n';

/** What Node's parser makes of bytes that should be exactly one response head; null when they are not. */
function parsed(bytes: Uint8Array): { status: number; fields: string[]; keepAlive: boolean } | null {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_SIZE);
  let result: { status: number; fields: string[]; keepAlive: boolean } | null = null;
  let heads = 0;
  const fields: string[] = [];
  parser[HTTPParser.kOnHeaders] = (more: string[]) => void fields.push(...more);
  parser[HTTPParser.kOnHeadersComplete] = (_ma: number, _mi: number, headers: string[] | undefined, _m: unknown, _u: unknown, status: number, _msg: string, _up: boolean, keepAlive: boolean) => {
    heads++;
    result = { status, fields: headers ?? fields, keepAlive };
    return 1; // no body: only the head is looked at
  };
  const outcome = parser.execute(bytes);
  parser.close();
  return typeof outcome === 'number' && outcome === bytes.length && heads === 1 ? result : null;
}

/** Scans `text` the way the upstream does: from the shared read buffer, where it is put first. */
function scan(text: string | Buffer, to?: number) {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  READ_BUFFER.set(bytes);
  const out = newPlainHead();
  const end = scanPlainHead(0, to ?? bytes.length, out);
  if (end < 0) return null;
  const start = closeGaps(0, out);
  return { ...out, end, head: READ_BUFFER.toString('latin1', start, end) };
}

/** `base` with one to three random edits: a byte inserted, dropped, replaced or case-flipped, or a whole line added. */
function mutated(next: () => number, base: string, interesting: readonly number[], lines: readonly string[]): Buffer {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const bytes = [...Buffer.from(base, 'latin1')];
  for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
    const at = Math.floor(next() * bytes.length);
    const kind = next();
    if (kind < 0.3) bytes.splice(at, 0, pick(interesting));
    else if (kind < 0.5) bytes.splice(at, 1);
    else if (kind < 0.8) bytes[at] = pick(interesting);
    else if (kind < 0.9) bytes[at] = bytes[at] ^ 0x20;
    else {
      const lineStart = Buffer.from(bytes).toString('latin1').indexOf('\r\n', at) + 2;
      if (lineStart > 1) bytes.splice(lineStart, 0, ...Buffer.from(pick(lines), 'latin1'));
    }
  }
  return Buffer.from(bytes);
}

/**
 * Scans 30,000 mutations of `bases` (seeded) with `scan` and runs `check` on each one it takes,
 * `seen` naming the case. Both sides must be exercised: more than 3,000 taken and 3,000 refused,
 * so the test can see a wrong acceptance.
 */
function differential(
  seed: number,
  bases: readonly string[],
  interesting: readonly number[],
  lines: readonly string[],
  scan: (from: number, to: number, out: PlainHead) => number,
  check: (seen: string, input: Buffer, end: number, out: PlainHead) => void,
): void {
  const next = random(seed);
  let accepted = 0;
  let rejected = 0;
  for (let n = 0; n < 30_000; n++) {
    const input = mutated(next, bases[Math.floor(next() * bases.length)], interesting, lines);
    READ_BUFFER.set(input);
    const out = newPlainHead();
    const end = scan(0, input.length, out);
    if (end < 0) {
      rejected++;
      continue;
    }
    accepted++;
    check(`case ${n}: ${JSON.stringify(input.toString('latin1'))}`, input, end, out);
  }
  expect(accepted).toBeGreaterThan(3_000);
  expect(rejected).toBeGreaterThan(3_000);
}

/** A seeded generator, so a failure names a case that can be run again. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('scanPlainHead', () => {
  it("passes node:http's usual head on with its Connection and Keep-Alive lines cut out", () => {
    const r = scan(NODE_HEAD + 'hello world');
    expect(r).toMatchObject({ status: 200, contentLength: 11, close: false, end: NODE_HEAD.length });
    expect(r?.head).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Wed, 02 Dec 2026 11:00:00 GMT\r\nContent-Length: 11\r\n\r\n');
  });

  it('cuts lines that are not next to each other, and reads Connection: close in any case', () => {
    const r = scan(NGINX_HEAD);
    expect(r).toMatchObject({ status: 503, contentLength: 0, close: true, gapCount: 2 });
    expect(r?.head).toBe('HTTP/1.1 503 Service Unavailable\r\nServer: nginx\r\nContent-Length:   0  \r\nX-Trace:\ta b\t\r\n\r\n');
  });

  it('takes a head with nothing to cut as it is', () => {
    expect(scan(SPRING_HEAD)).toMatchObject({ status: 201, contentLength: 2, close: false, gapCount: 0, head: SPRING_HEAD });
  });

  it.each([
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['no Content-Length', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n'],
    ['an interim response', 'HTTP/1.1 100 Continue\r\n\r\n'],
    ['a 101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ['204', 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n'],
    ['304', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'],
    ['a status above 599', 'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'],
    ['a Content-Length that is not digits', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'],
    ['an empty Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n'],
    ['a Connection naming another header', 'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n'],
    ['a folded line', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n'],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
    ['a control byte in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n'],
    ['a byte past ASCII in a value', 'HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\nContent-Length: 0\r\n\r\n'],
    ['a Trailer header', 'HTTP/1.1 200 OK\r\nTrailer: X-A\r\nContent-Length: 0\r\n\r\n'],
    ['a TE header', 'HTTP/1.1 200 OK\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n'],
    ['a Proxy-Authenticate header', 'HTTP/1.1 407 Auth\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n'],
    ['a head not ended yet', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n'],
  ])('leaves %s to the parser', (_what, head) => {
    expect(scan(head)).toBeNull();
  });

  it('never reads a head end that lies past the read (stale bytes of an earlier one)', () => {
    const bytes = Buffer.from(NODE_HEAD, 'latin1');
    for (let to = 0; to < bytes.length; to++) expect(scan(Buffer.from(bytes), to)).toBeNull();
    expect(scan(Buffer.from(bytes), bytes.length)).not.toBeNull();
  });

  it('leaves a head larger than the limit to the parser (which refuses it)', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEADER_SIZE)}\r\nContent-Length: 0\r\n\r\n`;
    expect(scan(big)).toBeNull();
  });

  // The one promise this file makes: what it accepts, Node's parser reads the same way, and the
  // head it passes on says what the head rebuilt from the parser's fields says.
  it("accepts only heads Node's parser reads the same way, and passes on what the rebuilt head would say (differential, 30,000 mutations)", () => {
    const bases = [NODE_HEAD, SPRING_HEAD, NGINX_HEAD, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'];
    const interesting = [13, 10, 32, 9, 0x3a, 0, 0x7f, 0x80, 0xff, 0x61, 0x41, 0x30, 0x39, 0x2c, 0x22, 0x2d, 0x3b];
    const lines = ['Content-Length: 5\r\n', 'Connection: close\r\n', 'Transfer-Encoding: chunked\r\n', 'Keep-Alive: x\r\n', 'Connection: keep-alive\r\n', 'X-A: b\r\n'];
    differential(20261202, bases, interesting, lines, scanPlainHead, (seen, input, end, out) => {
      // What follows the head (a mutation may have put a line there) is the body's: not looked at.
      const original = parsed(input.subarray(0, end));
      expect([seen, original]).toEqual([seen, expect.objectContaining({ status: out.status, keepAlive: !out.close })]);
      const fields = original?.fields ?? [];
      const lengths = fields.filter((_f, i) => i % 2 === 0 && fields[i].toLowerCase() === 'content-length').length;
      expect([seen, lengths]).toEqual([seen, 1]);
      // What goes to the caller, read back by the parser, against the head rebuilt from the fields.
      const start = closeGaps(0, out);
      const passed = parsed(READ_BUFFER.subarray(start, end));
      const rebuilt = parsed(Buffer.from(finalResponseHead({ rechunk: false, closeAfter: false, contentLength: -1 }, out.status, 'OK', fields, false, false), 'latin1'));
      expect([seen, passed?.status, passed?.fields]).toEqual([seen, rebuilt?.status, rebuilt?.fields]);
      expect([seen, passed?.keepAlive]).toEqual([seen, true]);
    });
  });
});

/** What Node's parser makes of bytes that should be exactly one request head without a body. */
function parsedRequest(bytes: Uint8Array): { method: string; url: string; fields: string[]; keepAlive: boolean; version: string } | null {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE);
  let result: { method: string; url: string; fields: string[]; keepAlive: boolean; version: string } | null = null;
  let heads = 0;
  let complete = 0;
  const fields: string[] = [];
  parser[HTTPParser.kOnHeaders] = (more: string[]) => void fields.push(...more);
  parser[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number, url: string, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean) => {
    heads++;
    result = upgrade ? null : { method: METHODS[method], url, fields: headers ?? fields, keepAlive, version: `${major}.${minor}` };
    return 0;
  };
  parser[HTTPParser.kOnMessageComplete] = () => void complete++;
  const outcome = parser.execute(bytes);
  parser.close();
  return typeof outcome === 'number' && outcome === bytes.length && heads === 1 && complete === 1 ? result : null;
}

function scanRequest(text: string) {
  const bytes = Buffer.from(text, 'latin1');
  READ_BUFFER.set(bytes);
  const out = newPlainHead();
  const end = scanPlainRequest(0, bytes.length, out);
  if (end < 0) return null;
  const host = READ_BUFFER.toString('latin1', out.hostStart, out.hostEnd);
  const target = READ_BUFFER.toString('latin1', out.targetStart, out.targetEnd);
  const start = closeGaps(0, out);
  return { ...out, end, host, target, lines: READ_BUFFER.toString('latin1', start, end) };
}

const WRK_REQUEST = 'GET / HTTP/1.1\r\nHost: app\r\n\r\n';
const CURL_REQUEST = 'GET /api/v1/orders?id=7&x=%20 HTTP/1.1\r\nHost: orders.internal:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n';
const CLIENT_REQUEST = 'DELETE /cart/42 HTTP/1.1\r\nconnection: keep-alive\r\nhost: cart\r\nKeep-Alive: timeout=5\r\nAuthorization: Bearer abc.def\r\nX-Request-Id: 9f\r\n\r\n';

describe('scanPlainRequest', () => {
  it('reads a bodyless request: method, target, Host, and the lines with Connection and Keep-Alive cut out', () => {
    expect(scanRequest(WRK_REQUEST)).toMatchObject({ method: 'GET', target: '/', host: 'app', close: false, lines: WRK_REQUEST });
    expect(scanRequest(CURL_REQUEST)).toMatchObject({ method: 'GET', target: '/api/v1/orders?id=7&x=%20', host: 'orders.internal:8080' });
    expect(scanRequest(CLIENT_REQUEST)).toMatchObject({
      method: 'DELETE',
      host: 'cart',
      lines: 'DELETE /cart/42 HTTP/1.1\r\nhost: cart\r\nAuthorization: Bearer abc.def\r\nX-Request-Id: 9f\r\n\r\n',
    });
    expect(scanRequest('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).toMatchObject({ close: true });
  });

  it.each([
    ['a body (Content-Length)', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi'],
    ['an empty Content-Length body', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['a chunked body', 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['no Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n'],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['an upgrade', 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['an absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a target with a fragment', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['X-Forwarded-For', 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n'],
    ['X-Forwarded-Proto', 'GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-proto: https\r\n\r\n'],
    ['X-Forwarded-Host', 'GET / HTTP/1.1\r\nHost: a\r\nX-FORWARDED-HOST: b\r\n\r\n'],
    ['a hops count', 'GET / HTTP/1.1\r\nHost: a\r\nX-Mesh-Bridge-Hops: 1\r\n\r\n'],
    ['Proxy-Authorization', 'GET / HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic x\r\n\r\n'],
    ['a Connection naming another header', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\n'],
    ['a folded line', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n'],
    ['a bare LF', 'GET / HTTP/1.1\nHost: a\r\n\r\n'],
    ['leading empty lines', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a head not ended yet', 'GET / HTTP/1.1\r\nHost: a\r\n'],
  ])('leaves %s to the parser', (_what, head) => {
    expect(scanRequest(head)).toBeNull();
  });

  it("accepts only bodyless requests Node's parser reads the same way (differential, 30,000 mutations)", () => {
    const bases = [WRK_REQUEST, CURL_REQUEST, CLIENT_REQUEST, 'OPTIONS /a;b=c HTTP/1.1\r\nHost: x\r\nOrigin: http://y\r\n\r\n', 'PATCH /p HTTP/1.1\r\nHOST:\tz \r\n\r\n'];
    const interesting = [13, 10, 32, 9, 0x3a, 0, 0x7f, 0x80, 0xff, 0x61, 0x41, 0x30, 0x2c, 0x22, 0x2d, 0x2f, 0x3f, 0x23, 0x25, 0x5c, 0x7b];
    const lines = ['Content-Length: 5\r\n', 'Connection: close\r\n', 'Host: other\r\n', 'Transfer-Encoding: chunked\r\n', 'Keep-Alive: x\r\n', 'Upgrade: h2c\r\n', 'X-A: b\r\n'];
    differential(20261203, bases, interesting, lines, scanPlainRequest, (seen, input, end, out) => {
      const original = parsedRequest(input.subarray(0, end));
      const host = READ_BUFFER.toString('latin1', out.hostStart, out.hostEnd);
      const target = READ_BUFFER.toString('latin1', out.targetStart, out.targetEnd);
      expect([seen, original]).toEqual([seen, expect.objectContaining({ method: out.method, url: target, keepAlive: !out.close, version: '1.1' })]);
      const fields = original?.fields ?? [];
      const named = (name: string) => fields.filter((_f, i) => i % 2 === 0 && fields[i].toLowerCase() === name);
      expect([seen, named('host').length, fields[fields.findIndex((f, i) => i % 2 === 0 && f.toLowerCase() === 'host') + 1]]).toEqual([seen, 1, host]);
      for (const name of ['content-length', 'transfer-encoding', 'upgrade', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-mesh-bridge-hops']) expect([seen, name, named(name).length]).toEqual([seen, name, 0]);
      // The lines that go upstream, read back, are the caller's fields without Connection and Keep-Alive.
      const start = closeGaps(0, out);
      const passed = parsedRequest(READ_BUFFER.subarray(start, end));
      const kept = fields.filter((_f, i) => !['connection', 'keep-alive'].includes(fields[i - (i % 2)].toLowerCase()));
      expect([seen, passed?.fields, passed?.url, passed?.method]).toEqual([seen, kept, target, out.method]);
    });
  });
});

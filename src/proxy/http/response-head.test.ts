import { HOP_BY_HOP, ResponseFraming, finalResponseHead, interimResponseHead, isHopByHop, lowerName, switchingProtocolsHead } from './response-head';

function head(fields: string[], options: { status?: number; noBody?: boolean; http10?: boolean; closeAfter?: boolean } = {}) {
  const out: ResponseFraming = { rechunk: false, closeAfter: options.closeAfter ?? false, contentLength: -1 };
  const text = finalResponseHead(out, options.status ?? 200, 'OK', fields, options.noBody ?? false, options.http10 ?? false);
  return { text, ...out };
}

describe('finalResponseHead', () => {
  it('keeps end-to-end headers and a sized body as they are', () => {
    const r = head(['Content-Type', 'text/plain', 'Content-Length', '5']);
    expect(r.text).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n');
    expect(r.rechunk).toBe(false);
    expect(r.contentLength).toBe(5);
  });

  it('strips hop-by-hop headers and those the Connection header names', () => {
    const r = head(['Connection', 'keep-alive, X-Secret-Hop', 'Keep-Alive', 'timeout=5', 'X-Secret-Hop', '1', 'Proxy-Authenticate', 'Basic', 'Content-Length', '0', 'X-Kept', 'y']);
    expect(r.text).toBe('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Kept: y\r\n\r\n');
  });

  it('reads the framing headers in any spelling, not only the usual ones', () => {
    const r = head(['CONTENT-LENGTH', '7', 'CONNECTION', 'Keep-Alive, X-Hop', 'KEEP-ALIVE', 'timeout=5', 'x-hop', '1']);
    expect(r.text).toBe('HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 7\r\n\r\n');
    expect(r.contentLength).toBe(7);
    for (const name of ['Content-Length', 'content-length', 'cOnTeNt-LeNgTh', 'Transfer-Encoding', 'TE', 'X-Other']) expect(lowerName(name)).toBe(name.toLowerCase());
  });

  it("does not pass on the upstream's Connection: close", () => {
    const r = head(['Connection', 'close', 'Content-Length', '2']);
    expect(r.text).not.toMatch(/connection/i);
    expect(r.closeAfter).toBe(false);
  });

  it('keeps gzip of gzip, chunked and chunks the body again', () => {
    const r = head(['Transfer-Encoding', 'gzip, chunked']);
    expect(r.text).toContain('transfer-encoding: gzip, chunked\r\n');
    expect(r.rechunk).toBe(true);
  });

  it('never sends chunked to an HTTP/1.0 caller: the body is close-delimited', () => {
    const r = head(['Transfer-Encoding', 'chunked'], { http10: true });
    expect(r.text).not.toMatch(/transfer-encoding/i);
    expect(r.text).toContain('connection: close\r\n');
    expect(r).toMatchObject({ rechunk: false, closeAfter: true });
    expect(head(['Content-Length', '3'], { http10: true }).text).toContain('connection: keep-alive\r\n');
  });

  it('chunks a close-delimited body for an HTTP/1.1 caller, whose connection stays open', () => {
    const r = head(['Content-Type', 'text/plain']);
    expect(r.text).toContain('transfer-encoding: chunked\r\n');
    expect(r).toMatchObject({ rechunk: true, closeAfter: false });
  });

  it('adds no framing to a response without a body', () => {
    expect(head(['Transfer-Encoding', 'chunked'], { noBody: true })).toMatchObject({ rechunk: false });
    expect(head([], { status: 304 }).text).toBe('HTTP/1.1 304 OK\r\n\r\n');
  });

  it('says close when the caller asked for it', () => {
    expect(head(['Content-Length', '0'], { closeAfter: true }).text).toContain('connection: close\r\n');
  });
});

describe('interim and 101 heads', () => {
  it('passes 1xx to HTTP/1.1 callers only', () => {
    expect(interimResponseHead(103, 'Early Hints', ['Link', '</a.css>', 'Connection', 'x'], false)).toBe('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n');
    expect(interimResponseHead(100, 'Continue', [], true)).toBe('');
  });

  it('keeps the Upgrade header of a 101', () => {
    expect(switchingProtocolsHead('Switching Protocols', ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'abc'])).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\nconnection: upgrade\r\n\r\n',
    );
  });
});

describe('isHopByHop', () => {
  it('says what HOP_BY_HOP says, for its names and for near misses', () => {
    const names = [...HOP_BY_HOP, 'content-length', 'host', 'tee', 'trailers', 'upgrades', 'connections', 'keep-alivE', 'x', '', 'proxy-authorizatio'];
    for (const name of names) expect([name, isHopByHop(name)]).toEqual([name, HOP_BY_HOP.has(name)]);
  });
});

describe('finalResponseHead, names looked at by length', () => {
  it('drops every hop-by-hop header whatever its case, reads Content-Length, passes the rest as sent', () => {
    const names = [...HOP_BY_HOP].map((n) => n.toUpperCase());
    const fields = ['X-Kept', 'a', 'Content-LENGTH', '2', ...names.flatMap((n) => [n, 'v']), 'Date', 'today'];
    const out: ResponseFraming = { rechunk: false, closeAfter: false, contentLength: -1 };
    const text = finalResponseHead(out, 200, 'OK', fields, false, false);
    expect(text).toBe('HTTP/1.1 200 OK\r\nX-Kept: a\r\nContent-LENGTH: 2\r\nDate: today\r\ntransfer-encoding: v, chunked\r\n\r\n');
  });
});

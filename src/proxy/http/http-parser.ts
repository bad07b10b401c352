// Node's own HTTP/1 parser (llhttp), as its http module uses it. The bridge's HTTP path parses only
// what routing needs (the request head) and message boundaries, and moves the bytes itself:
// IncomingMessage/ServerResponse and their streams cost more than the parsing (see the README).
// `_http_common` is internal (documented as deprecated from Node 24) but stable across Node 14-22;
// this file is the one place that knows it, and verifyParser() refuses to start on a Node whose
// parser no longer behaves as this path expects (HTTP_PARSER_UNAVAILABLE).
import { MeshBridgeError } from '../../errors';

export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(chunk: Uint8Array): number | Error;
  finish(): undefined | Error;
  close(): void;
  free(): void;
  [key: number]: unknown;
}

interface HttpParserClass {
  new (): HttpParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

interface HttpCommon {
  HTTPParser: HttpParserClass;
  methods: string[];
}

let common: HttpCommon | undefined;
let loadError: unknown;
try {
  common = require('_http_common') as HttpCommon;
} catch (err) {
  loadError = err;
}

export const HTTPParser = common?.HTTPParser as HttpParserClass;
/** Method names by the index llhttp reports. */
export const METHODS: readonly string[] = common?.methods ?? [];

/**
 * Checks that a `_http_common` module parses as the HTTP path expects: the callback slots it uses,
 * and one request and one chunked response parsed with the arguments it reads. Throws
 * HTTP_PARSER_UNAVAILABLE naming what differs: a Node release that changed its internals is
 * refused at startup, never discovered on live traffic.
 */
export function verifyParser(candidate: unknown): void {
  const fail = (what: string, cause?: unknown): never => {
    throw new MeshBridgeError('HTTP_PARSER_UNAVAILABLE', `Node's internal HTTP parser (_http_common) is not usable on Node ${process.version}: ${what}`, {
      value: process.version,
      where: '_http_common',
      cause,
    });
  };
  const module = candidate as Partial<HttpCommon> | undefined;
  const Parser = module?.HTTPParser;
  if (typeof Parser !== 'function') return fail('it has no HTTPParser', loadError);
  for (const slot of ['REQUEST', 'RESPONSE', 'kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete'] as const) {
    if (typeof Parser[slot] !== 'number') fail(`HTTPParser.${slot} is not a number`);
  }
  if (!Array.isArray(module?.methods) || module.methods.length === 0) fail('it has no methods list');
  const methods = module?.methods as string[];
  try {
    const seen: string[] = [];
    const request = new Parser();
    request.initialize(Parser.REQUEST, {}, MAX_HEADER_SIZE);
    request[Parser.kOnMessageBegin] = () => void seen.push('begin');
    request[Parser.kOnHeadersComplete] = ((major, minor, headers, method, url, _s, _m, upgrade, keepAlive) => {
      seen.push(`head ${major}.${minor} ${methods[method ?? -1]} ${url} ${headers?.join('=')} ${upgrade} ${keepAlive}`);
      return 0;
    }) as HeadersCompleteCallback;
    request[Parser.kOnBody] = (b: Buffer) => void seen.push(`body ${b.toString()}`);
    request[Parser.kOnMessageComplete] = () => void seen.push('complete');
    const requestBytes = Buffer.from('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi');
    const parsed = request.execute(requestBytes);
    request.close();
    const response = new Parser();
    response.initialize(Parser.RESPONSE, {}, MAX_HEADER_SIZE);
    response[Parser.kOnHeadersComplete] = ((_ma, _mi, _h, _m, _u, status, message) => {
      seen.push(`status ${status} ${message}`);
      return 0;
    }) as HeadersCompleteCallback;
    response[Parser.kOnBody] = (b: Buffer) => void seen.push(`body ${b.toString()}`);
    response[Parser.kOnMessageComplete] = () => void seen.push('complete');
    response.execute(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'));
    response.close();
    const expected = ['begin', 'head 1.1 POST /x Host=a=Content-Length=2 false true', 'body hi', 'complete', 'status 200 OK', 'body ok', 'complete'];
    if (parsed !== requestBytes.length || seen.join('|') !== expected.join('|')) fail(`a self-test parsed ${JSON.stringify(seen)} (${String(parsed)} bytes)`);
  } catch (err) {
    if (err instanceof MeshBridgeError) throw err;
    fail('its self-test threw', err);
  }
}

let verified = false;

/** Verifies Node's parser once per process (HttpListener calls it at construction). */
export function assertParserWorks(): void {
  if (verified) return;
  verifyParser(common);
  verified = true;
}

/** `(versionMajor, versionMinor, headers, method, url, statusCode, statusMessage, upgrade, shouldKeepAlive)`. */
export type HeadersCompleteCallback = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number | undefined,
  url: string | undefined,
  statusCode: number | undefined,
  statusMessage: string | undefined,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number | void;

/** The error llhttp reports, with its code (`HPE_*`). */
export interface HttpParseError extends Error {
  code?: string;
  reason?: string;
  bytesParsed?: number;
}

export const MAX_HEADER_SIZE = 16 * 1024;

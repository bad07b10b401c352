// Node's own HTTP/1 parser (llhttp), as its http module uses it. The bridge's HTTP path parses only
// what routing needs (the request head) and message boundaries, and moves the bytes itself:
// IncomingMessage/ServerResponse and their streams cost more than the parsing (see the README).
// `_http_common` is internal but stable across Node 14-22; this file is the one place that knows it.

export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(chunk: Buffer): number | Error;
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

const common = require('_http_common') as { HTTPParser: HttpParserClass; methods: string[] };

export const HTTPParser = common.HTTPParser;
/** Method names by the index llhttp reports. */
export const METHODS: readonly string[] = common.methods;

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

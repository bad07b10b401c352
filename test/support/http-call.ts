// One HTTP request from node:http on a connection of its own, for tests: the status and body the caller saw.
import { request } from 'node:http';

export interface HttpReply {
  status: number;
  body: string;
}

export function httpCall(port: number, options: { host: string; method?: string; path?: string; headers?: Record<string, string> }): Promise<HttpReply> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: { host: options.host, ...options.headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${options.host} within 10 s`)));
    req.on('error', fail);
    req.end();
  });
}

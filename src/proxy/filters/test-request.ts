// A ProxyRequest for filter unit tests.
import type { ProxyRequest } from './filter';

export function testRequest(fields: Partial<Omit<ProxyRequest, 'callerApp' | 'attribute'>> & { app?: string; attributes?: Record<string, string> } = {}): ProxyRequest {
  const { app, attributes = {}, ...rest } = fields;
  return {
    protocol: 'dubbo',
    service: 'com.example.Greeter',
    version: '',
    group: '',
    method: 'sayHello',
    remoteAddress: '127.0.0.1:40000',
    ...rest,
    callerApp: () => app,
    attribute: (name) => attributes[name],
  };
}

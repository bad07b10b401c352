// A ProxyRequest for filter unit tests.
import type { ProxyRequest } from './filter';

export function testRequest(fields: Partial<Omit<ProxyRequest, 'callerApp' | 'attribute' | 'argument'>> & { app?: string; attributes?: Record<string, string>; args?: Array<string | number | undefined> } = {}): ProxyRequest {
  const { app, attributes = {}, args = [], ...rest } = fields;
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
    argument: (index) => args[index],
  };
}

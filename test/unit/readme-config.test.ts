// The README's config example is what operators copy first: it must stay a valid config.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateBridgeConfig } from '../../src/bridge/config';

describe('the README', () => {
  it('shows a config example the bridge accepts', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(readme);
    expect(example).not.toBeNull();
    const config = validateBridgeConfig(parse(example![1]), 'README.md');
    expect(config.zookeeper?.export.target).toBe('bridge');
    expect(config.routes[0]).toMatchObject({ service: 'com.example.GreetingService', mesh: 10, methods: { sayHello: 50 } });
  });
});

// A sofa-rpc-node provider in a process of its own, so its work does not share the test's event
// loop (a timing test measures the path under test, not the peer). Its methods are given as the
// source of async functions; each call is reported to the parent as `{ saw: method }`.
// Run by startSofaProviderChild (sofa-provider-process.ts).
import { ProviderMethod, startSofaProvider } from './dubbo-peers';

interface Spec {
  interface: string;
  version: string;
  methods: Record<string, string>;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as Spec;
  const methods: Record<string, ProviderMethod> = {};
  for (const [name, source] of Object.entries(spec.methods)) {
    // Test code handing the child its own method bodies: evaluated here, never from elsewhere.
    const impl = new Function(`return (${source});`)() as ProviderMethod;
    methods[name] = (...args: unknown[]) => {
      process.send?.({ saw: name });
      return impl(...args);
    };
  }
  const provider = await startSofaProvider({ interface: spec.interface, version: spec.version, methods, register: false });
  process.send?.({ port: provider.port });
  process.on('disconnect', () => void provider.stop().then(() => process.exit(0)));
}

void main();

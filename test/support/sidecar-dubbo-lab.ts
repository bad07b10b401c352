// A sidecar with a Dubbo outbound stack and an apache-dubbo-js consumer that finds it through a
// real ZooKeeper, for the sidecar's Dubbo routing tests: the config is written to a file and run
// through the CLI; stop() stops everything it started.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DubboJsConsumer, registerProvider, startDubboJsConsumer } from './dubbo-peers';
import { SidecarChild, adminJson, startSidecar } from './sidecar-child';
import { ZookeeperServer } from './zookeeper';

export interface SidecarDubboLab {
  sidecar: SidecarChild;
  consumer: DubboJsConsumer;
  /** A series' value in the sidecar's /metrics (`name{labels}`), 0 when absent. */
  metric(name: string, labels: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startSidecarDubboLab(config: Record<string, unknown>, service: { interface: string; version: string; methods: string[]; timeoutSeconds?: number }): Promise<SidecarDubboLab> {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-lab-'));
  const file = join(dir, 'sidecar.yaml');
  writeFileSync(file, stringify(config));
  const stops: Array<() => Promise<void>> = [async () => rmSync(dir, { recursive: true, force: true })];
  const stop = async (): Promise<void> => {
    for (const step of stops.splice(0).reverse()) await step();
  };
  try {
    const sidecar = await startSidecar(file);
    stops.push(() => sidecar.stop());
    const zk = await ZookeeperServer.start();
    stops.push(() => zk.destroy());
    const registration = await registerProvider(zk.connectString, { interface: service.interface, version: service.version, methods: service.methods, port: sidecar.ports['dubbo.outbound'], application: 'sidecar-lab' });
    stops.push(() => registration.unregister());
    const consumer = await startDubboJsConsumer({ zk: zk.connectString, ...service });
    stops.push(() => consumer.stop());
    const metric = async (name: string, labels: string): Promise<number> => {
      const { text } = (await adminJson(sidecar, '/metrics')) as { text: string };
      const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    return { sidecar, consumer, metric, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

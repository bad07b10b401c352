// The sidecar as operators run it, for tests: `mesh-bridge sidecar --config FILE` through the CLI
// (node with tsx's hooks) in a process of its own; its addresses from the line it logs once up.
import { ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { resolve } from 'node:path';
import { waitFor } from './wait';

export interface SidecarChild {
  child: ChildProcess;
  admin: string;
  /** Ports of the HTTP stacks (0 when not configured); `ports` has every stack's, by key path. */
  inbound: number;
  outbound: number;
  ports: Record<string, number>;
  output(): string;
  stop(): Promise<void>;
}

/** Runs the CLI (`mesh-bridge sidecar --config FILE`) with tsx; resolves once it logs its addresses. */
export async function startSidecar(file: string, extra: string[] = []): Promise<SidecarChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'sidecar', '--config', file, ...extra], { cwd: resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let addresses: Record<string, string> | undefined;
  await waitFor(
    'the sidecar to log its addresses',
    () => {
      if (child.exitCode !== null) throw new Error(`sidecar exited:\n${output}`);
      const line = output.split('\n').find((l) => l.includes('"addresses"'));
      if (line !== undefined) addresses = (JSON.parse(line) as { addresses: typeof addresses }).addresses;
      return addresses !== undefined;
    },
    30_000,
  );
  const a = addresses as Record<string, string>;
  const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));
  return {
    child,
    admin: a.admin,
    inbound: a.inbound === undefined ? 0 : portOf(a.inbound),
    outbound: a.outbound === undefined ? 0 : portOf(a.outbound),
    ports: Object.fromEntries(Object.entries(a).map(([name, address]) => [name, portOf(address)])),
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function adminJson(sidecar: SidecarChild, path: string): Promise<Record<string, unknown>> {
  const [host, port] = [sidecar.admin.slice(0, sidecar.admin.lastIndexOf(':')), Number(sidecar.admin.slice(sidecar.admin.lastIndexOf(':') + 1))];
  const reply = await new Promise<string>((done, fail) => {
    request({ host, port, path }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => done(text));
    })
      .on('error', fail)
      .end();
  });
  return path === '/metrics' ? { text: reply } : (JSON.parse(reply) as Record<string, unknown>);
}

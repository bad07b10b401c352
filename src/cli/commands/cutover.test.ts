import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parse } from 'yaml';
import { isMeshBridgeError } from '../../errors';
import { buildProgram } from '../main';
import { formatPlan, planFromFiles } from './cutover';

const PLAYBOOKS = join(__dirname, '..', '..', '..', 'migration-playbooks');
const payments = { playbook: join(PLAYBOOKS, 'dubbo-payments.yaml'), graph: join(PLAYBOOKS, 'dubbo-payments-graph.yaml') };

/** Commander exits the process on a usage error unless told otherwise, command by command. */
function exitOverride(command: Command): Command {
  command.exitOverride();
  for (const sub of command.commands) exitOverride(sub);
  return command;
}

async function cli(args: string[]): Promise<{ stdout: string; error: unknown }> {
  let stdout = '';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  let error: unknown = null;
  try {
    await exitOverride(buildProgram()).parseAsync(['node', 'mesh-bridge', ...args]);
  } catch (err) {
    error = err;
  } finally {
    write.mockRestore();
  }
  return { stdout, error };
}

describe('cutover plan', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cutover-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the waves as a table with reasons and per-step minimum holds', () => {
    const text = formatPlan(planFromFiles(payments));
    expect(text).toContain('Cutover plan "payments-dubbo-family": 4 waves, providers first, at most 2 services per wave');
    expect(text).toContain('Wave 2 (approval before it starts)');
    expect(text).toContain('why: calls com.example.payment.LedgerService (wave 1)');
    expect(text).toMatch(/step {2}weight {2}hold {6}min hold {2}calls needed {2}notes/);
    expect(text).toMatch(/\n {4}4 +50 % {2}1h +\S+ +[\d,]+ {2}approval; freeze\n/);
    expect(text).toContain('method queryPayment moves ahead of the service');
    expect(text).toContain('Warnings:');
  });

  it('prints JSON with --json and writes YAML with --out', async () => {
    const out = join(dir, 'plan.yaml');
    const { stdout, error } = await cli(['cutover', 'plan', '--playbook', payments.playbook, '--graph', payments.graph, '--json', '--out', out]);
    expect(error).toBeNull();
    const json = JSON.parse(stdout);
    expect(json.waves).toHaveLength(4);
    expect(json.waves[0].services[0]).toMatchObject({ service: 'com.example.payment.LedgerService', wave: 1 });
    const yaml = parse(readFileSync(out, 'utf8'));
    expect(yaml.waves[3].services[0].reason).toBe('calls com.example.payment.PaymentService (wave 3)');
  });

  it('plans without a graph: every service in the first waves, by the cap', () => {
    const plan = planFromFiles({ playbook: payments.playbook });
    expect(plan.waves.map((w) => w.services.length)).toEqual([2, 2]);
  });

  it('fails with the key path on a bad playbook and names an unreadable graph', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: x\ndefaults: { steps: [{ weight: 5 }] }\nservices: [{ name: A, kind: dubbo }]\n');
    const { error } = await cli(['cutover', 'plan', '--playbook', bad]);
    expect(isMeshBridgeError(error) && error.code).toBe('PLAYBOOK_INVALID');
    expect((error as Error).message).toContain('defaults.steps.0.hold: required below 100 %');
    const missing = await cli(['cutover', 'plan', '--playbook', payments.playbook, '--graph', join(dir, 'none.yaml')]);
    expect(isMeshBridgeError(missing.error) && missing.error.code).toBe('CUTOVER_BAD_GRAPH');
  });

  it('refuses a bridge address that is not a URL, naming it', async () => {
    const { error } = await cli(['cutover', 'export', '--format', 'istio', '--bridges', 'http://a:1,http://[bad']);
    expect(isMeshBridgeError(error) && error.code).toBe('CLI_USAGE');
    expect((error as Error).message).toContain('"http://[bad"');
  });

  it('asks for the ZooKeeper that holds the run state before any run command', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const name of ['run', 'status', 'pause', 'resume', 'approve', 'rollback']) {
        const { error } = await cli(['cutover', name]);
        expect((error as { code?: string }).code).toBe('commander.missingMandatoryOptionValue');
        expect((error as Error).message).toContain('--zookeeper');
      }
    } finally {
      stderr.mockRestore();
    }
  });
});

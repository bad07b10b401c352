// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function, and per source
// file of ours (src/), with (idle) left out of the percentages.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  top: SelfTime[];
  byFile: SelfTime[];
  /** Self time in our code (src/), node internals, dependencies, GC, other. */
  byKind: Record<'ours' | 'node' | 'deps' | 'gc' | 'program' | 'other', number>;
}

function shortUrl(url: string): string {
  const src = url.indexOf('/src/');
  if (src >= 0 && !url.includes('node_modules')) return url.slice(src + 1);
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  return url;
}

export function summarizeProfile(file: string, limit = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: it belongs to the sample before.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + delta);
  }
  const byFunction = new Map<string, { name: string; where: string; us: number }>();
  const byFile = new Map<string, number>();
  const byKind = { ours: 0, node: 0, deps: 0, gc: 0, program: 0, other: 0 };
  let idleUs = 0;
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const name = frame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const url = frame.url;
    // Lines of .ts files are those of tsx's output, not of the source: the file name is enough.
    const where = url ? (url.endsWith('.ts') ? shortUrl(url) : `${shortUrl(url)}:${frame.lineNumber + 1}`) : '';
    const key = `${name}|${where}`;
    const entry = byFunction.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
    if (name === '(garbage collector)') byKind.gc += us;
    else if (name === '(program)') byKind.program += us;
    else if (url.includes('/src/') && !url.includes('node_modules')) {
      byKind.ours += us;
      const f = shortUrl(url);
      byFile.set(f, (byFile.get(f) ?? 0) + us);
    } else if (url.startsWith('node:') || (url === '' && name !== '(root)')) byKind.node += us;
    else if (url.includes('node_modules')) byKind.deps += us;
    else byKind.other += us;
  }
  const toEntry = (name: string, where: string, us: number): SelfTime => ({ name, where, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 });
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    top: [...byFunction.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, limit)
      .map((e) => toEntry(e.name, e.where, e.us)),
    byFile: [...byFile.entries()].sort((a, b) => b[1] - a[1]).map(([f, us]) => toEntry(f, '', us)),
    byKind: {
      ours: byKind.ours / 1000,
      node: byKind.node / 1000,
      deps: byKind.deps / 1000,
      gc: byKind.gc / 1000,
      program: byKind.program / 1000,
      other: byKind.other / 1000,
    },
  };
}

export function formatProfile(title: string, summary: ProfileSummary): string {
  const pct = (ms: number): string => `${((100 * ms) / Math.max(summary.busyMs, 1e-9)).toFixed(1)}%`;
  const lines = [
    `${title}: ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle`,
    `  by kind: ours ${pct(summary.byKind.ours)}, node internals ${pct(summary.byKind.node)}, deps ${pct(summary.byKind.deps)}, ` +
      `GC ${pct(summary.byKind.gc)}, (program) ${pct(summary.byKind.program)}, other ${pct(summary.byKind.other)}`,
    '  top self time:',
    ...summary.top.map((e) => `    ${(100 * e.share).toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(6)} ms  ${e.name}${e.where ? `  ${e.where}` : ''}`),
    '  our files (self time):',
    ...summary.byFile.slice(0, 12).map((e) => `    ${(100 * e.share).toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(6)} ms  ${e.name}`),
  ];
  return lines.join('\n');
}

// How a run shows itself: on a terminal, one bar per unit redrawn in place (weight reached, step,
// state, the last verdict); elsewhere, or with --json, one JSON line per event for machines and logs.
// cli-progress is not a dependency yet: the bars are drawn here with plain ANSI cursor moves.
import type { RunEvent } from './runner';

export interface ProgressView {
  update(event: RunEvent): void;
  /** Leaves the terminal as a log would (cursor below the bars). */
  close(): void;
}

/** One JSON object per line, with the time. */
export class JsonLinesView implements ProgressView {
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  update(event: RunEvent): void {
    this.out.write(JSON.stringify({ at: new Date().toISOString(), ...event }) + '\n');
  }

  close(): void {}
}

const BAR_WIDTH = 24;

interface Row {
  status: string;
  step: number;
  steps: number;
  weight: number;
  note: string;
}

/** A unit's progress bar: the mesh weight reached, filled to 100 %. */
export function formatBar(unit: string, row: Row, nameWidth: number): string {
  const filled = Math.round((Math.max(0, Math.min(100, row.weight)) / 100) * BAR_WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
  const step = row.step > 0 ? `step ${row.step}/${row.steps}` : `0/${row.steps}`;
  return `${unit.padEnd(nameWidth)} [${bar}] ${String(row.weight).padStart(3)} % ${step.padEnd(10)} ${row.status.padEnd(17)} ${row.note}`.trimEnd();
}

/** Bars for every unit seen, redrawn in place; other events print as lines above them. */
export class TerminalView implements ProgressView {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;
  private header = '';

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  private columns(): number {
    return this.out.columns || 120;
  }

  private line(text: string): void {
    this.erase();
    this.out.write(`${text}\n`);
    this.draw();
  }

  private erase(): void {
    if (this.drawn > 0) this.out.write(`\u001b[${this.drawn}A\u001b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    const width = Math.max(8, ...[...this.rows.keys()].map((u) => u.length));
    const lines = [this.header, ...[...this.rows].map(([unit, row]) => formatBar(unit, row, width))].filter((l) => l !== '');
    for (const l of lines) this.out.write(`${l.slice(0, this.columns() - 1)}\n`);
    this.drawn = lines.length;
  }

  update(event: RunEvent): void {
    switch (event.event) {
      case 'unit': {
        const previous = this.rows.get(event.unit);
        // A new state says why; within one (a hold), the last verdict says more.
        const note = previous && previous.status === event.status && previous.step === event.step ? previous.note : event.reason;
        this.rows.set(event.unit, { status: event.status, step: event.step, steps: event.steps, weight: event.weight, note });
        this.redraw();
        return;
      }
      case 'verdict': {
        const row = this.rows.get(event.unit);
        if (row) row.note = `${event.verdict}: ${event.reason}`;
        this.redraw();
        return;
      }
      case 'progress':
        this.header = `run: ${event.status}, ${event.reason}`;
        this.redraw();
        return;
      case 'waiting':
        this.line(`waiting: another runner leads (${event.leader ?? 'unknown'})`);
        return;
      case 'leading':
        this.line(`leading the run (${event.units} units recorded)`);
        return;
      case 'notify':
        this.line(`${event.unit}: ${event.message}`);
        return;
      case 'bridge_error':
        this.line(`${event.unit}: bridge: ${event.message}`);
        return;
      case 'scrape_failed':
        this.line(`metrics: ${event.message}`);
        return;
      case 'command':
        this.line(`command ${event.command.type}${event.command.unit ? ` ${event.command.unit}` : ''}: ${event.result}${event.message ? ` (${event.message})` : ''}`);
        return;
      case 'done':
        this.line(`run ${event.status}: ${event.reason}`);
        return;
      default:
        return;
    }
  }

  private redraw(): void {
    this.erase();
    this.draw();
  }

  close(): void {
    this.drawn = 0;
  }
}

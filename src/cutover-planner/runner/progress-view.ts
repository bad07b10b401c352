// How a run shows itself: on a terminal, one bar per unit redrawn in place (weight reached, step,
// state, the last verdict); elsewhere, or with --json, one JSON line per event for machines and logs.
// The terminal drawing (cursor moves, redraw in place, log lines above the bars) is cli-progress's.
import { Format, MultiBar, Options, Params, SingleBar } from 'cli-progress';
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

/** cli-progress's own bar renderer, with the characters the view has always used. */
const barStyle = { barsize: BAR_WIDTH, barCompleteString: '#'.repeat(BAR_WIDTH), barIncompleteString: '-'.repeat(BAR_WIDTH), barGlue: '' } as Options;

interface Row {
  status: string;
  step: number;
  steps: number;
  weight: number;
  note: string;
}

/** A unit's progress bar: the mesh weight reached, filled to 100 %. */
export function formatBar(unit: string, row: Row, nameWidth: number): string {
  const bar = Format.BarFormat(Math.max(0, Math.min(100, row.weight)) / 100, barStyle);
  const step = row.step > 0 ? `step ${row.step}/${row.steps}` : `0/${row.steps}`;
  return `${unit.padEnd(nameWidth)} [${bar}] ${String(row.weight).padStart(3)} % ${step.padEnd(10)} ${row.status.padEnd(17)} ${row.note}`.trimEnd();
}

/** What one line of the display shows: cli-progress redraws it from this payload. */
interface Line {
  text: string;
}

/**
 * Bars for every unit seen, redrawn in place by cli-progress's MultiBar; other events print as
 * lines above them (MultiBar.log). The display is a fixed stack of lines, each a MultiBar bar whose
 * text this view decides: the run's header, the units (moving ones first, no more than the
 * terminal has rows, since the cursor cannot move above the screen), and a count of those left out.
 */
export class TerminalView implements ProgressView {
  private readonly rows = new Map<string, Row>();
  private readonly lines: SingleBar[] = [];
  private header = '';
  private readonly bars: MultiBar;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {
    this.bars = new MultiBar({
      stream: out,
      format: (_options: Options, _params: Params, payload: Line) => payload.text.slice(0, (this.out.columns || 120) - 1),
      hideCursor: false,
      linewrap: null,
      autopadding: false,
      gracefulExit: false,
      // Every line is rewritten on a redraw: a log line printed above the bars clears them first.
      forceRedraw: true,
      fps: 10,
    });
  }

  private line(text: string): void {
    this.bars.log(`${text}\n`);
    this.redraw();
  }

  private redraw(): void {
    const room = Math.max(3, (this.out.rows || 40) - 2);
    const settled = (status: string) => status === 'completed' || status === 'pending';
    const all = [...this.rows].sort((a, b) => Number(settled(a[1].status)) - Number(settled(b[1].status)));
    const shown = all.length > room ? all.slice(0, room - 1) : all;
    const width = Math.max(8, ...shown.map(([u]) => u.length));
    const texts = [this.header, ...shown.map(([unit, row]) => formatBar(unit, row, width))].filter((l) => l !== '');
    if (shown.length < all.length) texts.push(`... ${all.length - shown.length} more (cutover status lists every unit)`);
    // Lines only grow: a unit seen stays listed (completed ones sort last), so no line is removed.
    while (this.lines.length < texts.length) this.lines.push(this.bars.create(100, 0, { text: '' }));
    this.lines.forEach((line, i) => line.update(0, { text: texts[i] ?? '' }));
    // MultiBar draws on its own timer; draw now too, so every event shows at once.
    (this.bars as unknown as { update(): void }).update();
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

  /** Stops the redraw timer and leaves the cursor below the bars. */
  close(): void {
    this.bars.stop();
  }
}

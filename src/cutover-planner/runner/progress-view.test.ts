import { PassThrough } from 'node:stream';
import { JsonLinesView, TerminalView, formatBar } from './progress-view';

/**
 * What a terminal would show after the view's output: a small emulator of the control sequences a
 * progress display uses (cursor up/down/column, clear line, clear below, save/restore), so the
 * tests read the screen, not the bytes.
 */
function screenOf(output: string): string[] {
  const screen: string[] = [''];
  let row = 0;
  let col = 0;
  let saved = { row: 0, col: 0 };
  const put = (ch: string) => {
    while (screen.length <= row) screen.push('');
    const line = screen[row].padEnd(col);
    screen[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  };
  // eslint-disable-next-line no-control-regex
  const token = /\u001b\[\??(\d*)([A-Za-z])|\u001b([78])|([\s\S])/g;
  for (let m = token.exec(output); m !== null; m = token.exec(output)) {
    const [, num, cmd, save, ch] = m;
    const n = num === '' || num === undefined ? 1 : Number(num);
    if (save === '7') saved = { row, col };
    else if (save === '8') ({ row, col } = saved);
    else if (ch === '\n') {
      row++;
      col = 0;
    } else if (ch === '\r') col = 0;
    else if (ch !== undefined) put(ch);
    else if (cmd === 'A') row = Math.max(0, row - n);
    else if (cmd === 'B') row += n;
    else if (cmd === 'G') col = n - 1;
    else if (cmd === 'C') col += n;
    else if (cmd === 'D') col = Math.max(0, col - n);
    else if (cmd === 'K') screen[row] = num === '2' ? '' : (screen[row] ?? '').slice(0, col);
    else if (cmd === 'J') {
      screen.splice(row + 1);
      screen[row] = (screen[row] ?? '').slice(0, col);
    }
  }
  return screen.map((l) => l.trimEnd()).filter((l, i, all) => l !== '' || all.slice(i).some((x) => x !== ''));
}

function terminal(rows = 40): { view: TerminalView; screen: () => string[] } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  Object.assign(stream, { columns: 200, rows, isTTY: true });
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const view = new TerminalView(stream);
  views.push(view);
  return { view, screen: () => screenOf(text) };
}

const views: TerminalView[] = [];
afterEach(() => views.splice(0).forEach((v) => v.close()));

describe('progress views', () => {
  it('draws a unit as a bar filled to its mesh weight', () => {
    expect(formatBar('svc', { status: 'holding', step: 2, steps: 4, weight: 25, note: 'pass' }, 5)).toBe(`svc   [${'#'.repeat(6)}${'-'.repeat(18)}]  25 % step 2/4   holding           pass`);
  });

  it('redraws the bars in place and prints other events above them', () => {
    const { view, screen } = terminal();
    view.update({ event: 'unit', unit: 'a', status: 'promoting', step: 1, steps: 2, weight: 50, reason: 'promoting step 1 to 50 %', appliedStepIds: [] });
    view.update({ event: 'unit', unit: 'a', status: 'holding', step: 1, steps: 2, weight: 50, reason: 'holding', appliedStepIds: ['a@1:50%'] });
    view.update({ event: 'verdict', unit: 'a', step: 1, verdict: 'not_enough_data', reason: 'needs 10 more calls', failedMethods: [], meshCalls: 1, legacyCalls: 1, moreCalls: 10 });
    view.update({ event: 'notify', unit: 'a', message: 'hello' });
    // One bar, redrawn in place with the last verdict; the notice printed above it.
    expect(screen()).toEqual(['a: hello', `a        [${'#'.repeat(12)}${'-'.repeat(12)}]  50 % step 1/2   holding           not_enough_data: needs 10 more calls`]);
  });

  it('shows no more bars than the terminal has rows, moving units first', () => {
    const { view, screen } = terminal(6);
    for (let i = 0; i < 10; i++) view.update({ event: 'unit', unit: `u${i}`, status: i === 7 ? 'holding' : 'completed', step: 1, steps: 1, weight: 100, reason: 'r', appliedStepIds: [] });
    const shown = screen();
    expect(shown).toHaveLength(4);
    expect(shown[0].startsWith('u7 ')).toBe(true);
    expect(shown[3]).toBe('... 7 more (cutover status lists every unit)');
  });

  it('prints one JSON object per event with the time', () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
    new JsonLinesView(stream).update({ event: 'done', status: 'completed', reason: 'every wave completed' });
    expect(JSON.parse(text)).toMatchObject({ event: 'done', status: 'completed', at: expect.stringMatching(/^\d{4}-/) });
  });
});

import { PassThrough } from 'node:stream';
import { JsonLinesView, TerminalView, formatBar } from './progress-view';

function terminal(): { view: TerminalView; text: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  stream.columns = 200;
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return { view: new TerminalView(stream), text: () => text };
}

describe('progress views', () => {
  it('draws a unit as a bar filled to its mesh weight', () => {
    expect(formatBar('svc', { status: 'holding', step: 2, steps: 4, weight: 25, note: 'pass' }, 5)).toBe(`svc   [${'#'.repeat(6)}${'-'.repeat(18)}]  25 % step 2/4   holding           pass`);
  });

  it('redraws the bars in place and prints other events above them', () => {
    const { view, text } = terminal();
    view.update({ event: 'unit', unit: 'a', status: 'promoting', step: 1, steps: 2, weight: 50, reason: 'promoting step 1 to 50 %', appliedStepIds: [] });
    view.update({ event: 'unit', unit: 'a', status: 'holding', step: 1, steps: 2, weight: 50, reason: 'holding', appliedStepIds: ['a@1:50%'] });
    view.update({ event: 'verdict', unit: 'a', step: 1, verdict: 'not_enough_data', reason: 'needs 10 more calls', failedMethods: [], meshCalls: 1, legacyCalls: 1, moreCalls: 10 });
    view.update({ event: 'notify', unit: 'a', message: 'hello' });
    const out = text();
    // Each redraw moves the cursor up over the previous bars and clears them.
    expect(out).toContain('\u001b[1A\u001b[0J');
    expect(out).toContain('not_enough_data: needs 10 more calls');
    expect(out).toMatch(/a: hello\n.*\[#{12}-{12}\]/);
  });

  it('prints one JSON object per event with the time', () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
    new JsonLinesView(stream).update({ event: 'done', status: 'completed', reason: 'every wave completed' });
    expect(JSON.parse(text)).toMatchObject({ event: 'done', status: 'completed', at: expect.stringMatching(/^\d{4}-/) });
  });
});

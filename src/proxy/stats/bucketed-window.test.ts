import { BucketedWindow } from './bucketed-window';

describe('BucketedWindow', () => {
  it('counts calls, errors and slow calls over the last window only', () => {
    const w = new BucketedWindow(1000, 10);
    w.record(0, false, false);
    w.record(50, true, false);
    w.record(950, false, true);
    expect(w.totals(999)).toEqual({ calls: 3, errors: 1, slow: 1 });
    // at 1,050 the bucket [0, 100) has left the window
    expect(w.totals(1050)).toEqual({ calls: 1, errors: 0, slow: 1 });
    expect(w.totals(5000)).toEqual({ calls: 0, errors: 0, slow: 0 });
  });

  it('reuses a bucket slot for a later period without carrying old counts', () => {
    const w = new BucketedWindow(1000, 10);
    for (let i = 0; i < 5; i++) w.record(10, true, false);
    w.record(1010, false, false); // same slot, next lap
    expect(w.totals(1010)).toEqual({ calls: 1, errors: 0, slow: 0 });
  });
});

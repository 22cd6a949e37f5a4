import { formatDuration, progressBar, StatusLine } from './terminal';

const CLEAR = '\r\x1b[2K';

function output(isTTY: boolean) {
  const written: string[] = [];
  return { written, out: { isTTY, columns: 60, write: (t: string) => written.push(t) } };
}

describe('StatusLine', () => {
  it('on a terminal: redraws the status line in place and scrolls lasting lines above it', () => {
    const { written, out } = output(true);
    const status = new StatusLine(out);
    status.draw('50%');
    status.draw('60%');
    status.line('part 1 done');
    status.line('part 2 done');
    status.draw('70%');
    status.clear();
    status.clear();
    expect(written).toEqual([
      `${CLEAR}50%`,
      `${CLEAR}60%`,
      `${CLEAR}part 1 done\n`,
      'part 2 done\n',
      `${CLEAR}70%`,
      CLEAR,
    ]);
  });

  it('elsewhere: only the lasting lines, no control codes', () => {
    const { written, out } = output(false);
    const status = new StatusLine(out);
    status.draw('50%');
    status.line('part 1 done');
    status.clear();
    expect(written).toEqual(['part 1 done\n']);
  });
});

describe('progressBar', () => {
  it('fills the bar in proportion and fits the columns', () => {
    expect(progressBar('run 1/4 ', 0.5, ' 50%', 80)).toBe(
      `run 1/4 [${'#'.repeat(15)}${'-'.repeat(15)}] 50%`,
    );
    expect(progressBar('run 1/4 ', 0.5, ' 50% a long tail', 20).length).toBeLessThan(20);
  });
});

describe('formatDuration', () => {
  it('reads at a glance, ? when unknown', () => {
    expect([42.4, 187, 7500, Number.NaN, -1].map(formatDuration)).toEqual([
      '42s',
      '3m07s',
      '2h05m',
      '?',
      '?',
    ]);
  });
});

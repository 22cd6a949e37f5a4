// The progress output of `embpress train`: a redrawn bar on a terminal, plain lines elsewhere.
import { progressBar, progressLine, TrainProgressView } from './train-progress';

type TrainProgress = import('@embpress/training').TrainProgress;

const ESC = String.fromCharCode(27);
/** Carriage return + erase line: the bar is redrawn over itself. */
const CLEAR = `\r${ESC}[2K`;

const batch: Extract<TrainProgress, { kind: 'batch' }> = {
  kind: 'batch',
  part: 2,
  parts: 4,
  epoch: 1,
  samplesTrained: 1280,
  batch: 5,
  batches: 10,
  loss: 0.45678,
  samplesPerSec: 12345.6,
  bestValAuc: 0.71234,
  etaSeconds: 125,
};

const part: TrainProgress = {
  kind: 'part',
  part: 2,
  parts: 4,
  epoch: 1,
  batches: 10,
  samples: 2560,
  samplesPerSec: 9000.4,
  loss: 0.5,
  trainAuc: 0.6,
  valAuc: 0.7,
  valLogloss: 0.45,
  improved: false,
  bestPart: 1,
  bestValAuc: 0.71,
  partsWithoutImprovement: 1,
  samplesTrained: 5120,
  stage: '',
  stageIndex: 0,
  elapsedSeconds: 20,
};

describe('progressBar', () => {
  it('shows the run position, rows/s, loss, AUC so far and ETA', () => {
    // 1.5 of 4 parts done: 38% of a 30-character bar.
    expect(progressBar(batch, 120)).toBe(
      `part 2/4 [${'#'.repeat(11)}${'-'.repeat(19)}] 38% 12,346 rows/s loss 0.4568 AUC 0.7123 ETA 2m05s`,
    );
  });

  it('fits a narrow terminal and says "-" before any validation AUC', () => {
    const line = progressBar({ ...batch, bestValAuc: Number.NaN }, 60);
    expect(line.length).toBeLessThanOrEqual(60);
    expect(line).toContain('AUC - ETA');
    expect(progressBar(batch, 30).length).toBeLessThan(30);
  });
});

describe('progressLine', () => {
  it('logs a part with its ETA from the mean part time', () => {
    expect(progressLine(part)).toBe(
      'part 2/4 (epoch 1): 2560 rows at 9000 rows/s, loss 0.5000, train AUC 0.6000, val AUC 0.7000, val logloss 0.4500 (best 0.7100 at part 1), ETA 20s',
    );
    expect(progressLine(batch)).toBeUndefined();
  });

  it('names the stage of a multi-stage method: its start, its parts, a resume into it', () => {
    expect(progressLine({ kind: 'stage', index: 1, name: 'prune', stages: 2 })).toBe(
      'stage 2/2: prune',
    );
    expect(progressLine({ ...part, stage: 'prune', stageIndex: 1 })).toMatch(
      /^part 2\/4 \(epoch 1, stage prune\): /,
    );
    expect(
      progressLine({
        kind: 'resume',
        part: 7,
        checkpoint: '/c/part-000007',
        stage: 'prune',
        stagePart: 3,
      }),
    ).toBe('resuming after part 7 from /c/part-000007 (stage prune, part 3)');
    expect(
      progressLine({
        kind: 'resume',
        part: 2,
        checkpoint: '/c/part-000002',
        stage: '',
        stagePart: 2,
      }),
    ).toBe('resuming after part 2 from /c/part-000002');
  });
});

describe('TrainProgressView', () => {
  const capture = (isTTY: boolean) => {
    const out: string[] = [];
    const view = new TrainProgressView({ isTTY, columns: 100, write: (t) => out.push(t) });
    return { out, view };
  };

  it('redraws one line in place on a terminal and prints log lines above it', () => {
    const { out, view } = capture(true);
    view.show(batch);
    view.show({ ...batch, batch: 6 });
    view.show(part);
    view.end();
    expect(out[0]).toBe(`${CLEAR}${progressBar(batch, 100)}`);
    expect(out[1]).toBe(`${CLEAR}${progressBar({ ...batch, batch: 6 }, 100)}`);
    expect(out[2]).toBe(`${CLEAR}${progressLine(part) as string}\n`);
    expect(out).toHaveLength(3); // nothing left to clear after a log line
  });

  it('prints plain lines only when not a terminal', () => {
    const { out, view } = capture(false);
    view.show(batch);
    view.show({ kind: 'log', message: 'hello' });
    view.show(part);
    view.end();
    expect(out).toEqual(['hello\n', `${progressLine(part) as string}\n`]);
    expect(out.join('')).not.toContain('\r');
    expect(out.join('')).not.toContain(ESC);
  });
});

// The schedule policy of issue #12 item 5 (docs/models.md#training-defaults): a pure function of
// the training split's size, the explicit options and the preset.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { train, type TrainProgress } from './train';
import {
  autoBatchSize,
  PAPER_PRESET,
  resolveTrainingDefaults,
  type ResolvedSchedule,
} from './training-defaults';

const knobs = (r: ResolvedSchedule) => ({
  batchSize: r.batchSize,
  epochs: r.epochs,
  partsPerEpoch: r.partsPerEpoch,
  earlyStopParts: r.earlyStopParts,
  optimizer: r.optimizer,
  lr: r.lr,
});

describe('resolveTrainingDefaults', () => {
  it('gives small data small batches and many epochs (early stopping does the rest)', () => {
    // criteo-kaggle-10k's train split: 7,200 rows.
    const r = resolveTrainingDefaults(7200);
    expect(knobs(r)).toEqual({
      batchSize: 128,
      epochs: 20,
      partsPerEpoch: 1,
      earlyStopParts: 3,
      optimizer: 'adam',
      lr: 0.001,
    });
    expect(Object.values(r.source).every((s) => s === 'auto')).toBe(true);
    expect(r.summary).toBe(
      'defaults for 7,200 train rows: batch 128, up to 20 epochs, 1 part/epoch, early stop patience 3 parts, adam, lr 0.001 (56 steps/epoch)',
    );
  });

  it('gives 200k rows the small batch (1000 steps an epoch) and enough epochs for 2000 steps', () => {
    // 200,000 synthetic rows: 171,429 train, 1,339 steps of 128 per epoch.
    expect(knobs(resolveTrainingDefaults(171_429))).toMatchObject({
      batchSize: 128,
      epochs: 2,
      partsPerEpoch: 10,
      earlyStopParts: 10,
    });
    // A mid batch from ~256k train rows on; 1024 from ~1M.
    expect(autoBatchSize(300_000)).toBe(256);
    expect(autoBatchSize(600_000)).toBe(512);
    expect(autoBatchSize(1_100_000)).toBe(1024);
  });

  it('gives 40M rows the large batch, one epoch and ten validation passes', () => {
    expect(knobs(resolveTrainingDefaults(39_300_000))).toMatchObject({
      batchSize: 1024,
      epochs: 1,
      partsPerEpoch: 10,
      earlyStopParts: 10,
    });
  });

  it('always reaches at least the minimum number of steps unless capped by max epochs', () => {
    for (const rows of [1000, 5000, 20_000, 100_000, 1_000_000, 10_000_000]) {
      const r = resolveTrainingDefaults(rows);
      const steps = Math.floor(rows / r.batchSize) * r.epochs;
      expect(steps >= 2000 || r.epochs === 20).toBe(true);
      expect(autoBatchSize(rows)).toBe(r.batchSize);
      expect(r.partsPerEpoch).toBeGreaterThanOrEqual(1);
      expect(r.earlyStopParts).toBeGreaterThanOrEqual(3);
    }
  });

  it('keeps every explicit value and derives the rest from it', () => {
    const r = resolveTrainingDefaults(171_429, { batchSize: 1024, lr: 0.01 });
    // 167 steps/epoch at 1024: 12 epochs for 2000 steps, 3 parts, patience 3.
    expect(knobs(r)).toEqual({
      batchSize: 1024,
      epochs: 12,
      partsPerEpoch: 3,
      earlyStopParts: 3,
      optimizer: 'adam',
      lr: 0.01,
    });
    expect(r.source).toMatchObject({ batchSize: 'flag', lr: 'flag', epochs: 'auto' });
    expect(r.summary).toContain('batch 1024 (flag)');
    expect(r.summary).toContain('lr 0.01 (flag)');
    const all = {
      epochs: 1,
      batchSize: 64,
      partsPerEpoch: 2,
      earlyStopParts: 9,
      lr: 0.5,
      optimizer: 'sgd' as const,
    };
    expect(knobs(resolveTrainingDefaults(100, all))).toEqual(all);
    expect(knobs(resolveTrainingDefaults(100, all, 'paper'))).toEqual(all);
  });

  it('keeps the levers off by default and names them in the line when set', () => {
    const r = resolveTrainingDefaults(7200);
    expect(r).toMatchObject({ amsgrad: false, dropout: 0, lrSchedule: 'constant', warmupSteps: 0 });
    const set = resolveTrainingDefaults(7200, {
      amsgrad: true,
      dropout: 0.1,
      lrSchedule: 'cosine',
      warmupSteps: 100,
    });
    expect(set).toMatchObject({
      amsgrad: true,
      dropout: 0.1,
      lrSchedule: 'cosine',
      warmupSteps: 100,
    });
    expect(set.summary).toContain(
      'amsgrad true (flag), dropout 0.1 (flag), lr schedule cosine (flag), warmup 100 steps (flag)',
    );
  });

  it('--preset paper gives the reference settings whatever the data size', () => {
    for (const rows of [7200, 40_000_000]) {
      const r = resolveTrainingDefaults(rows, {}, 'paper');
      expect(r).toMatchObject({ ...PAPER_PRESET });
      expect(r.source.batchSize).toBe('paper');
      expect(
        r.summary.startsWith(
          `preset paper for ${rows.toLocaleString('en-US')} train rows: batch 128`,
        ),
      ).toBe(true);
    }
    // The trainer caps the parts at an epoch's batches; the summary names the real passes.
    expect(resolveTrainingDefaults(7200, {}, 'paper').summary).toContain('56 parts/epoch');
    expect(resolveTrainingDefaults(7200, { epochs: 2 }, 'paper').epochs).toBe(2);
  });
});

describe('train with no schedule options', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-defaults-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('learns on a few thousand generated rows and states the schedule it chose', async () => {
    const file = join(dir, 'train.txt');
    // Few distinct values per field (scale 1e-4) and a clear signal: learnable from 3,000 rows.
    const synth = await generateSynthetic({
      rows: 3000,
      seed: 7,
      out: file,
      scale: 0.0001,
      linearStd: 1.2,
    });
    const events: TrainProgress[] = [];
    const result = await train({
      data: `criteo:${file}`,
      model: 'dlrm',
      // Small layers keep the test fast; the schedule is the untouched default.
      modelOverrides: { dim: 8, bottom: [16], top: [16] },
      method: 'full',
      seed: 5,
      backend: 'wasm',
      registryRoot: join(dir, 'models'),
      modelName: 'ctr',
      checkpoints: false,
      onProgress: (e) => events.push(e),
    });
    const logs = events.flatMap((e) => (e.kind === 'log' ? [e.message] : []));
    // The paper's split of 3,000 rows: 2,572 train rows, 20 steps of 128 per epoch.
    expect(logs).toContain(
      'defaults for 2,572 train rows: batch 128, up to 20 epochs, 1 part/epoch, early stop patience 3 parts, adam, lr 0.001 (20 steps/epoch)',
    );
    expect(result.schedule.batchSize).toBe(128);
    expect(result.partsRun).toBeGreaterThan(1);
    // The old defaults (1 epoch of 1024) made 2 steps here. Deterministic (wasm, fixed seeds);
    // measured 0.688 (Bayes 0.845).
    expect(result.metrics.testAuc).toBeGreaterThan(0.6);
    expect(result.metrics.testAuc).toBeLessThan(synth.bayesAuc + 0.05);
    const manifest = result.manifest as unknown as { training: Record<string, unknown> };
    expect(manifest.training).toMatchObject({ batchSize: 128, epochs: 20, partsPerEpoch: 1 });
  }, 60_000);
});

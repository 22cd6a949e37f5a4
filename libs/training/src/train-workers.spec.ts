// The dense step's thread count (train-workers.ts), and a run on two threads that trains what a
// one-thread run trains.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import { train, type TrainOptions, type TrainProgress } from './train';
import { PARALLEL_MIN_TRAIN_ROWS, trainWorkers } from './train-workers';

describe('trainWorkers', () => {
  const big = PARALLEL_MIN_TRAIN_ROWS;

  it('takes the flag, then EMBPRESS_TRAIN_WORKERS, then the cores for long runs', () => {
    expect(trainWorkers(3, 10, 'dlrm', 'wasm', {}, 2)).toMatchObject({ count: 3 });
    expect(
      trainWorkers(undefined, 10, 'dlrm', 'wasm', { EMBPRESS_TRAIN_WORKERS: '4' }, 2),
    ).toMatchObject({
      count: 4,
    });
    expect(trainWorkers(undefined, big, 'deepfm', 'wasm', {}, 2)).toEqual({
      count: 2,
      summary:
        'dense step: 2 threads, each on a slice of every batch (the cores available; docs/models.md#data-parallel-step)',
    });
    expect(trainWorkers(undefined, big - 1, 'dlrm', 'cpu', {}, 8)).toEqual({
      count: 1,
      summary: `dense step: one thread (fewer than ${big} training rows: starting more would not pay)`,
    });
  });

  it('keeps an FM on one thread unless asked', () => {
    expect(trainWorkers(undefined, big, 'fm', 'wasm', {}, 2)).toEqual({
      count: 1,
      summary: 'dense step: one thread (an FM has no MLP: its dense step is too small to split)',
    });
    expect(trainWorkers(2, big, 'fm', 'wasm', {}, 2).count).toBe(2);
  });

  it('keeps the tensorflow backend on one thread, and refuses a bad variable', () => {
    expect(trainWorkers(4, big, 'dlrm', 'tensorflow', {}, 8).count).toBe(1);
    expect(() =>
      trainWorkers(undefined, big, 'dlrm', 'wasm', { EMBPRESS_TRAIN_WORKERS: '0' }, 2),
    ).toThrow('EMBPRESS_TRAIN_WORKERS must be an integer in [1, 64], got "0"');
  });
});

describe('a run on two threads', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-workers-'));
    file = join(dir, 'train.txt');
    await generateSynthetic({ rows: 6000, seed: 11, out: file });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(workers: number) {
    const logs: string[] = [];
    const options: TrainOptions = {
      data: `criteo:${file}`,
      model: 'dlrm',
      modelOverrides: { dim: 8, bottom: [16], top: [16] },
      method: 'full',
      epochs: 2,
      batchSize: 128,
      lr: 0.01,
      optimizer: 'adam',
      partsPerEpoch: 4,
      earlyStopParts: 10,
      seed: 3,
      backend: 'wasm',
      registryRoot: join(dir, `models-${workers}`),
      modelName: 'ctr',
      workers,
      onProgress: (e: TrainProgress) => {
        if (e.kind === 'log') logs.push(e.message);
      },
    };
    return { result: await train(options), logs };
  }

  it('says so and trains what one thread trains', async () => {
    const one = await run(1);
    const two = await run(2);
    expect(two.logs).toContain(
      'dense step: 2 threads, each on a slice of every batch (flag; docs/models.md#data-parallel-step)',
    );
    expect(one.logs).toContain('dense step: one thread (flag)');
    // Same data, weights and batches; the slices' gradients differ from the batch's by rounding.
    expect(Math.abs(two.result.metrics.testAuc - one.result.metrics.testAuc)).toBeLessThan(0.005);
    expect(two.result.metrics.testAuc).toBeGreaterThan(0.52);
  });
});

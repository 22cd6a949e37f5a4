// TrainingJobs when the child dies without a result: the training is FAILED with how it ended
// and the end of its stderr, and the job no longer counts against the limit.
import { join } from 'node:path';
import pino from 'pino';
import { trainer } from '@embpress/proto';
import { Trainings } from '../trainings';
import { progressOf, TrainingJobs } from './training-jobs';

const { TrainingState } = trainer;

it('reports a child that dies without a result as FAILED', async () => {
  const trainings = new Trainings();
  const jobs = new TrainingJobs(trainings, {
    registryRoot: '/nonexistent',
    maxConcurrentJobs: 1,
    logger: pino({ level: 'silent' }),
    runner: {
      module: join(__dirname, '__fixtures__', 'dying-child.ts'),
      execArgv: ['--require', 'tsx/cjs'],
    },
  });
  const spec = trainer.TrainingSpec.fromPartial({
    data: 'criteo:x',
    method: 'full',
    outputName: 'm',
  });
  const options = {
    data: 'criteo:x',
    model: 'dlrm' as const,
    method: 'full',
    epochs: 1,
    batchSize: 8,
    lr: 0.01,
    optimizer: 'adam' as const,
    partsPerEpoch: 1,
    earlyStopParts: 1,
    seed: 1,
    backend: 'wasm' as const,
    modelName: 'm',
  };
  const started = jobs.start(spec, options);
  expect(jobs.running()).toBe(1);
  expect(() => jobs.start(spec, options)).toThrow(/1 trainings are running, the limit is 1/);
  const ended = await new Promise<trainer.Training>((resolve) => {
    const stop = trainings.watch(started.id, (t) => {
      if (t.state === TrainingState.TRAINING_STATE_FAILED) {
        stop();
        resolve(t);
      }
    });
  });
  expect(ended.error).toBe(
    'trainer process exited (code 3) without a result: fatal: out of cheese',
  );
  expect(jobs.running()).toBe(0);
});

it('turns engine events into proto progress', () => {
  expect(
    progressOf({
      kind: 'batch',
      part: 2,
      parts: 4,
      epoch: 1,
      samplesTrained: 300,
      batch: 1,
      batches: 2,
      loss: 0.5,
      samplesPerSec: 1000,
      bestValAuc: Number.NaN,
      etaSeconds: Number.NaN,
    }),
  ).toEqual({ epoch: 1, part: 2, rowsSeen: 300, loss: 0.5, samplesPerSec: 1000, etaSeconds: 0 });
  expect(progressOf({ kind: 'log', message: 'x' })).toBeUndefined();
});

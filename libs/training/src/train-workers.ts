// How many threads the dense training step uses (docs/models.md#data-parallel-step): the flag,
// else EMBPRESS_TRAIN_WORKERS, else every core this process may use for runs long enough to
// repay starting them, with a dense model worth splitting; else one.
import type { BackendName, ModelKind } from '@embpress/models';
import { availableCores } from '@embpress/service-kit/config';
import { TrainError } from './train-errors';

/**
 * A worker thread takes ~1 s of CPU to start (tfjs and its wasm module in a fresh isolate) and
 * saves a few ms per step: by default, runs on fewer training rows than this keep to one thread.
 */
export const PARALLEL_MIN_TRAIN_ROWS = 50_000;

/** The most threads a dense step may be given (--workers, EMBPRESS_TRAIN_WORKERS, TrainOptions). */
export const MAX_TRAIN_WORKERS = 64;

/** Whether `n` is a thread count a dense step accepts. */
export function isTrainWorkers(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_TRAIN_WORKERS;
}

/** Threads of the dense step: the flag, else EMBPRESS_TRAIN_WORKERS, else the cores (long runs). */
export function trainWorkers(
  given: number | undefined,
  trainRows: number,
  model: ModelKind,
  backend: BackendName,
  env: NodeJS.ProcessEnv = process.env,
  cores: number = availableCores(),
): { count: number; summary: string } {
  if (backend === 'tensorflow')
    return {
      count: 1,
      summary: 'dense step: one thread (the tensorflow backend threads its own kernels)',
    };
  const fromEnv = env['EMBPRESS_TRAIN_WORKERS'];
  let count: number;
  let why: string;
  if (given !== undefined) {
    count = given;
    why = 'flag';
  } else if (fromEnv !== undefined && fromEnv !== '') {
    count = Number(fromEnv);
    if (!isTrainWorkers(count))
      throw new TrainError(
        'bad-argument',
        `EMBPRESS_TRAIN_WORKERS must be an integer in [1, ${MAX_TRAIN_WORKERS}], got ${JSON.stringify(fromEnv)}`,
      );
    why = 'EMBPRESS_TRAIN_WORKERS';
  } else if (model === 'fm') {
    // Measured (docs/benchmarks.md): FM 55.8k samples/s on one thread, 33.8k on two.
    count = 1;
    why = 'an FM has no MLP: its dense step is too small to split';
  } else if (trainRows < PARALLEL_MIN_TRAIN_ROWS) {
    count = 1;
    why = `fewer than ${PARALLEL_MIN_TRAIN_ROWS} training rows: starting more would not pay`;
  } else {
    count = cores;
    why = 'the cores available';
  }
  return {
    count,
    summary:
      count === 1
        ? `dense step: one thread (${why})`
        : `dense step: ${count} threads, each on a slice of every batch (${why}; docs/models.md#data-parallel-step)`,
  };
}

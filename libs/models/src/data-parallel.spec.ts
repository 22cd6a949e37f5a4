// The data-parallel step (data-parallel.ts) against the one-thread step of the same model: the
// same losses, logits, row gradients and weights (to float rounding: a slice's mean gradient
// scaled by n/B is not bit for bit the whole batch's), replicas that stay bitwise equal to the
// calling thread, dropout masks as one thread draws them, imports and checkpoints of the
// optimizer state that the workers' shards are part of, and a replica that fails.
import { initBackend } from './backend';
import type { ModelConfigInput } from './config';
import { DataParallelError, DataParallelStep } from './data-parallel';
import { createModel, type CtrModel, type CreateModelOptions } from './model';
import { mulberry32 } from './rng';

const F = 3;
const D = 4;
const NUM_DENSE = 5;
const CONFIGS: Record<string, ModelConfigInput> = {
  dlrm: { kind: 'dlrm', numDense: NUM_DENSE, numFields: F, dim: D, bottom: [16, 8], top: [16] },
  deepfm: { kind: 'deepfm', numDense: NUM_DENSE, numFields: F, dim: D, deep: [16, 8] },
};

beforeAll(async () => {
  await initBackend('wasm');
});

function batch(B: number, seed: number) {
  const rand = mulberry32(seed);
  return {
    dense: Float32Array.from({ length: B * NUM_DENSE }, () => rand() * 2 - 1),
    rows: Float32Array.from({ length: B * F * D }, () => (rand() - 0.5) * 0.5),
    labels: Float32Array.from({ length: B }, () => (rand() < 0.3 ? 1 : 0)),
  };
}

function flat(model: CtrModel): Float32Array {
  const ws = model.exportWeights();
  const out = new Float32Array(ws.reduce((n, w) => n + w.values.length, 0));
  let o = 0;
  for (const w of ws) {
    out.set(w.values, o);
    o += w.values.length;
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i += 1)
    m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** One step of each model on `b`, with the same loss and row gradients; both results. */
function stepBoth(one: CtrModel, two: CtrModel, b: ReturnType<typeof batch>) {
  const r1 = one.step(b.dense, b.rows, b.labels);
  const r2 = two.step(b.dense, b.rows, b.labels);
  expect(Math.abs(r1.loss - r2.loss)).toBeLessThan(1e-6);
  expect(maxAbsDiff(r1.rowGrads, r2.rowGrads)).toBeLessThan(1e-7);
  return [r1, r2] as const;
}

/** One step of each model on `b`: the same loss, the same weights, and a replica equal to `two`. */
function stepBothAlike(one: CtrModel, two: CtrModel, b: ReturnType<typeof batch>): void {
  const r1 = one.step(b.dense, b.rows, b.labels);
  const r2 = two.step(b.dense, b.rows, b.labels);
  expect(Math.abs(r1.loss - r2.loss)).toBeLessThan(1e-6);
  expect(maxAbsDiff(flat(one), flat(two))).toBeLessThan(1e-5);
  expect(two.replicaWeights()[0]).toEqual(flat(two));
}

/** A one-thread and a two-thread model of `kind` from the same seed, disposed after `body`. */
function withPair(
  kind: string,
  body: (one: CtrModel, two: CtrModel) => void,
  options: CreateModelOptions = {},
): void {
  const config = CONFIGS[kind] as ModelConfigInput;
  const base = { seed: 5, optimizer: { kind: 'adam' as const, lr: 0.01 }, ...options };
  const one = createModel(config, { ...base, workers: 1 });
  const two = createModel(config, { ...base, workers: 2 });
  try {
    body(one, two);
  } finally {
    one.dispose();
    two.dispose();
  }
}

describe('data-parallel training step', () => {
  it.each(['dlrm', 'deepfm'])(
    '%s: two threads step as one does, and the replica stays bitwise equal',
    (kind) => {
      withPair(kind, (one, two) => {
        expect(two.workers).toBe(2);
        for (let step = 0; step < 4; step += 1) {
          // 67 rows: an odd batch, split 34 / 33.
          const [r1, r2] = stepBoth(one, two, batch(67, 100 + step));
          expect(maxAbsDiff(r1.logits, r2.logits)).toBeLessThan(1e-5);
        }
        expect(maxAbsDiff(flat(one), flat(two))).toBeLessThan(1e-5);
        expect(two.steps).toBe(4);
        const [replica] = two.replicaWeights();
        expect(replica).toEqual(flat(two));
      });
    },
  );

  it('draws the dropout masks a one-thread step draws', () => {
    withPair(
      'dlrm',
      (one, two) => {
        for (let step = 0; step < 3; step += 1) {
          stepBoth(one, two, batch(64, 200 + step));
        }
        expect(maxAbsDiff(flat(one), flat(two))).toBeLessThan(1e-5);
      },
      { dropout: 0.5 },
    );
  });

  it('steps small batches on the calling thread alone', () => {
    withPair('dlrm', (one, two) => {
      const b = batch(20, 7);
      const r1 = one.step(b.dense, b.rows, b.labels);
      const r2 = two.step(b.dense, b.rows, b.labels);
      expect(r2.loss).toBe(r1.loss);
      expect(flat(two)).toEqual(flat(one));
    });
  });

  it('finishes a split step’s update before anything else uses the weights', () => {
    // The workers' shards of an update complete at the next call (data-parallel.ts finish()):
    // a one-thread step of a small batch, a prediction and a loss right after a split step must
    // all see the updated weights (Adam at lr 0.01 moves every weight by ~0.01).
    withPair('dlrm', (one, two) => {
      const big = batch(67, 11);
      one.step(big.dense, big.rows, big.labels);
      two.step(big.dense, big.rows, big.labels);
      const probe = batch(20, 12);
      expect(
        maxAbsDiff(
          one.predictLogits(probe.dense, probe.rows),
          two.predictLogits(probe.dense, probe.rows),
        ),
      ).toBeLessThan(1e-5);
      expect(
        Math.abs(
          one.loss(probe.dense, probe.rows, probe.labels) -
            two.loss(probe.dense, probe.rows, probe.labels),
        ),
      ).toBeLessThan(1e-6);
      two.step(big.dense, big.rows, big.labels);
      one.step(big.dense, big.rows, big.labels);
      stepBothAlike(one, two, probe);
    });
  });

  it('gathers the workers’ shards of the optimizer state, and resumes from it exactly', () => {
    withPair('dlrm', (one, two) => {
      const resumed = createModel(CONFIGS['dlrm'] as ModelConfigInput, {
        seed: 99, // other initial weights: everything must come from the import
        optimizer: { kind: 'adam', lr: 0.01 },
        workers: 2,
      });
      try {
        for (let step = 0; step < 3; step += 1) {
          const b = batch(64, 300 + step);
          one.step(b.dense, b.rows, b.labels);
          two.step(b.dense, b.rows, b.labels);
        }
        const state = two.exportOptimizerState();
        const reference = one.exportOptimizerState();
        expect(state.step).toBe(3);
        expect(state.slots.map((s) => s.name)).toEqual(reference.slots.map((s) => s.name));
        state.slots.forEach((s, i) => {
          // The second moments of a few steps are ~1e-4 or less: relative agreement.
          const ref = (reference.slots[i] as { values: Float32Array }).values;
          const scaleOf = Math.max(...Array.from(ref, Math.abs), 1e-12);
          expect(maxAbsDiff(s.values, ref) / scaleOf).toBeLessThan(1e-3);
        });
        resumed.importWeights(two.exportWeights());
        resumed.importOptimizerState(state);
        for (let step = 0; step < 3; step += 1) {
          const b = batch(64, 400 + step);
          const ra = two.step(b.dense, b.rows, b.labels);
          const rb = resumed.step(b.dense, b.rows, b.labels);
          expect(rb.loss).toBe(ra.loss);
        }
        expect(flat(resumed)).toEqual(flat(two));
        expect(resumed.exportOptimizerState()).toEqual(two.exportOptimizerState());
      } finally {
        resumed.dispose();
      }
    });
  });

  it('keeps the steps’ optimizer state when only the weights are imported', () => {
    withPair('dlrm', (one, two) => {
      for (let step = 0; step < 2; step += 1) {
        const b = batch(64, 500 + step);
        one.step(b.dense, b.rows, b.labels);
        two.step(b.dense, b.rows, b.labels);
      }
      // As the trainer restores its best part's weights: the state stays the steps'.
      const weights = one.exportWeights();
      one.importWeights(weights);
      two.importWeights(weights);
      stepBothAlike(one, two, batch(64, 600));
    });
  });

  it('reports a replica that cannot start as a DataParallelError', () => {
    const model = createModel(CONFIGS['dlrm'] as ModelConfigInput, { seed: 1 });
    const step = new DataParallelStep(
      model,
      { seed: 1, optimizer: { kind: 'sgd', lr: 0.1 }, dropout: 0, backend: 'no-such-backend' },
      1,
    );
    try {
      const b = batch(64, 1);
      const call = () => step.step(b.dense, b.rows, b.labels, new Float32Array(b.rows.length));
      expect(call).toThrow(DataParallelError);
      expect(call).toThrow(/training replica 1 failed: .*no-such-backend/);
    } finally {
      step.dispose();
      model.dispose();
    }
  });

  it('checks the thread count', () => {
    expect(() => createModel(CONFIGS['dlrm'] as ModelConfigInput, { workers: 0 })).toThrow(
      /workers must be an integer >= 1, got 0/,
    );
  });
});

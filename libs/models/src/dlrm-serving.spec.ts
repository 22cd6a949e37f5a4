import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { createModel, type CtrModel } from './model';
import type { DlrmNet } from './networks';
import { mulberry32 } from './rng';

beforeAll(async () => {
  await initBackend('wasm');
});

function random(n: number, seed: number, scale = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * 2 * scale);
}

/** Logits through the training graph (networks.ts), the path the serving one must equal. */
function graphLogits(model: CtrModel, dense: Float32Array, rows: Float32Array, B: number) {
  const { numDense, numFields, dim } = model.config;
  return tf.tidy(() =>
    model.net
      .logits(
        numDense > 0 ? tf.tensor2d(dense, [B, numDense]) : null,
        tf.tensor3d(rows, [B, numFields, dim]),
      )
      .dataSync()
      .slice(),
  );
}

function randomized(model: CtrModel, seed: number): CtrModel {
  const rand = mulberry32(seed);
  model.importWeights(
    model
      .exportWeights()
      .map((w) => ({ ...w, values: Float32Array.from(w.values, () => (rand() - 0.5) * 0.6) })),
  );
  return model;
}

describe('DLRM serving path (dlrm-serving.ts)', () => {
  it.each([
    [
      'with dense features, D = 16',
      { numDense: 13, numFields: 26, dim: 16, bottom: [32, 24], top: [40, 16] },
    ],
    ['odd D = 5', { numDense: 3, numFields: 4, dim: 5, bottom: [7], top: [6] }],
    ['no dense features', { numDense: 0, numFields: 5, dim: 3, top: [8] }],
  ])('equals the training graph: %s', (_, shape) => {
    const model = randomized(createModel({ kind: 'dlrm', ...shape }), 7);
    const { numDense, numFields, dim } = model.config;
    // A large batch first, then a smaller one: the reused scratch must not leak the first's values.
    for (const B of [37, 5]) {
      const dense = random(B * numDense, B, 2);
      const rows = random(B * numFields * dim, B + 1, 0.5);
      const served = model.predictLogits(dense, rows);
      const graph = graphLogits(model, dense, rows, B);
      expect(served).toHaveLength(B);
      for (let i = 0; i < B; i += 1)
        expect(Math.abs((served[i] as number) - (graph[i] as number))).toBeLessThanOrEqual(
          1e-5 * Math.max(1, Math.abs(graph[i] as number)),
        );
    }
    model.dispose();
  });

  it('follows the weights: after a training step and after importWeights', () => {
    const model = randomized(
      createModel(
        { kind: 'dlrm', numDense: 2, numFields: 3, dim: 4, bottom: [5], top: [6] },
        { optimizer: { kind: 'sgd', lr: 0.5 } },
      ),
      11,
    );
    const B = 6;
    const dense = random(B * 2, 12);
    const rows = random(B * 3 * 4, 13);
    const before = model.predictLogits(dense, rows);
    model.step(
      dense,
      rows,
      Float32Array.from({ length: B }, (_, i) => i % 2),
    );
    const afterStep = model.predictLogits(dense, rows);
    expect(afterStep).not.toEqual(before);
    const graph = graphLogits(model, dense, rows, B);
    afterStep.forEach((v, i) => expect(v).toBeCloseTo(graph[i] as number, 5));
    randomized(model, 14);
    const afterImport = model.predictLogits(dense, rows);
    graphLogits(model, dense, rows, B).forEach((v, i) => expect(afterImport[i]).toBeCloseTo(v, 5));
    model.dispose();
  });

  it('is the path predict takes for a DLRM, and sigmoid of it', () => {
    const model = randomized(
      createModel({ kind: 'dlrm', numDense: 2, numFields: 3, dim: 4, bottom: [5], top: [5] }),
      3,
    );
    const dense = random(2 * 2, 4);
    const rows = random(2 * 3 * 4, 5);
    const logits = model.predictLogits(dense, rows);
    const p = model.predict(dense, rows);
    logits.forEach((l, i) => expect(p[i]).toBeCloseTo(1 / (1 + Math.exp(-l)), 7));
    expect((model.net as DlrmNet).topInputSize).toBe(4 + 6);
    model.dispose();
  });
});

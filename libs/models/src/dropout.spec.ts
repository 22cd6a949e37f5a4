// Dropout is a training-step option only: inference (predict, predictLogits, loss, gradients)
// and the exported weights do not depend on it; training steps with it differ from steps
// without it, and repeat exactly for the same seed.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import type { ModelConfigInput } from './config';
import { ModelConfigError } from './errors';
import { makeDropout } from './layers';
import { createModel, type CtrModel } from './model';
import { mulberry32 } from './rng';

beforeAll(async () => {
  await initBackend('wasm');
});

const CONFIGS: ModelConfigInput[] = [
  { kind: 'dlrm', numDense: 3, numFields: 3, dim: 4, bottom: [8, 6], top: [8, 6] },
  { kind: 'wdl', numDense: 2, numFields: 3, dim: 4, deep: [8, 6] },
  { kind: 'dcn', numDense: 2, numFields: 3, dim: 4, crossLayers: 2, deep: [8, 6, 4] },
  { kind: 'deepfm', numDense: 2, numFields: 3, dim: 4, deep: [8, 6] },
];

function batch(model: CtrModel, B: number, seed: number) {
  const { numDense, numFields, dim } = model.config;
  const rand = mulberry32(seed);
  return {
    dense: Float32Array.from({ length: B * numDense }, () => rand() * 2),
    rows: Float32Array.from({ length: B * numFields * dim }, () => (rand() - 0.5) * 1.5),
    labels: Float32Array.from({ length: B }, () => (rand() < 0.4 ? 1 : 0)),
  };
}

const weightsOf = (m: CtrModel) => m.exportWeights().map((w) => Array.from(w.values));

describe.each(CONFIGS.map((c) => [c.kind, c] as const))('%s dropout', (_kind, config) => {
  const optimizer = { kind: 'adam' as const, lr: 1e-2 };
  let plain: CtrModel;
  let dropped: CtrModel;
  beforeEach(() => {
    plain = createModel(config, { seed: 5, optimizer });
    dropped = createModel(config, { seed: 5, optimizer, dropout: 0.5 });
  });
  afterEach(() => {
    plain.dispose();
    dropped.dispose();
  });

  it('leaves predict deterministic and equal to the model without dropout', () => {
    const { dense, rows, labels } = batch(plain, 16, 1);
    const p0 = plain.predict(dense, rows);
    const p1 = dropped.predict(dense, rows);
    expect(Array.from(dropped.predict(dense, rows))).toEqual(Array.from(p1));
    expect(Array.from(p1)).toEqual(Array.from(p0));
    expect(Array.from(dropped.predictLogits(dense, rows))).toEqual(
      Array.from(plain.predictLogits(dense, rows)),
    );
    expect(dropped.loss(dense, rows, labels)).toBe(plain.loss(dense, rows, labels));
    // gradients() is dropout-free too, so the finite-difference checks hold with any rate.
    expect(Array.from(dropped.gradients(dense, rows, labels).rowGrads)).toEqual(
      Array.from(plain.gradients(dense, rows, labels).rowGrads),
    );
  });

  it('makes training steps differ from steps without it, and repeat for the same seed', () => {
    const again = createModel(config, { seed: 5, optimizer, dropout: 0.5 });
    try {
      for (let s = 0; s < 3; s += 1) {
        const { dense, rows, labels } = batch(plain, 16, 10 + s);
        const a = plain.step(dense, rows, labels);
        const b = dropped.step(dense, rows, labels);
        const c = again.step(dense, rows, labels);
        expect(b.loss).not.toBe(a.loss);
        expect(c.loss).toBe(b.loss);
      }
      expect(weightsOf(dropped)).not.toEqual(weightsOf(plain));
      expect(weightsOf(again)).toEqual(weightsOf(dropped));
      // After training, inference is still deterministic (no mask drawn outside step()).
      const { dense, rows } = batch(plain, 8, 99);
      expect(Array.from(dropped.predict(dense, rows))).toEqual(
        Array.from(again.predict(dense, rows)),
      );
    } finally {
      again.dispose();
    }
  });
});

describe('dropout', () => {
  it('zeroes about the rate of the values and scales the rest by 1 / (1 - rate)', () => {
    const drop = makeDropout(0.25, mulberry32(3));
    const out = tf.tidy(() => drop(tf.ones([200, 50]) as tf.Tensor2D).dataSync());
    const zeros = out.filter((v) => v === 0).length / out.length;
    expect(zeros).toBeGreaterThan(0.22);
    expect(zeros).toBeLessThan(0.28);
    expect(out.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
  });

  it('is refused outside [0, 1)', () => {
    const config = CONFIGS[0] as ModelConfigInput;
    expect(() => createModel(config, { dropout: 1 })).toThrow(ModelConfigError);
    expect(() => createModel(config, { dropout: -0.1 })).toThrow(ModelConfigError);
  });
});

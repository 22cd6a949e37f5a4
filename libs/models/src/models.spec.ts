import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import type { ModelConfigInput } from './config';
import { InputShapeError, ModelConfigError } from './errors';
import { createModel, type CtrModel, type WeightTensor } from './model';
import { referenceLogits, referenceLoss, weightMap } from './reference-forward.test-helper';
import { mulberry32 } from './rng';

beforeAll(async () => {
  await initBackend('wasm');
});

// Tiny configurations of each model, with and without dense features.
const TINY: Record<string, ModelConfigInput> = {
  dlrm: { kind: 'dlrm', numDense: 3, numFields: 3, dim: 4, bottom: [6, 5], top: [7, 5] },
  'dlrm-no-dense': { kind: 'dlrm', numDense: 0, numFields: 4, dim: 3, top: [6] },
  wdl: { kind: 'wdl', numDense: 2, numFields: 3, dim: 4, deep: [6, 5] },
  dcn: { kind: 'dcn', numDense: 2, numFields: 3, dim: 4, crossLayers: 3, deep: [6, 5, 4] },
  deepfm: { kind: 'deepfm', numDense: 2, numFields: 3, dim: 4, deep: [6, 5] },
  'deepfm-no-dense': { kind: 'deepfm', numDense: 0, numFields: 3, dim: 3, deep: [5] },
  fm: { kind: 'fm', numDense: 2, numFields: 4, dim: 4 },
  'fm-no-dense': { kind: 'fm', numDense: 0, numFields: 3, dim: 3 },
};

/**
 * Every weight redrawn at random (biases and zero-initialised weights included), so the checks
 * below see each term of the model, not only those a fresh model's init makes non-zero.
 */
function randomizeWeights(model: CtrModel, seed: number): void {
  const rand = mulberry32(seed);
  model.importWeights(
    model.exportWeights().map((w) => ({
      ...w,
      values: Float32Array.from(w.values, () => (rand() - 0.5) * 0.8),
    })),
  );
}

function batch(model: CtrModel, B: number, seed: number) {
  const { numDense, numFields, dim } = model.config;
  const rand = mulberry32(seed);
  // Rows large enough that the interaction terms matter next to the MLP terms.
  return {
    dense: Float32Array.from({ length: B * numDense }, () => rand() * 2),
    rows: Float32Array.from({ length: B * numFields * dim }, () => (rand() - 0.5) * 1.5),
    labels: Float32Array.from({ length: B }, () => (rand() < 0.4 ? 1 : 0)),
  };
}

describe.each(Object.entries(TINY))('%s', (_name, config) => {
  let model: CtrModel;
  beforeEach(() => {
    model = createModel(config, { seed: 11, optimizer: { kind: 'adam', lr: 1e-2 } });
  });
  afterEach(() => model.dispose());

  it('forward equals the plain-TypeScript reference', () => {
    randomizeWeights(model, 3);
    const B = 6;
    const { dense, rows } = batch(model, B, 5);
    const ref = referenceLogits(model.config, weightMap(model.exportWeights()), dense, rows, B);
    const logits = model.predictLogits(dense, rows);
    const probs = model.predict(dense, rows);
    ref.forEach((r, i) => {
      expect(logits[i]).toBeCloseTo(r, 4);
      expect(probs[i]).toBeCloseTo(1 / (1 + Math.exp(-r)), 5);
    });
  });

  it('row gradients (one backward pass with the weights) match finite differences', () => {
    randomizeWeights(model, 4);
    const B = 4;
    const { dense, rows, labels } = batch(model, B, 7);
    const g = model.gradients(dense, rows, labels);
    const w = weightMap(model.exportWeights());
    const cfg = model.config;
    expect(g.loss).toBeCloseTo(referenceLoss(cfg, w, dense, rows, labels), 5);
    const r64 = Float64Array.from(rows);
    const h = 1e-5;
    for (let k = 0; k < r64.length; k += 1) {
      const orig = r64[k] as number;
      r64[k] = orig + h;
      const up = referenceLoss(cfg, w, dense, r64, labels);
      r64[k] = orig - h;
      const down = referenceLoss(cfg, w, dense, r64, labels);
      r64[k] = orig;
      const fd = (up - down) / (2 * h);
      expect(Math.abs((g.rowGrads[k] as number) - fd)).toBeLessThan(
        2e-4 * Math.max(1, Math.abs(fd)),
      );
    }
  });

  it('weight gradients match finite differences', () => {
    randomizeWeights(model, 6);
    const B = 4;
    const { dense, rows, labels } = batch(model, B, 9);
    const g = model.gradients(dense, rows, labels);
    const w = weightMap(model.exportWeights());
    const rand = mulberry32(1);
    const h = 1e-5;
    for (const grad of g.weightGrads) {
      const values = w.get(grad.name) as Float64Array;
      // A few entries of every weight (all of the small ones).
      const picks =
        values.length <= 8
          ? [...values.keys()]
          : Array.from({ length: 8 }, () => Math.floor(rand() * values.length));
      for (const k of picks) {
        const orig = values[k] as number;
        values[k] = orig + h;
        const up = referenceLoss(model.config, w, dense, rows, labels);
        values[k] = orig - h;
        const down = referenceLoss(model.config, w, dense, rows, labels);
        values[k] = orig;
        const fd = (up - down) / (2 * h);
        expect(Math.abs((grad.values[k] as number) - fd)).toBeLessThan(
          2e-4 * Math.max(1, Math.abs(fd)),
        );
      }
    }
  });

  it('a step returns the pre-update loss, logits and row gradients, and moves the weights', () => {
    const B = 5;
    const { dense, rows, labels } = batch(model, B, 13);
    const before = model.gradients(dense, rows, labels);
    const out = new Float32Array(rows.length);
    const step = model.step(dense, rows, labels, out);
    expect(step.rowGrads).toBe(out);
    expect(step.loss).toBe(before.loss);
    expect(Array.from(step.rowGrads)).toEqual(Array.from(before.rowGrads));
    expect(Array.from(step.logits)).toEqual(Array.from(before.logits));
    expect(Array.from(model.predictLogits(dense, rows))).not.toEqual(Array.from(before.logits));
    expect(model.loss(dense, rows, labels)).toBeLessThan(before.loss);
    expect(model.steps).toBe(1);
  });

  it('leaks no tensors per step, predict, loss or gradients call', () => {
    const { dense, rows, labels } = batch(model, 8, 17);
    model.step(dense, rows, labels);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i += 1) {
      model.step(dense, rows, labels);
      model.predict(dense, rows);
      model.predictLogits(dense, rows);
      model.loss(dense, rows, labels);
      model.gradients(dense, rows, labels);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('model construction and inputs', () => {
  it('is deterministic from the seed (Xavier-normal weights, zero biases)', () => {
    const a = createModel(TINY['dlrm'] as ModelConfigInput, { seed: 5 });
    const b = createModel(TINY['dlrm'] as ModelConfigInput, { seed: 5 });
    const c = createModel(TINY['dlrm'] as ModelConfigInput, { seed: 6 });
    const wa = a.exportWeights();
    expect(wa).toEqual(b.exportWeights());
    expect(wa).not.toEqual(c.exportWeights());
    for (const w of wa)
      if (w.name.endsWith('.bias')) expect(Array.from(w.values).every((v) => v === 0)).toBe(true);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('draws Xavier-normal weights with σ = sqrt(2/(fan_in+fan_out))', () => {
    const m = createModel({ kind: 'wdl', numDense: 0, numFields: 50, dim: 8, deep: [200] });
    const w = m.exportWeights().find((x) => x.name === 'deep.0.weight') as WeightTensor;
    const n = w.values.length;
    const mean = w.values.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(w.values.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(sd / Math.sqrt(2 / (400 + 200))).toBeCloseTo(1, 1);
    m.dispose();
  });

  it('starts the dense first-order weights of DeepFM and FM at zero (docs/models.md)', () => {
    for (const kind of ['deepfm', 'fm'] as const) {
      const config: ModelConfigInput = { kind, numDense: 5, numFields: 3, dim: 4 };
      const m = createModel(config, { seed: 2 });
      const byName = new Map(m.exportWeights().map((w) => [w.name, w]));
      const linear = byName.get('linear.weight') as WeightTensor;
      expect(linear.shape).toEqual([5, 1]);
      expect(Array.from(linear.values)).toEqual([0, 0, 0, 0, 0]);
      if (kind === 'fm') expect([...byName.keys()]).toEqual(['linear.weight', 'bias']);
      else expect(byName.get('deep.0.weight')?.values.some((v) => v !== 0)).toBe(true);
      m.dispose();
    }
  });

  it('rejects bad configurations naming the field', () => {
    expect(() => createModel({ kind: 'dlrm', numDense: 13, numFields: 0, dim: 16 })).toThrow(
      /numFields/,
    );
    expect(() => createModel({ kind: 'deepfm', numDense: 0, numFields: 3, dim: 1 })).toThrow(/dim/);
    expect(() => createModel({ kind: 'fm', numDense: 0, numFields: 3, dim: 1 })).toThrow(/dim/);
    expect(() => createModel({ kind: 'mlp' } as unknown as ModelConfigInput)).toThrow(
      ModelConfigError,
    );
    expect(() =>
      createModel(
        { kind: 'wdl', numDense: 1, numFields: 1, dim: 2 },
        { optimizer: { kind: 'sgd', lr: 0 } },
      ),
    ).toThrow(/lr/);
  });

  it('rejects arrays of the wrong size naming the argument', () => {
    const m = createModel(TINY['dlrm'] as ModelConfigInput);
    const { dense, rows, labels } = batch(m, 4, 1);
    expect(() => m.step(dense, rows.subarray(1), labels)).toThrow(InputShapeError);
    expect(() => m.step(dense.subarray(1), rows, labels)).toThrow(/dense/);
    expect(() => m.step(dense, rows, labels.subarray(1))).toThrow(/rows/);
    expect(() => m.predict(dense, rows.subarray(1))).toThrow(/rows/);
    expect(() => m.step(dense, rows, labels, new Float32Array(3))).toThrow(/rowGradsOut/);
    m.dispose();
  });
});

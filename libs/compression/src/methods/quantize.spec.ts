import { describeTrainableConformance } from '../conformance/suite';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import type { TableShape } from '../core/shape';
import { registry } from '../methods';
import {
  int16,
  int8,
  QPARAM_BYTES,
  quantizeOffset,
  QuantizeTrainable,
  stochasticRound,
} from './quantize';

const skip = {
  skip: 'the stored parameters are integer codes (not differentiable); the only real-valued view is the dequantized rows, whose gradient is the row gradient itself (asserted below)',
};
describeTrainableConformance({
  spec: 'int8',
  shape: { fields: [50, 7, 300], dim: 8 },
  gradientCheck: skip,
});
describeTrainableConformance({
  spec: 'int16(scale=0.001,middle=0.5)',
  shape: { fields: [50, 7, 300], dim: 8 },
  gradientCheck: skip,
});

const make = (spec: string, shape: TableShape, opt: SparseOptimizer, seed = 1) => {
  const r = registry.resolve(spec);
  const m = r.method.kind === 'trainable' ? r.method : undefined;
  return m?.createTrainable(shape, r.params, { seed, optimizer: opt }) as QuantizeTrainable;
};
const sgd = (lr: number) => new SparseOptimizer({ kind: 'sgd', lr });
const allIds = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

describe('int8 / int16', () => {
  it('resolves canonical specs with the defaults of the reference', () => {
    expect(registry.resolve('int8').spec).toBe('int8(scale=0.01,middle=0)');
    expect(registry.resolve('int16').spec).toBe('int16(scale=0.01,middle=0)');
    expect(() => registry.resolve('int8(scale=0)')).toThrow();
    expect(() => registry.resolve('int8(bits=4)')).toThrow();
  });

  it('counts codes + 16 bytes of (s, m0); the paper counts b/32 words per value', () => {
    const shape = { fields: [10, 6], dim: 4 };
    expect(int8.estimateBytes(shape, { scale: 0.01, middle: 0 })).toBe(64 + QPARAM_BYTES);
    expect(int16.estimateBytes(shape, { scale: 0.01, middle: 0 })).toBe(128 + QPARAM_BYTES);
    expect(int8.paperWords(shape, { scale: 0.01, middle: 0 })).toBe(16);
    expect(int16.paperWords(shape, { scale: 0.01, middle: 0 })).toBe(32);
    expect(int8.paramsForBudget).toBeUndefined();
  });

  it('int8 with s = 0.01 spans [-1.28, 1.27]; int16 spans [-327.68, 327.67]; m0 = μ − 2^(b−1)s', () => {
    expect(quantizeOffset(8, { scale: 0.01, middle: 0 })).toBeCloseTo(-1.28, 12);
    expect(quantizeOffset(16, { scale: 0.01, middle: 0 })).toBeCloseTo(-327.68, 12);
    expect(quantizeOffset(8, { scale: 0.5, middle: 3 })).toBe(3 - 64);
    const shape = { fields: [4], dim: 2 };
    const t = make('int8', shape, sgd(1));
    t.codes.set([0, 255, 128, 129]);
    const out = new Float32Array(4);
    t.forward(Uint32Array.of(0, 1), out);
    expect(out[0]).toBeCloseTo(-1.28, 6);
    expect(out[1]).toBeCloseTo(1.27, 6);
    expect(out[2]).toBe(0);
    expect(out[3]).toBeCloseTo(0.01, 7);
    const t16 = make('int16', shape, sgd(1));
    t16.codes.set([0, 65535]);
    t16.forward(Uint32Array.of(0), out);
    expect(out[0]).toBeCloseTo(-327.68, 3);
    expect(out[1]).toBeCloseTo(327.67, 3);
  });

  it('quantizes the tiny fp32 init around code 2^(b−1), with stochastic rounding', () => {
    const t = make('int8', { fields: [300], dim: 8 }, sgd(1));
    const seen = new Set(t.codes);
    // b = sqrt(1/300) ≈ 0.058 = 5.8 steps: codes 122..134, mean ≈ 128.
    for (const c of seen) expect(Math.abs(c - 128)).toBeLessThanOrEqual(6);
    let mean = 0;
    for (const c of t.codes) mean += c / t.codes.length;
    expect(Math.abs(mean - 128)).toBeLessThan(0.3);
  });

  it('stochastic rounding is unbiased and only rounds to the two neighbours', () => {
    const rng = new Rng(3);
    for (const x of [3.3, -2.75, 0.01, 7]) {
      let sum = 0;
      let outside = 0;
      const N = 20000;
      for (let k = 0; k < N; k += 1) {
        const r = stochasticRound(x, rng);
        if (r !== Math.floor(x) && r !== Math.floor(x) + 1) outside += 1;
        sum += r;
      }
      expect(outside).toBe(0);
      expect(Math.abs(sum / N - x)).toBeLessThan(0.01);
    }
    // An integer stays put (u ∈ (0,1], so ⌊x + u⌋ = x unless u = 1 exactly).
    let moved = 0;
    for (let k = 0; k < 1000; k += 1) if (stochasticRound(7, rng) !== 7) moved += 1;
    expect(moved).toBe(0);
  });

  it('an update smaller than s survives with probability |update|/s, unbiased in the mean', () => {
    const shape = { fields: [200], dim: 16 };
    const lr = 0.003; // SGD, gradient 1: update −0.003 = 0.3 step
    const t = make('int8', shape, sgd(lr));
    const before = t.codes.slice();
    const ids = allIds(200);
    const ebefore = new Float32Array(200 * 16);
    t.forward(ids, ebefore);
    t.backward(ids, new Float32Array(200 * 16).fill(1));
    let moved = 0;
    for (let k = 0; k < before.length; k += 1) {
      const d = (t.codes[k] as number) - (before[k] as number);
      expect(d === 0 || d === -1).toBe(true);
      if (d === -1) moved += 1;
    }
    const fraction = moved / before.length;
    expect(fraction).toBeGreaterThan(0.25);
    expect(fraction).toBeLessThan(0.35);
    const eafter = new Float32Array(200 * 16);
    t.forward(ids, eafter);
    let meanChange = 0;
    for (let k = 0; k < eafter.length; k += 1)
      meanChange += ((eafter[k] as number) - (ebefore[k] as number)) / eafter.length;
    expect(meanChange).toBeCloseTo(-lr, 3);
  });

  it('a zero update changes no code', () => {
    const t = make('int16', { fields: [50], dim: 8 }, sgd(0.1));
    const before = t.codes.slice();
    t.backward(allIds(50), new Float32Array(400));
    expect(t.codes).toEqual(before);
  });

  it('clamps at both ends of the range', () => {
    const shape = { fields: [3], dim: 4 };
    const t = make('int8', shape, sgd(1));
    const g = new Float32Array(12);
    g.fill(-1000, 0, 4); // row 0 pushed far up
    g.fill(1000, 4, 8); // row 1 pushed far down
    t.backward(allIds(3), g);
    expect(Array.from(t.codes.subarray(0, 4))).toEqual([255, 255, 255, 255]);
    expect(Array.from(t.codes.subarray(4, 8))).toEqual([0, 0, 0, 0]);
    const out = new Float32Array(8);
    t.toTable().lookup(Uint32Array.of(0, 1), out);
    for (let j = 0; j < 4; j += 1) {
      expect(out[j]).toBeCloseTo(1.27, 6);
      expect(out[4 + j]).toBeCloseTo(-1.28, 6);
    }
  });

  it('updates only the codes of rows in the batch, and sums duplicate gradients', () => {
    const shape = { fields: [20, 5], dim: 4 };
    const t = make('int8', shape, new SparseOptimizer({ kind: 'adam', lr: 0.05 }));
    const before = t.codes.slice();
    const ids = Uint32Array.of(3, 24, 3);
    t.backward(ids, new Float32Array(12).fill(-1));
    for (let r = 0; r < 25; r += 1) {
      if (r === 3 || r === 24) continue;
      expect(t.codes.subarray(r * 4, r * 4 + 4)).toEqual(before.subarray(r * 4, r * 4 + 4));
    }
    // Adam's first step moves by lr = 5 steps: every touched code went up by 4..6.
    for (const r of [3, 24])
      for (let j = 0; j < 4; j += 1) {
        const d = (t.codes[r * 4 + j] as number) - (before[r * 4 + j] as number);
        expect(d).toBeGreaterThanOrEqual(4);
        expect(d).toBeLessThanOrEqual(6);
      }
    const [g] = t.gradients(
      Uint32Array.of(3, 3, 24),
      Float32Array.of(1, 2, 3, 4, 1, 1, 1, 1, 5, 5, 5, 5),
    );
    expect(Array.from(g?.rows ?? [])).toEqual([3, 24]);
    expect(Array.from(g?.values ?? [])).toEqual([2, 3, 4, 5, 5, 5, 5, 5]);
  });

  it('keeps the rounding stream per seed (same seed, same codes after training)', () => {
    const shape = { fields: [40], dim: 4 };
    const a = make('int8', shape, sgd(0.004), 9);
    const b = make('int8', shape, sgd(0.004), 9);
    const g = new Float32Array(160).fill(1);
    a.backward(allIds(40), g);
    b.backward(allIds(40), g);
    expect(a.codes).toEqual(b.codes);
  });
});

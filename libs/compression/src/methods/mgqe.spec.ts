import { describeTrainableConformance } from '../conformance/suite';
import { SpecError } from '../core/errors';
import { highFrequencyMask } from '../core/frequency';
import type { TrainableEmbedding, TrainOptions } from '../core/method';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import type { CodebookTable } from './dpq-core';
import { mgqe, type MgqeParams } from './mgqe';

const noFiniteDifferences = {
  skip: "forward serves the centroids of the STORED codes, so it does not depend on the query tables and the training gradient of a quantized field (straight-through to Q, the regulariser's to C) is a surrogate, not the derivative of any forward; checked directly in dpq.spec.ts and mgqe.spec.ts",
};

// Field 0 keeps a full table (its codebooks would be larger than its rows), fields 1-2 quantized.
describeTrainableConformance({
  spec: 'mgqe(parts=2,high=16,low=4)',
  shape: { fields: [6, 50, 400], dim: 8 },
  gradientCheck: noFiniteDifferences,
});

// The reference's defaults (4 parts, 256/64 centroids): only the 2000-id field pays off.
describeTrainableConformance({
  spec: 'mgqe',
  shape: { fields: [4, 40, 2000], dim: 8 },
  gradientCheck: noFiniteDifferences,
});

const optimizer = (lr = 0.05, kind: 'sgd' | 'adam' = 'sgd') => new SparseOptimizer({ kind, lr });
const view = (t: TrainableEmbedding, name: string) =>
  (t.parameters().find((v) => v.name === name) as { data: Float32Array }).data;
const trainRows = (t: TrainableEmbedding, ids: Uint32Array, dim: number) => {
  const out = new Float32Array(ids.length * dim);
  (t.trainForward as NonNullable<TrainableEmbedding['trainForward']>).call(t, ids, out);
  return out;
};

describe('mgqe: frequencies', () => {
  const shape: TableShape = { fields: [40, 30], dim: 4 };
  const p: MgqeParams = { parts: 2, high: 8, low: 2, topPercent: 0.1 };
  // Field 0: local ids 0-3 seen 100 times (its top 10 %), the rest once; field 1: counts 0-10.
  const freq = Uint32Array.from({ length: 70 }, (_, i) =>
    i < 4 ? 100 : i >= 40 ? (i * 7) % 11 : 1,
  );

  it('refuses to build without training frequencies, or with the wrong number', () => {
    const base: TrainOptions = { seed: 1, optimizer: optimizer() };
    expect(() => mgqe.createTrainable(shape, p, base)).toThrow(SpecError);
    expect(() =>
      mgqe.createTrainable(shape, p, { ...base, frequencies: new Uint32Array(69) }),
    ).toThrow(SpecError);
    expect(mgqe.usesFrequencies).toBe(true);
  });

  it('lets low-frequency ids use only the first `low` centroids; high ones search all', () => {
    const t = mgqe.createTrainable(shape, p, {
      seed: 1,
      optimizer: optimizer(),
      frequencies: freq,
    });
    const rng = new Rng(3);
    for (const v of t.parameters())
      for (let i = 0; i < v.data.length; i += 1) v.data[i] = rng.uniform(-1, 1);
    // Every query of field 0 sits on the LAST centroid of each part: the nearest for all ids.
    const Q = view(t, 'f0.query');
    const C = view(t, 'f0.codebooks');
    for (let x = 0; x < 40; x += 1)
      for (let part = 0; part < 2; part += 1)
        for (let j = 0; j < 2; j += 1)
          Q[x * 4 + part * 2 + j] = C[(part * 8 + 7) * 2 + j] as number;
    const all = Uint32Array.from({ length: 70 }, (_, i) => i);
    trainRows(t, all, 4);
    const table = t.toTable() as CodebookTable;
    const mask0 = highFrequencyMask(freq.subarray(0, 40), 0.1);
    const mask1 = highFrequencyMask(freq.subarray(40, 70), 0.1);
    expect(Array.from(mask0).reduce((a, b) => a + b, 0)).toBe(4);
    const codes0 = table.data[0]?.codes as Uint8Array;
    for (let x = 0; x < 40; x += 1)
      for (let part = 0; part < 2; part += 1) {
        const code = codes0[x * 2 + part] as number;
        if (mask0[x] === 1) expect(code).toBe(7);
        else expect(code).toBeLessThan(2);
      }
    // Field 1 (random queries): low ids never leave the first 2 centroids.
    const codes1 = table.data[1]?.codes as Uint8Array;
    let highUsed = 0;
    for (let x = 0; x < 30; x += 1)
      for (let part = 0; part < 2; part += 1) {
        const code = codes1[x * 2 + part] as number;
        if (mask1[x] === 0) expect(code).toBeLessThan(2);
        else highUsed = Math.max(highUsed, code);
      }
    const high1 = Array.from(mask1).reduce((a, b) => a + b, 0);
    expect(high1).toBeGreaterThanOrEqual(3);
    expect(high1).toBeLessThan(30);
    expect(highUsed).toBeGreaterThanOrEqual(2);
  });

  it('keeps code 0 for ids never seen in training', () => {
    const t = mgqe.createTrainable(shape, p, {
      seed: 1,
      optimizer: optimizer(0.05, 'adam'),
      frequencies: freq,
    });
    const rng = new Rng(4);
    const seen = Uint32Array.of(0, 1, 2, 3, 10, 45, 50, 66);
    for (let step = 0; step < 20; step += 1) {
      trainRows(t, seen, 4);
      t.backward(
        seen,
        new Float32Array(seen.length * 4).map(() => rng.normal()),
      );
    }
    const table = t.toTable() as CodebookTable;
    for (const [f, start, n] of [
      [0, 0, 40],
      [1, 40, 30],
    ] as const) {
      const codes = table.data[f]?.codes as Uint8Array;
      for (let x = 0; x < n; x += 1)
        if (!seen.includes(start + x)) expect([codes[x * 2], codes[x * 2 + 1]]).toEqual([0, 0]);
    }
  });
});

describe('mgqe: per-field layout and accounting', () => {
  const shape: TableShape = { fields: [6, 50, 400], dim: 8 };
  const p: MgqeParams = { parts: 2, high: 16, low: 4, topPercent: 0.1 };
  const make = () =>
    mgqe.createTrainable(shape, p, {
      seed: 1,
      optimizer: optimizer(0.1),
      frequencies: Uint32Array.from({ length: 456 }, (_, i) => i % 13),
    });

  it('keeps a full table for a field whose codebooks would not pay off', () => {
    const t = make();
    expect(t.parameters().map((v) => [v.name, v.rowLength])).toEqual([
      ['f0.table', 8],
      ['f1.query', 8],
      ['f1.codebooks', undefined],
      ['f2.query', 8],
      ['f2.codebooks', undefined],
    ]);
    const bytes = 6 * 8 * 4 + (50 * 2 + 16 * 8 * 4) + (400 * 2 + 16 * 8 * 4);
    expect(mgqe.estimateBytes(shape, p)).toBe(bytes);
    expect(t.memoryBytes()).toBe(bytes);
    const notes = t.toTable().describe().notes.join(' ');
    expect(notes).toContain('2 of 3 fields quantized');
    expect(notes).toContain('full fp32 tables for fields 0');
    expect(notes).toContain(`query tables Q (${450 * 8 * 4} bytes)`);
  });

  it("trains a full field's rows directly (forward = trainForward = the row)", () => {
    const t = make();
    const ids = Uint32Array.of(2, 2, 60);
    const R = new Float32Array(3 * 8).map((_, i) => i / 10);
    const g = t.gradients(ids, R).find((x) => x.name === 'f0.table');
    expect(Array.from(g?.rows ?? [])).toEqual([2]);
    expect(g?.values[0]).toBeCloseTo((R[0] as number) + (R[8] as number), 6);
    const T0 = view(t, 'f0.table').slice();
    t.backward(ids, R);
    expect(view(t, 'f0.table')[2 * 8]).toBeCloseTo((T0[16] as number) - 0.1 * 0.8, 6);
    const rows = trainRows(t, Uint32Array.of(2), 8);
    expect(Array.from(rows)).toEqual(Array.from(view(t, 'f0.table').subarray(16, 24)));
  });

  it("counts the reference's words: flags + K·D + bit-packed codes, with n_high = topPercent·n_f", () => {
    // b_high = log2 16 = 4 bits, b_low = log2 4 = 2 bits.
    const field = (n: number) => n + 16 * 8 + (0.1 * n * 2 * 4) / 32 + (0.9 * n * 2 * 2) / 32;
    expect(mgqe.paperWords(shape, p)).toBeCloseTo(6 * 8 + field(50) + field(400), 9);
    expect(mgqe.paperWords({ fields: [1000], dim: 16 }, mgqe.params.parse({}))).toBeCloseTo(
      1000 + 256 * 16 + (100 * 4 * 8) / 32 + (900 * 4 * 6) / 32,
      9,
    );
  });

  it("reproduces the reference helper's word ratios: 0.160 (P=8), 0.111 (P=4), 0.087 (P=2)", () => {
    for (const s of [CRITEO_SHAPE, AVAZU_SHAPE]) {
      const nD = totalRows(s) * s.dim;
      const ratio = (parts: number) => mgqe.paperWords(s, mgqe.params.parse({ parts })) / nD;
      expect(ratio(8)).toBeCloseTo(0.16, 2);
      expect(ratio(4)).toBeCloseTo(0.111, 3);
      expect(ratio(2)).toBeCloseTo(0.087, 3);
    }
    // Bytes: one byte per code, so about P/(4·D) of the fp32 table plus the small full fields.
    const bytes = mgqe.estimateBytes(CRITEO_SHAPE, mgqe.params.parse({ parts: 4 }));
    expect(bytes / fullBytes(CRITEO_SHAPE)).toBeCloseTo(0.0626, 4);
  });

  it('refuses low > high and parts that do not divide the dimension', () => {
    expect(() => mgqe.estimateBytes(shape, { ...p, low: 32 })).toThrow(SpecError);
    expect(() => mgqe.estimateBytes(shape, { ...p, parts: 3 })).toThrow(SpecError);
  });
});

describe('mgqe: learning', () => {
  it('learns a toy target end to end: the served rows approach per-id targets', () => {
    const shape: TableShape = { fields: [100, 80], dim: 4 };
    const n = totalRows(shape);
    const rng = new Rng(9);
    const frequencies = Uint32Array.from({ length: n }, () => rng.int(0, 50));
    const build = () =>
      mgqe.createTrainable(
        shape,
        { parts: 2, high: 8, low: 4, topPercent: 0.1 },
        {
          seed: 2,
          optimizer: new SparseOptimizer({ kind: 'adam', lr: 0.02 }),
          frequencies,
        },
      );
    const t = build();
    // Targets built from 4 prototypes per part: reachable by low-frequency ids (first 4 centroids).
    const protos = new Float32Array(2 * 4 * 2).map(() => rng.uniform(-0.5, 0.5));
    const target = new Float32Array(n * 4);
    for (let x = 0; x < n; x += 1)
      for (let part = 0; part < 2; part += 1) {
        const k = rng.int(0, 4);
        for (let j = 0; j < 2; j += 1)
          target[x * 4 + part * 2 + j] = protos[(part * 4 + k) * 2 + j] as number;
      }
    const all = Uint32Array.from({ length: n }, (_, i) => i);
    const loss = (e: TrainableEmbedding) => {
      const out = new Float32Array(n * 4);
      e.forward(all, out);
      let s = 0;
      for (let i = 0; i < out.length; i += 1)
        s += ((out[i] as number) - (target[i] as number)) ** 2;
      return s / n;
    };
    const opt = (t as unknown as { optimizer: SparseOptimizer }).optimizer;
    const grads = new Float32Array(32 * 4);
    for (let step = 0; step < 400; step += 1) {
      opt.nextStep();
      const ids = Uint32Array.from({ length: 32 }, () => rng.int(0, n));
      const rows = trainRows(t, ids, 4);
      for (let i = 0; i < rows.length; i += 1)
        grads[i] = (rows[i] as number) - (target[(ids[i >> 2] as number) * 4 + (i & 3)] as number);
      t.backward(ids, grads);
    }
    const start = loss(build());
    const end = loss(t);
    // Measured: 0.350 → 0.013.
    expect(end).toBeLessThan(0.1 * start);
  });
});

import * as tf from '@tensorflow/tfjs';
import { backendAvailability, initBackend, resolveTensorflowPackage } from './backend';
import { BackendUnavailableError } from './errors';
import { createModel } from './model';
import { mulberry32 } from './rng';
import { explicitTransposeGradientActive } from './wasm-fixes';

describe('backend selection', () => {
  it("'auto' picks wasm here and says why tensorflow was passed over", async () => {
    // This machine cannot install tfjs-node (its install downloads libtensorflow).
    expect(resolveTensorflowPackage()).toBeUndefined();
    const info = await initBackend('auto');
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.explicitTransposeGradient).toBe(true);
    expect(explicitTransposeGradientActive()).toBe(true);
    expect(info.skipped).toHaveLength(1);
    expect(info.skipped[0]?.backend).toBe('tensorflow');
    expect(info.skipped[0]?.reason).toMatch(/@tensorflow\/tfjs-node-gpu or @tensorflow\/tfjs-node/);
  });

  it("'tensorflow' is reported unavailable with a clear message, without crashing", async () => {
    const tensorflow = backendAvailability().find((b) => b.backend === 'tensorflow');
    expect(tensorflow?.available).toBe(false);
    expect(tensorflow?.reason).toMatch(/tfjs-node/);
    await expect(initBackend('tensorflow')).rejects.toThrow(BackendUnavailableError);
    await expect(initBackend('tensorflow')).rejects.toThrow(
      /neither can be required here.*--backend wasm/,
    );
    expect(tf.getBackend()).toBe('wasm'); // unchanged
    await expect(initBackend('gpu' as never)).rejects.toThrow(/unknown backend 'gpu'/);
  });

  it('cpu and wasm predict the same', async () => {
    await initBackend('wasm');
    const m = createModel(
      { kind: 'dlrm', numDense: 3, numFields: 4, dim: 4, bottom: [8], top: [8] },
      { seed: 2 },
    );
    const rand = mulberry32(1);
    const dense = Float32Array.from({ length: 8 * 3 }, () => rand());
    const rows = Float32Array.from({ length: 8 * 16 }, () => rand() - 0.5);
    const onWasm = m.predict(dense, rows);
    const info = await initBackend('cpu');
    expect(info.name).toBe('cpu');
    const onCpu = m.predict(dense, rows);
    onCpu.forEach((p, i) => expect(p).toBeCloseTo(onWasm[i] as number, 6));
    await initBackend('wasm');
    m.dispose();
  });
});

describe('wasm fixes', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('matMul gradients with explicit transposes are right for every transpose flag', () => {
    const rand = mulberry32(8);
    const A = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => rand() - 0.5)); // 3×4
    const Bm = Array.from({ length: 4 }, () => Array.from({ length: 2 }, () => rand() - 0.5)); // 4×2
    const W = Array.from({ length: 3 }, () => Array.from({ length: 2 }, () => rand() - 0.5)); // weights of C
    const tr = (m: number[][]): number[][] =>
      (m[0] as number[]).map((_, j) => m.map((row) => row[j] as number));
    // L = Σ W ⊙ (A B): dL/dA = W Bᵀ, dL/dB = Aᵀ W
    const mm = (x: number[][], y: number[][]): number[][] =>
      x.map((row) =>
        (y[0] as number[]).map((_, j) =>
          row.reduce((s, v, k) => s + v * ((y[k] as number[])[j] as number), 0),
        ),
      );
    const dA = mm(W, tr(Bm));
    const dB = mm(tr(A), W);
    for (const [tA, tB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const [ga, gb] = tf.tidy((): number[][][] => {
        const a = tf.tensor2d(tA ? tr(A) : A);
        const b = tf.tensor2d(tB ? tr(Bm) : Bm);
        const w = tf.tensor2d(W);
        const grads = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
          tf.sum(tf.mul(tf.matMul(x, y, tA, tB), w)),
        )([a, b]);
        return grads.map((g) => g.arraySync() as number[][]);
      });
      const wantA = tA ? tr(dA) : dA;
      const wantB = tB ? tr(dB) : dB;
      (ga as number[][])
        .flat()
        .forEach((v, i) => expect(v).toBeCloseTo(wantA.flat()[i] as number, 5));
      (gb as number[][])
        .flat()
        .forEach((v, i) => expect(v).toBeCloseTo(wantB.flat()[i] as number, 5));
    }
  });

  it('batched matMul gradients (rank 3) are right', () => {
    const rand = mulberry32(9);
    const a = Float32Array.from({ length: 2 * 3 * 4 }, () => rand() - 0.5);
    const b = Float32Array.from({ length: 2 * 4 * 5 }, () => rand() - 0.5);
    const [ga, gb] = tf.tidy((): number[][] =>
      tf
        .grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y)))([
          tf.tensor3d(a, [2, 3, 4]),
          tf.tensor3d(b, [2, 4, 5]),
        ])
        .map((g) => Array.from(g.dataSync())),
    );
    // d/dA Σ(AB) = 1 Bᵀ: row sums of B; d/dB = Aᵀ 1: column sums of A
    for (let s = 0; s < 2; s += 1)
      for (let i = 0; i < 3; i += 1)
        for (let k = 0; k < 4; k += 1) {
          let want = 0;
          for (let j = 0; j < 5; j += 1) want += b[s * 20 + k * 5 + j] as number;
          expect((ga as number[])[s * 12 + i * 4 + k]).toBeCloseTo(want, 5);
        }
    for (let s = 0; s < 2; s += 1)
      for (let k = 0; k < 4; k += 1)
        for (let j = 0; j < 5; j += 1) {
          let want = 0;
          for (let i = 0; i < 3; i += 1) want += a[s * 12 + i * 4 + k] as number;
          expect((gb as number[])[s * 20 + k * 5 + j]).toBeCloseTo(want, 5);
        }
  });

  it('tf.gather has a gradient on wasm (UnsortedSegmentSum kernel)', () => {
    const g = tf.tidy(() => {
      const table = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
      const ids = tf.tensor1d([2, 0, 2], 'int32');
      return tf
        .grad((t: tf.Tensor) =>
          tf.sum(tf.mul(tf.gather(t, ids), tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]))),
        )(table)
        .arraySync();
    });
    // row 0 gets the 2nd weight row, row 2 gets rows 1 and 3 summed, row 1 nothing
    expect(g).toEqual([
      [3, 4],
      [0, 0],
      [6, 8],
    ]);
  });
});

import { describeTrainableConformance } from '../conformance/suite';
import { readArtifact, writeArtifact, type TypedArray } from '../core/artifact';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { ArtifactError, BudgetError, SpecError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import { registry } from '../methods';
import {
  dhe,
  dheEncode,
  dheFields,
  dheHash,
  dheThreshold,
  dheWords,
  primesFrom,
  PRIME_POOL,
  type DheParams,
  type DheTrainable,
} from './dhe';
import { BN_EPS, gemmNT, mish, mishGrad } from './dhe-mlp';

// k = 16, h = 8, D = 8: M(h) = 17·8 + 4·8·9 + 9·8 + 10·8 = 576 words. Field 0 (300·8 = 2400 > 576)
// uses DHE, field 1 (5·8 = 40) keeps a full table.
const small: TableShape = { fields: [300, 5], dim: 8 };
const SPEC = 'dhe(hidden=8,hashes=16,buckets=1000)';
const skip = {
  skip:
    'forward() is inference (BatchNorm on running statistics) while gradients() is the gradient of ' +
    'trainForward() (batch statistics), the one backward() applies; checked by finite differences ' +
    'against trainForward in dhe.spec.ts',
};
describeTrainableConformance({ spec: SPEC, shape: small, gradientCheck: skip });
describeTrainableConformance({
  spec: 'dhe(hidden=8,hashes=16,buckets=1000,encoding=normal)',
  shape: small,
  gradientCheck: skip,
});

const P: DheParams = {
  hidden: 8,
  hashes: 16,
  buckets: 1000,
  encoding: 'uniform',
  threshold: 0,
};
const make = (shape: TableShape, p: DheParams = P, seed = 1, lr = 0.01) =>
  dhe.createTrainable(shape, p, {
    seed,
    optimizer: new SparseOptimizer({ kind: 'adam', lr }),
  }) as DheTrainable;

const isPrime = (v: number) => {
  if (v < 2) return false;
  for (let q = 2; q * q <= v; q += 1) if (v % q === 0) return false;
  return true;
};

describe('dhe', () => {
  it('has canonical specs; normal encoding needs an even k', () => {
    expect(registry.resolve('dhe').spec).toBe(
      'dhe(hidden=512,hashes=1024,buckets=1000000,encoding=uniform,threshold=0)',
    );
    expect(registry.resolve(SPEC).spec).toBe(
      'dhe(hidden=8,hashes=16,buckets=1000,encoding=uniform,threshold=0)',
    );
    expect(() => registry.resolve('dhe(hashes=15,encoding=normal)')).toThrow(SpecError);
    expect(() => registry.resolve('dhe(encoding=gauss)')).toThrow(SpecError);
    expect(() => registry.resolve('dhe(buckets=1)')).toThrow(SpecError);
    expect(dhe.family).toBe('generator');
    expect(dhe.taxonomy).toEqual({ scope: 'inter-feature', subClass: 'static-encoding' });
  });

  it("sizes M(h), threshold' and the field choice by the reference rule", () => {
    expect(dheWords(16, 8, 8)).toBe(576);
    expect(dheWords(1024, 3626, 16)).toBe(1025 * 3626 + 4 * 3626 * 3627 + 17 * 3626 + 36_260);
    expect(dheThreshold(small, P)).toBe(576);
    expect(dheFields(small, P)).toEqual([true, false]);
    // thr·D above M(h) raises threshold' (and what each DHE field is charged).
    expect(dheThreshold(small, { ...P, threshold: 100 })).toBe(800);
    expect(dheFields(small, { ...P, threshold: 100 })).toEqual([true, false]);
    expect(dheFields(small, { ...P, threshold: 300 })).toEqual([false, false]);
    expect(dhe.paperWords(small, P)).toBe(576 + 40);
    expect(dhe.paperWords(small, { ...P, threshold: 100 })).toBe(800 + 40);
    // Bytes: full field 5·8·4; DHE field: a, b, p as u16 (m = 1000, primes < 2^16) + folded MLP
    // (k+1)h + 4(h+1)h + (h+1)D = 136 + 288 + 72 floats.
    expect(dhe.estimateBytes(small, P)).toBe(160 + 16 * 6 + 496 * 4);
    // m = 10^6: a, b, p need u32.
    expect(dhe.estimateBytes(small, { ...P, buckets: 1_000_000 })).toBe(160 + 16 * 12 + 496 * 4);
  });

  it('reproduces the budget test vectors (paper words, D = 16, k = 1024)', () => {
    const cases: Array<[TableShape, number, number, number]> = [
      [CRITEO_SHAPE, 0.5, 3626, 4],
      [CRITEO_SHAPE, 0.1, 1372, 5],
      [AVAZU_SHAPE, 0.5, 2933, 2],
      [AVAZU_SHAPE, 0.1, 1224, 2],
    ];
    for (const [shape, cr, h, compressed] of cases) {
      const p = dhe.paramsForBudget?.(shape, cr, 'paper-words') as DheParams;
      expect(p).toEqual({
        hidden: h,
        hashes: 1024,
        buckets: 1_000_000,
        encoding: 'uniform',
        threshold: 0,
      });
      expect(dheFields(shape, p).filter(Boolean)).toHaveLength(compressed);
      expect(dhe.paperWords(shape, p)).toBeLessThanOrEqual(cr * totalRows(shape) * shape.dim);
    }
  });

  it('solves byte budgets exactly: the largest h whose table fits', () => {
    for (const cr of [0.5, 0.1, 0.01]) {
      const p = dhe.paramsForBudget?.(CRITEO_SHAPE, cr) as DheParams;
      const limit = cr * fullBytes(CRITEO_SHAPE);
      expect(dhe.estimateBytes(CRITEO_SHAPE, p)).toBeLessThanOrEqual(limit);
      expect(dhe.estimateBytes(CRITEO_SHAPE, { ...p, hidden: p.hidden + 1 })).toBeGreaterThan(
        limit,
      );
    }
    // A budget of 1 is met with every field full; a budget below h = 1 is refused.
    const all = dhe.paramsForBudget?.(small, 1) as DheParams;
    expect(dheFields(small, all)).toEqual([false, false]);
    expect(() => dhe.paramsForBudget?.(small, 0.01)).toThrow(BudgetError);
  });

  it('uses the first 4096 primes >= m as the prime pool (primes.npy stand-in)', () => {
    const pool = primesFrom(1000);
    expect(pool).toHaveLength(PRIME_POOL);
    expect(pool[0]).toBe(1009);
    for (let i = 1; i < pool.length; i += 1) expect(pool[i]).toBeGreaterThan(pool[i - 1] as number);
    for (let i = 0; i < pool.length; i += 97) expect(isPrime(pool[i] as number)).toBe(true);
    expect(isPrime(pool[PRIME_POOL - 1] as number)).toBe(true);
    // Nothing skipped: 1009..1013 (the next prime) leaves no prime out.
    expect(pool[1]).toBe(1013);
    expect(primesFrom(1_000_000)[0]).toBe(1_000_003);
    expect(primesFrom(7)[0]).toBe(7);
  });

  it('hashes exactly in 64-bit math (the reference overflows int32)', () => {
    // (3·400 + 5) mod 1009 = 196, mod 1000 = 196.
    expect(dheHash(3, 5, 1009, 1000, 400, true)).toBe(196);
    // The reference's GPU kernel: a·x in int32 (wraps) and C remainder (may be negative).
    const a = 999_983;
    const b = 12_345;
    const p = 1_000_003;
    const x = 3_000; // a·x ≈ 3.0e9: wraps to a negative int32
    const exact = Number(((BigInt(a) * BigInt(x) + BigInt(b)) % BigInt(p)) % 1_000_000n);
    const int32 = ((Math.imul(a, x) + b) | 0) % p; // JS % is C's truncated remainder
    expect(dheHash(a, b, p, 1_000_000, x, true)).toBe(exact);
    expect(int32).not.toBe(exact);
    expect(int32).toBeLessThan(0); // an encoding outside [−1, 1] on GPU
    // Both paths (direct and 16-bit split) agree with BigInt, ids up to 2^32 − 1, m up to 2^31.
    const rng = new Rng(3);
    for (const m of [1_000, 1_000_000, 2 ** 31]) {
      const pool = primesFrom(m);
      for (let t = 0; t < 200; t += 1) {
        const ai = rng.int(1, m);
        const bi = rng.int(1, m);
        const pi = pool[rng.int(0, pool.length)] as number;
        const xi = t < 5 ? 2 ** 32 - 1 - t : rng.int(0, 2 ** 32);
        const want = Number(((BigInt(ai) * BigInt(xi) + BigInt(bi)) % BigInt(pi)) % BigInt(m));
        expect(dheHash(ai, bi, pi, m, xi, false)).toBe(want);
        if ((m - 1) * 2 ** 32 <= Number.MAX_SAFE_INTEGER)
          expect(dheHash(ai, bi, pi, m, xi, true)).toBe(want);
      }
    }
  });

  it('encodes uniform (2h/(m−1) − 1) and normal (Box–Muller on pairs)', () => {
    const hashes = {
      a: Uint16Array.of(3, 7),
      b: Uint16Array.of(5, 11),
      p: Uint16Array.of(1009, 1013),
    };
    const h0 = (3 * 400 + 5) % 1009; // 196
    const h1 = ((7 * 400 + 11) % 1013) % 1000; // 785
    const u = dheEncode(hashes, { buckets: 1000, encoding: 'uniform' }, 500, 400);
    expect(u[0]).toBeCloseTo((2 * h0) / 999 - 1, 12);
    expect(u[1]).toBeCloseTo((2 * h1) / 999 - 1, 12);
    const v = dheEncode(hashes, { buckets: 1000, encoding: 'normal' }, 500, 400);
    const r = Math.sqrt(-2 * Math.log(h0 / 999));
    expect(v[0]).toBeCloseTo(r * Math.cos((2 * Math.PI * h1) / 999), 12);
    expect(v[1]).toBeCloseTo(r * Math.sin((2 * Math.PI * h1) / 999), 12);
    // u = 0 is clamped to 1e-12 (finite encodings).
    const zero = {
      a: Uint16Array.of(1, 1),
      b: Uint16Array.of(0, 0),
      p: Uint16Array.of(1009, 1009),
    };
    expect(Number.isFinite(dheEncode(zero, { buckets: 1000, encoding: 'normal' }, 5, 0)[0])).toBe(
      true,
    );
  });

  it('draws different hashes for every field, the same for a seed', () => {
    const shape = { fields: [300, 200, 5], dim: 8 };
    const t = make(shape);
    const [a0, a1] = [t.hashes(0), t.hashes(1)];
    expect(a0.a).not.toEqual(a1.a);
    expect(a0.p).not.toEqual(a1.p);
    expect(make(shape).hashes(1)).toEqual(a1);
    expect(make(shape, P, 2).hashes(0)).not.toEqual(a0);
    for (const h of [a0, a1]) {
      for (let j = 0; j < P.hashes; j += 1) {
        expect(h.a[j]).toBeGreaterThanOrEqual(1);
        expect(h.a[j]).toBeLessThan(1000);
        expect(h.b[j]).toBeGreaterThanOrEqual(1);
        expect(primesFrom(1000)).toContain(h.p[j]);
      }
    }
    expect(() => t.hashes(2)).toThrow();
  });

  it('multiplies A·Bᵀ + bias exactly like the naive loop, any shape (4×2 register blocks)', () => {
    const rng = new Rng(2);
    for (const [rows, cols, inner] of [
      [7, 5, 3],
      [4, 2, 1],
      [1, 1, 9],
      [9, 8, 16],
    ] as const) {
      const A = new Float64Array(rows * inner).map(() => rng.normal());
      const B = new Float32Array(cols * inner).map(() => rng.normal());
      const bias = new Float32Array(cols).map(() => rng.normal());
      const out = new Float64Array(rows * cols);
      gemmNT(A, rows, B, cols, inner, bias, out);
      for (let r = 0; r < rows; r += 1)
        for (let c = 0; c < cols; c += 1) {
          let s = bias[c] as number;
          for (let q = 0; q < inner; q += 1)
            s += (A[r * inner + q] as number) * (B[c * inner + q] as number);
          expect(out[r * cols + c]).toBeCloseTo(s, 12);
        }
      const noBias = new Float32Array(rows * cols);
      gemmNT(A, rows, B, cols, inner, undefined, noBias);
      expect(noBias[rows * cols - 1]).toBeCloseTo(
        (out[rows * cols - 1] as number) - (bias[cols - 1] as number),
        5,
      );
    }
  });

  it('has Mish and its derivative right', () => {
    expect(mish(0)).toBe(0);
    for (const z of [-60, -7, -1, 0.3, 2, 19.9, 20.1, 80])
      expect(mish(z)).toBeCloseTo(z * Math.tanh(Math.log1p(Math.exp(z))), 12);
    expect(mish(1)).toBeCloseTo(Math.tanh(Math.log(1 + Math.E)), 12);
    for (const z of [-30, -3, -0.5, 0, 0.7, 4, 25]) {
      const e = 1e-6;
      expect(mishGrad(z)).toBeCloseTo((mish(z + e) - mish(z - e)) / (2 * e), 6);
    }
  });

  it('has batch-statistics gradients that match finite differences of trainForward', () => {
    const t = make(small);
    const rng = new Rng(13);
    // Away from the tiny init so every parameter matters.
    for (const p of t.parameters())
      for (let i = 0; i < p.data.length; i += 1) p.data[i] = rng.uniform(-0.5, 0.5);
    const ids = Uint32Array.of(3, 17, 300, 250, 3, 99, 304, 42, 301);
    const D = small.dim;
    const R = new Float32Array(ids.length * D).map(() => rng.normal());
    const loss = () => {
      const out = new Float32Array(ids.length * D);
      t.trainForward(ids, out);
      let sum = 0;
      for (let i = 0; i < out.length; i += 1) sum += (out[i] as number) * (R[i] as number);
      return sum;
    };
    const grads = t.gradients(ids, R);
    const views = t.parameters();
    expect(grads.map((g) => g.name).sort()).toEqual(views.map((v) => v.name).sort());
    let checked = 0;
    for (const p of views) {
      const g = grads.find((x) => x.name === p.name) as {
        rows?: Uint32Array;
        values: Float32Array;
      };
      const coords: Array<{ index: number; analytic: number }> = [];
      if (g.rows !== undefined) {
        // Full field 1: local rows 0 (id 300), 4 (id 304), 1 (id 301).
        expect([...g.rows]).toEqual([0, 4, 1]);
        g.rows.forEach((row, r) => {
          for (let j = 0; j < D; j += 3)
            coords.push({ index: row * D + j, analytic: g.values[r * D + j] as number });
        });
      } else {
        for (let c = 0; c < 8; c += 1) {
          const index = rng.int(0, p.data.length);
          coords.push({ index, analytic: g.values[index] as number });
        }
      }
      for (const { index, analytic } of coords) {
        const original = p.data[index] as number;
        p.data[index] = original + 1e-3;
        const up = loss();
        const hUp = (p.data[index] as number) - original;
        p.data[index] = original - 1e-3;
        const down = loss();
        const hDown = original - (p.data[index] as number);
        p.data[index] = original;
        const numeric = (up - down) / (hUp + hDown);
        expect(Math.abs(numeric - analytic)).toBeLessThanOrEqual(
          1e-4 + 1e-3 * Math.max(Math.abs(numeric), Math.abs(analytic)),
        );
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(100);
    // The bias before a BatchNorm has no gradient under batch statistics.
    const b0 = grads.find((g) => g.name === 'field0.b0') as { values: Float32Array };
    for (const v of b0.values) expect(Math.abs(v)).toBeLessThan(1e-5);
  });

  it('gradients() changes nothing; backward() updates parameters and running statistics', () => {
    const t = make(small);
    const ids = Uint32Array.of(1, 2, 3, 50, 300);
    const rows = new Float32Array(ids.length * 8).fill(0.3);
    const before = t.parameters().map((p) => p.data.slice());
    const mean0 = t.runningStats(0, 0).mean.slice();
    t.gradients(ids, rows);
    t.parameters().forEach((p, k) => expect(p.data).toEqual(before[k]));
    expect(t.runningStats(0, 0).mean).toEqual(mean0);

    // Expected layer-0 batch mean: mean over the 4 DHE lookups of enc·W0 (+ zero bias).
    const w0 = t.parameters().find((p) => p.name === 'field0.w0')?.data as Float32Array;
    const expected = new Float64Array(P.hidden);
    for (const x of [1, 2, 3, 50]) {
      const v = dheEncode(t.hashes(0), P, 300, x);
      for (let j = 0; j < P.hidden; j += 1)
        for (let q = 0; q < P.hashes; q += 1)
          expected[j] =
            (expected[j] as number) + ((v[q] as number) * (w0[j * P.hashes + q] as number)) / 4;
    }
    t.backward(ids, rows);
    const { mean, variance } = t.runningStats(0, 0);
    for (let j = 0; j < P.hidden; j += 1)
      expect(mean[j]).toBeCloseTo(0.1 * (expected[j] as number), 6);
    for (const v of variance) {
      expect(v).toBeLessThan(1);
      expect(v).toBeGreaterThan(0.9);
    }
    expect(t.parameters().some((p, k) => !p.data.every((x, i) => x === before[k]?.[i]))).toBe(true);
    // A batch with a single DHE lookup leaves the running statistics alone (no variance estimate).
    const frozen = t.runningStats(0, 1).variance.slice();
    t.backward(Uint32Array.of(7), new Float32Array(8).fill(1));
    expect(t.runningStats(0, 1).variance).toEqual(frozen);
  });

  it('serves BatchNorm folded: forward equals the unfolded running-statistics MLP', () => {
    const t = make(small);
    const rng = new Rng(4);
    // A forward before training: the kernels' transposed weights must follow the updates.
    t.forward(Uint32Array.of(123), new Float32Array(8));
    for (let step = 0; step < 3; step += 1) {
      const ids = Uint32Array.from({ length: 32 }, () => rng.int(0, 305));
      t.backward(
        ids,
        new Float32Array(32 * 8).map(() => rng.normal()),
      );
    }
    const view = (name: string) =>
      t.parameters().find((p) => p.name === name)?.data as Float32Array;
    const x = 123;
    let a = Array.from(dheEncode(t.hashes(0), P, 300, x));
    for (let l = 0; l < 6; l += 1) {
      const W = view(`field0.w${l}`);
      const b = view(`field0.b${l}`);
      const out = b.length;
      const z = Array.from({ length: out }, (_, j) =>
        a.reduce((s, v, q) => s + v * (W[j * a.length + q] as number), b[j] as number),
      );
      if (l === 5) {
        a = z;
        break;
      }
      const { mean, variance } = t.runningStats(0, l);
      const gamma = view(`field0.bn${l}.scale`);
      const beta = view(`field0.bn${l}.shift`);
      a = z.map((v, j) =>
        mish(
          ((v - (mean[j] as number)) / Math.sqrt((variance[j] as number) + BN_EPS)) *
            (gamma[j] as number) +
            (beta[j] as number),
        ),
      );
    }
    const got = new Float32Array(8);
    t.forward(Uint32Array.of(x), got);
    const scale = Math.max(...a.map(Math.abs));
    a.forEach((v, j) => expect(Math.abs((got[j] as number) - v)).toBeLessThanOrEqual(1e-5 * scale));
    // Training mode differs (batch statistics): trainForward is not the serving function.
    const ids = Uint32Array.of(x, 5, 77);
    const inference = new Float32Array(24);
    const training = new Float32Array(24);
    t.forward(ids, inference);
    t.trainForward(ids, training);
    expect(training).not.toEqual(inference);
  });

  it('serves batches of any size and mixed fields like one id at a time', () => {
    const table = make(small).toTable();
    const rng = new Rng(8);
    // More than one chunk (1024 ids) of the serving MLP.
    const ids = Uint32Array.from({ length: 1100 }, () => rng.int(0, 305));
    const batch = new Float32Array(ids.length * 8);
    table.lookup(ids, batch);
    const one = new Float32Array(8);
    ids.forEach((id, i) => {
      table.lookup(Uint32Array.of(id), one);
      expect(batch.subarray(i * 8, (i + 1) * 8)).toEqual(one);
    });
    const d = table.describe();
    expect(d.paperWords).toBe(616);
    expect(d.notes.join(' ')).toMatch(/hash constants/);
  });

  it('learns: a few Adam steps on batch statistics fit fixed targets', () => {
    const t = make(small, P, 1, 0.02);
    const rng = new Rng(6);
    const ids = Uint32Array.from({ length: 24 }, (_, i) => i * 11);
    const target = new Float32Array(ids.length * 8).map(() => rng.uniform(-1, 1));
    const out = new Float32Array(ids.length * 8);
    const mse = () => {
      t.trainForward(ids, out);
      return out.reduce((s, v, i) => s + (v - (target[i] as number)) ** 2, 0) / out.length;
    };
    const optimizer = (t as unknown as { optimizer: SparseOptimizer }).optimizer;
    const start = mse();
    for (let step = 0; step < 150; step += 1) {
      optimizer.nextStep();
      mse();
      t.backward(
        ids,
        out.map((v, i) => (2 * (v - (target[i] as number))) / out.length),
      );
    }
    expect(mse()).toBeLessThan(0.5 * start);
  });

  it('refuses artifacts with hash constants out of range', () => {
    const bytes = make(small).toTable().encode();
    const content = readArtifact(bytes);
    const sections = new Map<string, TypedArray>(content.sections);
    const a = (sections.get('field0.hash.a') as Uint16Array).slice();
    a[3] = 0;
    sections.set('field0.hash.a', a);
    expect(() => registry.load(writeArtifact({ ...content, sections }))).toThrow(ArtifactError);
    const bad = writeArtifact({ ...content, params: { ...content.params, hidden: 0 } });
    expect(() => registry.load(bad)).toThrow(ArtifactError);
  });
});

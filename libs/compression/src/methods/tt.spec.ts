import { describeTrainableConformance } from '../conformance/suite';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { BudgetError } from '../core/errors';
import type { ParamView } from '../core/method';
import { SparseOptimizer } from '../core/optim';
import { defaultInitBound } from '../core/rng';
import { totalRows } from '../core/shape';
import {
  fillReversedTruncatedNormal,
  tt,
  ttCoreWords,
  ttDimFactors,
  ttGaussianInitSigma,
  ttInitSigma,
  ttParamsForBudget,
  ttRowFactors,
  type TtParams,
} from './tt';
import { Rng } from '../core/rng';

// Field 2 (n = 3) gains nothing from rank-3 cores (54 words ≥ 3·8) and stays a full table.
describeTrainableConformance({ spec: 'tt(rank=3)', shape: { fields: [500, 64, 3], dim: 8 } });

const make = (shape: { fields: number[]; dim: number }, p: TtParams, seed = 1) =>
  tt.createTrainable(shape, p, {
    seed,
    optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }),
  });

describe('tt: factorisations', () => {
  it('factors powers of two ≥ 8 by doubling entries 2, 1, 0, …', () => {
    expect(ttDimFactors(8)).toEqual([2, 2, 2]);
    expect(ttDimFactors(16)).toEqual([2, 2, 4]);
    expect(ttDimFactors(32)).toEqual([2, 4, 4]);
    expect(ttDimFactors(64)).toEqual([4, 4, 4]);
    expect(ttDimFactors(128)).toEqual([4, 4, 8]);
  });

  it('factors other dims by the n1/n2/n3 rule, sorted (and 1, 2, 4 through it too)', () => {
    expect(ttDimFactors(12)).toEqual([2, 2, 3]);
    expect(ttDimFactors(30)).toEqual([2, 3, 5]);
    expect(ttDimFactors(7)).toEqual([1, 1, 7]);
    expect(ttDimFactors(4)).toEqual([1, 2, 2]);
    expect(ttDimFactors(1)).toEqual([1, 1, 1]);
  });

  it('factors rows as (c, b, a) with a = ⌈n^(1/3)⌉, covering n', () => {
    expect(ttRowFactors(500)).toEqual([8, 8, 8]);
    expect(ttRowFactors(64)).toEqual([4, 4, 4]);
    expect(ttRowFactors(27)).toEqual([3, 3, 3]);
    expect(ttRowFactors(28)).toEqual([3, 3, 4]);
    expect(ttRowFactors(10131227)).toEqual([216, 217, 217]);
    for (let n = 1; n < 3000; n += 7) {
      const [c, b, a] = ttRowFactors(n);
      expect(a * b * c).toBeGreaterThanOrEqual(n);
    }
  });

  it('counts M_f(R) = (dn0·dd0 + dn1·dd1·R + dn2·dd2)·R words', () => {
    expect(ttCoreWords([8, 8, 8], [2, 2, 2], 3)).toBe((16 + 48 + 16) * 3);
    expect(tt.paperWords({ fields: [500, 64, 3], dim: 8 }, { rank: 3, threshold: 0 })).toBe(
      240 + 120 + 24,
    );
  });
});

describe('tt: rows', () => {
  it('computes e = (A·B)·C with the little-endian id split, as a plain triple sum', () => {
    const shape = { fields: [2, 30], dim: 12 }; // dd = [2,2,3]; field 1: dn = (3,3,4)
    const R = 2;
    const t = make(shape, { rank: R, threshold: 0 });
    const names = t.parameters().map((p) => p.name);
    expect(names).toEqual(['f0.table', 'f1.core0', 'f1.core1', 'f1.core2']);
    const rng = new Rng(3);
    for (const p of t.parameters())
      for (let i = 0; i < p.data.length; i += 1) p.data[i] = rng.uniform(-1, 1);
    const [, c0, c1, c2] = t.parameters().map((p) => p.data) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const [dd0, dd1, dd2] = [2, 2, 3];
    const [dn0, dn1] = [3, 3];
    const ids = Uint32Array.from({ length: 30 }, (_, x) => 2 + x);
    const out = new Float32Array(ids.length * 12);
    t.forward(ids, out);
    const served = new Float32Array(ids.length * 12);
    t.toTable().lookup(ids, served);
    expect(served).toEqual(out);
    for (let x = 0; x < 30; x += 1) {
      const i0 = x % dn0;
      const i1 = Math.floor(x / dn0) % dn1;
      const i2 = Math.floor(x / dn0 / dn1);
      for (let j0 = 0; j0 < dd0; j0 += 1)
        for (let j1 = 0; j1 < dd1; j1 += 1)
          for (let j2 = 0; j2 < dd2; j2 += 1) {
            let s = 0;
            for (let r1 = 0; r1 < R; r1 += 1)
              for (let r2 = 0; r2 < R; r2 += 1)
                s +=
                  (c0[i0 * dd0 * R + j0 * R + r1] as number) *
                  (c1[i1 * R * dd1 * R + r1 * dd1 * R + j1 * R + r2] as number) *
                  (c2[i2 * R * dd2 + r2 * dd2 + j2] as number);
            expect(out[x * 12 + (j0 * dd1 + j1) * dd2 + j2]).toBeCloseTo(s, 5);
          }
    }
  });

  it('batches a request per field and core slice without changing a bit (kernels, #13)', () => {
    // Random ids with repeats over a full field and two TT fields: the grouped matmuls give
    // each row the bits it gets alone (every element is one f32 sum over the rank, in order).
    const shape = { fields: [3, 700, 50], dim: 16 };
    const t = make(shape, { rank: 7, threshold: 4 });
    const rng = new Rng(11);
    const ids = Uint32Array.from({ length: 600 }, () => rng.int(0, 753));
    const batched = new Float32Array(ids.length * 16);
    t.forward(ids, batched);
    const alone = new Float32Array(ids.length * 16);
    for (let i = 0; i < ids.length; i += 1)
      t.forward(ids.subarray(i, i + 1), alone.subarray(i * 16, (i + 1) * 16));
    let differ = 0;
    for (let i = 0; i < batched.length; i += 1) if (!Object.is(batched[i], alone[i])) differ += 1;
    expect(differ).toBe(0);
    const served = new Float32Array(ids.length * 16);
    t.toTable().lookup(ids, served);
    expect(served).toEqual(batched);
  });

  it('keeps fields that TT does not shrink, or with n_f ≤ threshold, as full tables', () => {
    const shape = { fields: [500, 64, 3], dim: 8 };
    const names = (p: TtParams) =>
      make(shape, p)
        .parameters()
        .map((v) => v.name);
    expect(names({ rank: 3, threshold: 0 })).toEqual([
      'f0.core0',
      'f0.core1',
      'f0.core2',
      'f1.core0',
      'f1.core1',
      'f1.core2',
      'f2.table',
    ]);
    expect(names({ rank: 3, threshold: 64 })).toEqual([
      'f0.core0',
      'f0.core1',
      'f0.core2',
      'f1.table',
      'f2.table',
    ]);
    // Rank 10 on n = 64: (8 + 80 + 8)·10 = 960 ≥ 64·8 words → full.
    expect(names({ rank: 10, threshold: 0 })).toEqual([
      'f0.core0',
      'f0.core1',
      'f0.core2',
      'f1.table',
      'f2.table',
    ]);
  });
});

describe('tt: init (pitfall: the reference\'s "reversed truncated normal")', () => {
  it('draws σ·z with z ~ N(0,1) conditioned on |z| ≥ 2 (the tails, not the body)', () => {
    const z = fillReversedTruncatedNormal(new Rng(1), new Float32Array(20_000), 1);
    let sum = 0;
    let positive = 0;
    for (const v of z) {
      expect(Math.abs(v)).toBeGreaterThanOrEqual(2);
      sum += Math.abs(v);
      if (v > 0) positive += 1;
    }
    // E[|z| | |z| ≥ 2] = φ(2) / (1 − Φ(2)) = 2.3732.
    expect(sum / z.length).toBeCloseTo(2.3732, 1);
    expect(positive / z.length).toBeGreaterThan(0.48);
    expect(positive / z.length).toBeLessThan(0.52);
  });

  it('scales cores by σ = (√(dn0·dn1·dn2/3))^(−1/3) and full fields by the trainer init', () => {
    const shape = { fields: [500, 3], dim: 8 };
    const t = make(shape, { rank: 3, threshold: 0, init: 'hetu' });
    const sigma = ttInitSigma([8, 8, 8]);
    expect(sigma).toBeCloseTo(Math.pow(Math.sqrt(512 / 3), -1 / 3), 12);
    const [c0, , , table] = t.parameters() as [ParamView, ParamView, ParamView, ParamView];
    for (const v of c0.data) expect(Math.abs(v)).toBeGreaterThanOrEqual(2 * sigma * (1 - 1e-6));
    const b = defaultInitBound(shape.fields);
    for (const v of table.data) expect(Math.abs(v)).toBeLessThanOrEqual(b);
  });
});

describe('tt: default init (sampled Gaussian, scaled to the full table init)', () => {
  const rowVariance = (p: TtParams) => {
    const shape = { fields: [4096], dim: 16 };
    const t = make(shape, p);
    const ids = Uint32Array.from({ length: 2048 }, (_, i) => i * 2);
    const out = new Float32Array(ids.length * shape.dim);
    t.forward(ids, out);
    let sq = 0;
    for (const v of out) sq += v * v;
    return sq / out.length;
  };

  it('gives generated rows the variance of U(-bound, bound); the reference init is ~10^4 x larger', () => {
    const b = defaultInitBound([4096]);
    const target = (b * b) / 3;
    for (const rank of [4, 17, 64])
      expect(rowVariance({ rank, threshold: 0 }) / target).toBeGreaterThan(0.7);
    for (const rank of [4, 17, 64])
      expect(rowVariance({ rank, threshold: 0 }) / target).toBeLessThan(1.4);
    expect(ttGaussianInitSigma(17, b)).toBeCloseTo(Math.pow(target / 289, 1 / 6), 12);
    expect(rowVariance({ rank: 17, threshold: 0, init: 'hetu' }) / target).toBeGreaterThan(1000);
  });

  it('names init in the spec only when it is not the default', () => {
    expect(make({ fields: [100], dim: 8 }, { rank: 3, threshold: 0 }).spec).toBe(
      'tt(rank=3,threshold=0)',
    );
    expect(make({ fields: [100], dim: 8 }, { rank: 3, threshold: 0, init: 'hetu' }).spec).toBe(
      'tt(rank=3,threshold=0,init=hetu)',
    );
  });
});

describe('tt: budget solver', () => {
  const ratio = (shape: typeof CRITEO_SHAPE, p: TtParams) =>
    tt.paperWords(shape, p) / (totalRows(shape) * shape.dim);

  it('reproduces the spec vectors in paper words', () => {
    const c5 = ttParamsForBudget(CRITEO_SHAPE, 0.5, 'paper-words');
    expect(c5).toEqual({ rank: 376, threshold: 0 });
    expect(ratio(CRITEO_SHAPE, c5)).toBeCloseTo(0.4978, 4);
    const c1 = ttParamsForBudget(CRITEO_SHAPE, 0.1, 'paper-words');
    expect(c1).toEqual({ rank: 157, threshold: 0 });
    expect(ratio(CRITEO_SHAPE, c1)).toBeCloseTo(0.0999, 4);
    expect(ttParamsForBudget(AVAZU_SHAPE, 0.5, 'paper-words').rank).toBe(336);
    expect(ttParamsForBudget(AVAZU_SHAPE, 0.1, 'paper-words').rank).toBe(147);
  });

  it('meets the budget in real bytes, one rank more going over', () => {
    for (const budget of [0.5, 0.1, 0.02]) {
      const p = ttParamsForBudget(CRITEO_SHAPE, budget);
      const full = totalRows(CRITEO_SHAPE) * 16 * 4;
      expect(tt.estimateBytes(CRITEO_SHAPE, p)).toBeLessThanOrEqual(budget * full);
      expect(tt.estimateBytes(CRITEO_SHAPE, { ...p, rank: p.rank + 1 })).toBeGreaterThan(
        budget * full,
      );
    }
  });

  it('returns the top of the range when it already fits, and BudgetError below rank 1', () => {
    expect(ttParamsForBudget({ fields: [3, 4], dim: 8 }, 1).rank).toBe(1000);
    expect(() => ttParamsForBudget({ fields: [500], dim: 8 }, 0.001)).toThrow(BudgetError);
  });
});

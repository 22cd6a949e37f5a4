import { describeCodecConformance } from '../conformance/suite';
import { BudgetError, SpecError } from '../core/errors';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { Rng } from '../core/rng';
import { fullBytes } from '../core/shape';
import { registry } from '../methods';
import { svd, type SvdParams, type SvdTable } from './svd';

/**
 * Rank-4 signal (entries ~ N(0, 0.02²)) plus N(0, σ²) noise with σ = 0.001: noise level 5% of the
 * signal. A rank-8 fit keeps the signal and drops most of the noise, so its relative error is
 * below the noise level.
 */
const NOISE_LEVEL = 0.001 / 0.02;
function lowRankPlusNoise(rng: Rng, rows: number, dim: number): Float32Array {
  const x = new Float64Array(rows * 4).map(() => rng.normal());
  const y = new Float64Array(4 * dim).map(() => 0.01 * rng.normal());
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i += 1)
    for (let j = 0; j < dim; j += 1) {
      let s = 0.001 * rng.normal();
      for (let k = 0; k < 4; k += 1) s += (x[i * 4 + k] as number) * (y[k * dim + j] as number);
      out[i * dim + j] = s;
    }
  return out;
}

const shape = { fields: [200, 56], dim: 32 };
describeCodecConformance({
  spec: 'svd(rank=8)',
  shape,
  data: lowRankPlusNoise,
  maxRelativeError: NOISE_LEVEL,
});
describeCodecConformance({
  spec: 'svd(rank=8,oversample=4,iterations=1)|fp16',
  shape,
  data: lowRankPlusNoise,
  maxRelativeError: NOISE_LEVEL,
});
// rank ≥ dim: capped at dim, an exact (up to fp32) reconstruction.
describeCodecConformance({
  spec: 'svd(rank=64)',
  shape: { fields: [30, 10], dim: 12 },
  maxRelativeError: 1e-5,
});

const p = (q: Partial<SvdParams>): SvdParams => ({
  rank: 32,
  oversample: 8,
  iterations: 2,
  values: '',
  ...q,
});

describe('svd: bytes', () => {
  const s34 = { fields: [3], dim: 4 };
  it('3 × 4 table, rank 2: (3 + 4)·2 fp32 = 56 bytes; fp16 28; rank 10 capped at 3: 84', () => {
    expect(svd.estimateBytes(s34, p({ rank: 2 }))).toBe(56);
    expect(svd.estimateBytes(s34, p({ rank: 2, values: 'fp16' }))).toBe(28);
    expect(svd.estimateBytes(s34, p({ rank: 10 }))).toBe(84);
    const data = new Float32Array(12).map((_, i) => Math.sin(i + 1));
    const t = svd.compress(data, s34, p({ rank: 2 }), { seed: 1 }) as SvdTable;
    expect(t.memoryBytes()).toBe(56);
    expect(t.describe().paperWords).toBe(14);
    const capped = svd.compress(data, s34, p({ rank: 10 }), { seed: 1 }) as SvdTable;
    expect(capped.rank).toBe(3);
    expect(capped.memoryBytes()).toBe(84);
    // rank = min(n, d): exact
    const out = new Float32Array(12);
    capped.lookup(Uint32Array.of(0, 1, 2), out);
    out.forEach((v, i) => expect(Math.abs(v - (data[i] as number))).toBeLessThan(1e-6));
  });
});

describe('svd: budgets', () => {
  it('paper words: r = ⌊n·d·cr/(n + d)⌋ (the reference SVDDecomposer)', () => {
    // the reference's test: 21,015,324 × 768 at cr 0.1 → ⌊76.797⌋
    expect(
      svd.paramsForBudget?.({ fields: [21_015_324], dim: 768 }, 0.1, 'paper-words')?.rank,
    ).toBe(76);
    // D = 16: 8·n/(n + 16) is just below 8
    expect(svd.paramsForBudget?.(CRITEO_SHAPE, 0.5, 'paper-words')?.rank).toBe(7);
    expect(svd.paramsForBudget?.(AVAZU_SHAPE, 0.1, 'paper-words')?.rank).toBe(1);
    expect(svd.paramsForBudget?.({ fields: [1000], dim: 100 }, 0.5, 'paper-words')?.rank).toBe(45);
  });

  it('bytes: the largest rank whose factors fit, defaults for the rest', () => {
    const s = { fields: [100_000], dim: 384 };
    const q = svd.paramsForBudget?.(s, 0.25) as SvdParams;
    expect(q).toEqual(p({ rank: 95 }));
    expect(svd.estimateBytes(s, q)).toBeLessThanOrEqual(0.25 * fullBytes(s));
    expect(svd.estimateBytes(s, { ...q, rank: 96 })).toBeGreaterThan(0.25 * fullBytes(s));
    expect(() => svd.paramsForBudget?.(CRITEO_SHAPE, 0.05)).toThrow(BudgetError);
  });
});

describe('svd: specs and seeds', () => {
  it('round-trips canonical specs and refuses other value codecs', () => {
    expect(registry.resolve('svd(rank=32)').spec).toBe('svd(rank=32,oversample=8,iterations=2)');
    expect(registry.resolve('svd|fp16').spec).toBe('svd(rank=32,oversample=8,iterations=2)|fp16');
    for (const bad of ['svd|rowwise-int8', 'svd(rank=0)', 'svd(rank=2.5)', 'svd(p=3)'])
      expect(() => registry.resolve(bad)).toThrow(SpecError);
  });

  it('different seeds give (numerically) the same fit', () => {
    const rng = new Rng(5);
    const data = lowRankPlusNoise(rng, 100, 16);
    const s = { fields: [100], dim: 16 };
    const ids = Uint32Array.from({ length: 100 }, (_, i) => i);
    const fit = (seed: number) => {
      const out = new Float32Array(1600);
      svd.compress(data, s, p({ rank: 4 }), { seed }).lookup(ids, out);
      return out;
    };
    const a = fit(1);
    const b = fit(2);
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < a.length; i += 1) {
      diff += ((a[i] as number) - (b[i] as number)) ** 2;
      norm += (a[i] as number) ** 2;
    }
    expect(Math.sqrt(diff / norm)).toBeLessThan(1e-4);
  });

  it('refuses non-finite tables', () => {
    expect(() =>
      svd.compress(Float32Array.of(1, NaN, 0, 1), { fields: [2], dim: 2 }, p({ rank: 1 }), {
        seed: 1,
      }),
    ).toThrow(SpecError);
  });
});

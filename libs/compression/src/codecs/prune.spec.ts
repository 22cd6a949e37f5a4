import { describeCodecConformance, gaussianTable } from '../conformance/suite';
import { writeArtifact } from '../core/artifact';
import { ArtifactError, BudgetError, SpecError } from '../core/errors';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { Rng } from '../core/rng';
import { fullBytes, totalRows } from '../core/shape';
import { registry } from '../methods';
import {
  keptCount,
  magnitudeThreshold,
  prune,
  sparseBytes,
  sparseRuleForBudget,
  type PruneParams,
  type PruneTable,
} from './prune';

// Dropping the smallest half of N(0, σ²) values leaves a relative error of
// sqrt(E[x²; |x| < m]/σ²) with m the median of |x| (a = Φ⁻¹(3/4)): sqrt(1/2 − 2aφ(a)) ≈ 0.267.
const a = 0.6744897501960817;
const expectedHalfError = Math.sqrt(
  0.5 - (2 * a * Math.exp((-a * a) / 2)) / Math.sqrt(2 * Math.PI),
);
const shape = { fields: [50, 7, 300], dim: 8 };
describeCodecConformance({
  spec: 'prune(density=0.5)',
  shape,
  maxRelativeError: expectedHalfError * 1.06, // 2856 samples: a few % of sampling noise
});
describeCodecConformance({
  spec: 'prune(density=0.5,format=coo)|rowwise-int8',
  shape,
  maxRelativeError: expectedHalfError * 1.06 + 0.01,
});
describeCodecConformance({
  spec: 'prune(density=0.5)|fp16',
  shape,
  maxRelativeError: expectedHalfError * 1.06 + 1e-3,
});
// dim > 256: 16-bit column indices; density 1 keeps everything (exact).
describeCodecConformance({
  spec: 'prune(density=1,format=csr)',
  shape: { fields: [12], dim: 300 },
  maxRelativeError: 0,
});

const shape34 = { fields: [3], dim: 4 };
// |values| ranked: 9, 8, 7, 6, 5, 4, 3, 2 (twice), 1 (twice), 0
const table34 = Float32Array.of(1, -9, 0, 2, -5, 6, 1, -7, 3, 2, 8, -4);
const params = (p: Partial<PruneParams>): PruneParams => ({
  density: 0.25,
  format: 'auto',
  values: '',
  ...p,
});
const compress = (p: Partial<PruneParams>, data = table34, s = shape34) =>
  prune.compress(data, s, params(p), { seed: 1 }) as PruneTable;
const decodeAll = (t: PruneTable) => {
  const out = new Float32Array(t.rows * t.dim);
  t.lookup(
    Uint32Array.from({ length: t.rows }, (_, i) => i),
    out,
  );
  return [...out];
};

describe('prune: bytes on a 3 × 4 table', () => {
  it('density 0.5 keeps 6 entries: CSR 6·(4+1) + 4·4 = 46 bytes (auto picks it over COO 54)', () => {
    expect(sparseBytes(3, 4, 6, 'csr')).toBe(46);
    expect(sparseBytes(3, 4, 6, 'coo')).toBe(54);
    const t = compress({ density: 0.5 });
    expect(t.format).toBe('csr');
    expect(t.memoryBytes()).toBe(46);
    expect(prune.estimateBytes(shape34, params({ density: 0.5 }))).toBe(46);
    expect(t.describe().paperWords).toBe(2 * 6 + 3 + 1);
  });

  it('density 0.25 keeps 3 entries: COO 3·(4+4+1) = 27 bytes beats CSR 31', () => {
    const t = compress({});
    expect(t.format).toBe('coo');
    expect(t.memoryBytes()).toBe(27);
    expect(compress({ format: 'csr' }).memoryBytes()).toBe(31);
    expect(t.describe().paperWords).toBe(9);
  });

  it('hybrids: fp16 values 6·(2+1) + 16 = 34; int8 codes 6·(1+1) + 16 + 3·4 = 40', () => {
    expect(compress({ density: 0.5, values: 'fp16' }).memoryBytes()).toBe(34);
    expect(compress({ density: 0.5, values: 'rowwise-int8' }).memoryBytes()).toBe(40);
    expect(prune.estimateBytes(shape34, params({ density: 0.5, values: 'rowwise-int8' }))).toBe(40);
  });
});

describe('prune: exact global magnitude selection', () => {
  it('keeps the k largest |values|, ties to the first in row-major order', () => {
    // density 0.5 → k = 6: 9, 8, 7, 6, 5, 4
    expect(decodeAll(compress({ density: 0.5 }))).toEqual([0, -9, 0, 0, -5, 6, 0, -7, 0, 0, 8, -4]);
    // k = 8: ... 3 and the first of the two 2s (row 0, column 3)
    expect(decodeAll(compress({ density: 8 / 12 }))).toEqual([
      0, -9, 0, 2, -5, 6, 0, -7, 3, 0, 8, -4,
    ]);
    // the COO layout serves the same rows
    expect(decodeAll(compress({ density: 8 / 12, format: 'coo' }))).toEqual(
      decodeAll(compress({ density: 8 / 12 })),
    );
  });

  it('keeps exactly k entries on data full of ties, +0/−0 and duplicates', () => {
    const rng = new Rng(12);
    const rows = 40;
    const dim = 10;
    const data = new Float32Array(rows * dim).map(
      () => rng.int(-3, 4) * 0.5 || (rng.next() < 0.5 ? -0 : 0),
    );
    for (const density of [0.01, 0.1, 0.33, 0.5, 0.77, 1]) {
      const k = keptCount(rows, dim, density);
      const t = compress({ density }, data, { fields: [rows], dim });
      expect(t.nnz).toBe(k);
      // kept = the first k of a stable sort by |value| descending
      const order = Array.from(data.keys()).sort(
        (x, y) => Math.abs(data[y] as number) - Math.abs(data[x] as number) || x - y,
      );
      const expected = new Float32Array(rows * dim);
      for (const i of order.slice(0, k)) expected[i] = data[i] as number;
      expect(decodeAll(t)).toEqual([...expected]);
    }
  });

  it('magnitudeThreshold finds the k-th largest |value| like a sort', () => {
    const rng = new Rng(13);
    const data = gaussianTable(rng, 1000, 3);
    const sorted = Array.from(data, (v) => Math.abs(v)).sort((x, y) => y - x);
    for (const k of [1, 2, 100, 1500, 2999, 3000]) {
      const { key, greater } = magnitudeThreshold(data, k);
      expect(new Float32Array(new Uint32Array([key]).buffer)[0]).toBe(sorted[k - 1]);
      expect(greater).toBe(sorted.filter((v) => v > (sorted[k - 1] as number)).length);
    }
    expect(magnitudeThreshold(data, 0).greater).toBe(0);
    expect(() => magnitudeThreshold(data, 3001)).toThrow(RangeError);
  });
});

describe('prune: values codecs', () => {
  it('fp16 values are half floats; int8 values use the row range of the kept values', () => {
    const half = decodeAll(compress({ density: 0.5, values: 'fp16' }));
    expect(half).toEqual([0, -9, 0, 0, -5, 6, 0, -7, 0, 0, 8, -4]); // small integers are exact halves
    const int8 = decodeAll(compress({ density: 0.5, values: 'rowwise-int8' }));
    // row 1 keeps −5, 6, −7: bias −7, scale 13/255 (fp16); zeros stay exact zeros
    const exact = [0, -9, 0, 0, -5, 6, 0, -7, 0, 0, 8, -4];
    int8.forEach((v, i) => {
      if (exact[i] === 0) expect(v).toBe(0);
      else expect(Math.abs(v - (exact[i] as number))).toBeLessThan(13 / 255);
    });
  });
});

describe('prune: budgets and format choice', () => {
  it('paper words: the reference sparse-storage rule (D = 16: cr 0.5 → CSR keeping 7/32; cr 0.1 → COO keeping 1/30)', () => {
    for (const s of [CRITEO_SHAPE, AVAZU_SHAPE]) {
      expect(prune.paramsForBudget?.(s, 0.5, 'paper-words')).toEqual({
        density: 7 / 32,
        format: 'csr',
        values: '',
      });
      const low = prune.paramsForBudget?.(s, 0.1, 'paper-words') as PruneParams;
      expect(low.format).toBe('coo');
      expect(low.density).toBeCloseTo(1 / 30, 15);
    }
    expect(sparseRuleForBudget(16, 3 / 16)).toEqual({ format: 'csr', density: 2 / 32 }); // r = 3
    expect(sparseRuleForBudget(16, 0.18).format).toBe('coo'); // r = 2.88
    expect(1 - sparseRuleForBudget(16, 0.5).density).toBe(0.78125); // prune rate P
  });

  it('bytes: the most entries that fit, CSR at 0.5 and COO at 0.1 on Criteo', () => {
    const s = CRITEO_SHAPE;
    const n = totalRows(s);
    const cells = n * s.dim;
    for (const [budget, format] of [
      [0.5, 'csr'],
      [0.1, 'coo'],
      [0.03, 'coo'],
    ] as const) {
      const p = prune.paramsForBudget?.(s, budget) as PruneParams;
      expect(p.format).toBe(format);
      const k = keptCount(n, s.dim, p.density);
      const limit = budget * fullBytes(s);
      expect(prune.estimateBytes(s, p)).toBeLessThanOrEqual(limit);
      expect(sparseBytes(n, s.dim, k + 1, 'csr')).toBeGreaterThan(limit);
      expect(sparseBytes(n, s.dim, k + 1, 'coo')).toBeGreaterThan(limit);
      expect(k).toBeLessThanOrEqual(cells);
    }
    // 0.5 of fp32 = 32 bytes/row: CSR (5 bytes/entry + 4/row) holds 5.6 entries per row
    expect(keptCount(n, 16, (prune.paramsForBudget?.(s, 0.5) as PruneParams).density)).toBe(
      Math.floor((0.5 * 64 * n - 4 * (n + 1)) / 5),
    );
    expect(() => prune.paramsForBudget?.({ fields: [1], dim: 1 }, 0.5)).toThrow(BudgetError);
    expect(() => prune.paramsForBudget?.(s, 0)).toThrow(BudgetError);
  });
});

describe('prune: specs', () => {
  it('round-trips canonical specs, hybrids included', () => {
    for (const spec of [
      'prune(density=0.2,format=csr)|rowwise-int8',
      'prune(density=0.25,format=auto)',
      'prune(density=0.03333333333333333,format=coo)|fp16',
    ])
      expect(registry.resolve(spec).spec).toBe(spec);
    expect(registry.resolve('prune').spec).toBe('prune(density=0.25,format=auto)');
    expect(registry.resolve('prune(values=fp16)').spec).toBe(
      'prune(density=0.25,format=auto)|fp16',
    );
  });

  it('refuses other value codecs and bad parameters with SpecError', () => {
    for (const bad of [
      'prune|rowwise-int4',
      'prune|svd',
      'prune|prune',
      'prune(density=0)',
      'prune(density=1.5)',
      'prune(format=dense)',
      'prune(threshold=1)',
      'prune(values=int8)',
    ])
      expect(() => registry.resolve(bad)).toThrow(SpecError);
  });
});

describe('prune: artifacts', () => {
  it('refuses a checksummed artifact whose indices would scatter outside a row', () => {
    const t = compress({ density: 0.5 });
    const good = registry.load(t.encode());
    expect(decodeAll(good as PruneTable)).toEqual(decodeAll(t));
    const base = {
      method: 'prune',
      spec: t.spec,
      params: { density: 0.5, format: 'auto', values: '' },
      shape: shape34,
    };
    const values = new Float32Array(6);
    const cases: Array<[Uint8Array, Uint32Array]> = [
      [Uint8Array.of(1, 4, 0, 1, 2, 3), Uint32Array.of(0, 2, 4, 6)], // column 4 ≥ dim
      [Uint8Array.of(1, 0, 0, 1, 2, 3), Uint32Array.of(0, 2, 4, 6)], // columns not increasing
      [Uint8Array.of(1, 2, 0, 1, 2, 3), Uint32Array.of(0, 4, 2, 6)], // pointers decrease
      [Uint8Array.of(1, 2, 0, 1, 2, 3), Uint32Array.of(0, 2, 4, 5)], // pointers short of k
    ];
    for (const [cols, rowPtr] of cases) {
      const bytes = writeArtifact({
        ...base,
        sections: new Map<string, Float32Array | Uint8Array | Uint32Array>([
          ['values', values],
          ['cols', cols],
          ['rowPtr', rowPtr],
        ]),
      });
      expect(() => registry.load(bytes)).toThrow(ArtifactError);
    }
    const coo = writeArtifact({
      ...base,
      params: { density: 0.25, format: 'coo', values: '' },
      sections: new Map<string, Float32Array | Uint8Array | Uint32Array>([
        ['values', new Float32Array(3)],
        ['cols', Uint8Array.of(0, 1, 2)],
        ['rowIdx', Uint32Array.of(2, 1, 1)], // not sorted
      ]),
    });
    expect(() => registry.load(coo)).toThrow(ArtifactError);
  });
});

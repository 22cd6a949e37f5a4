import { describeCodecConformance } from '../conformance/suite';
import { CRITEO_SHAPE } from '../core/datasets';
import { BudgetError, SpecError } from '../core/errors';
import type { Metric } from '../core/method';
import { Rng } from '../core/rng';
import { totalRows, type TableShape } from '../core/shape';
import { registry } from '../methods';
import { decodePq, pq, PqTable, type PqParams } from './pq';
import { kmeans, sampleRows } from './pq-kmeans';

/** Rows around `centers` N(0, 1) centers plus N(0, noise²) noise: data PQ can code well. */
function clustered(centers: number, noise: number) {
  return (rng: Rng, rows: number, dim: number): Float32Array => {
    const c = new Float32Array(centers * dim).map(() => rng.normal());
    const out = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r += 1) {
      const k = rng.int(0, centers);
      for (let j = 0; j < dim; j += 1)
        out[r * dim + j] = (c[k * dim + j] as number) + noise * rng.normal();
    }
    return out;
  };
}

const P = (raw: Partial<PqParams> = {}): PqParams => pq.params.parse(raw);
const all = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

function build(data: Float32Array, shape: TableShape, raw: Partial<PqParams>, seed = 1): PqTable {
  return pq.compress(data, shape, P(raw), { seed }) as PqTable;
}

function decodeAll(t: PqTable): Float32Array {
  const out = new Float32Array(t.rows * t.dim);
  t.lookup(all(t.rows), out);
  return out;
}

describeCodecConformance({
  spec: 'pq(subvectors=4)',
  shape: { fields: [300, 200, 100], dim: 16 },
  data: clustered(64, 0.05),
  maxRelativeError: 0.1,
});

// Gaussian rows have no structure to exploit: 64 centroids per 4-d sub-space leave ~35 % error.
describeCodecConformance({
  spec: 'pq(subvectors=8,bits=6,iterations=10)',
  shape: { fields: [400], dim: 32 },
  maxRelativeError: 0.4,
});

// Fewer rows than 2^bits: every row becomes a centroid of its own, so decoding is exact.
describeCodecConformance({
  spec: 'pq(subvectors=2)',
  shape: { fields: [40, 30], dim: 8 },
  maxRelativeError: 0,
});

describe('pq: parameters and bytes', () => {
  it('has documented defaults and a canonical spec', () => {
    expect(registry.resolve('pq').spec).toBe(
      'pq(subvectors=8,bits=8,iterations=20,trainRows=65536)',
    );
    expect(() => registry.resolve('pq(bits=9)')).toThrow(SpecError);
    expect(() => registry.resolve('pq(bits=3)')).toThrow(SpecError);
    expect(() => registry.resolve('pq(trainRows=100)')).toThrow(SpecError);
  });

  it('refuses a dim not divisible by subvectors, naming both numbers', () => {
    const shape = { fields: [10], dim: 12 };
    expect(() => pq.estimateBytes(shape, P({ subvectors: 5 }))).toThrow(
      /dim 12 is not divisible by subvectors 5/,
    );
    expect(() =>
      pq.compress(new Float32Array(120), shape, P({ subvectors: 5 }), { seed: 1 }),
    ).toThrow(SpecError);
    expect(() => pq.estimateBytes(shape, P({ subvectors: 24 }))).toThrow(SpecError);
  });

  it('counts code bytes and float32 codebooks exactly', () => {
    // 30 rows × 8-d, M = 4, bits = 4: 30·4 code bytes + 16 centroids · 8 values · 4 bytes.
    const shape = { fields: [10, 20], dim: 8 };
    expect(pq.estimateBytes(shape, P({ subvectors: 4, bits: 4 }))).toBe(120 + 512);
    // paper: 30 rows · ⌈4·4/8⌉ = 2 bytes / 4 + 8·16 words.
    expect(pq.paperWords(shape, P({ subvectors: 4, bits: 4 }))).toBe(15 + 128);
    const data = clustered(8, 0.1)(new Rng(3), 30, 8);
    const t = build(data, shape, { subvectors: 4, bits: 4 });
    expect(t.memoryBytes()).toBe(632);
    expect(t.codes.length).toBe(120);
    expect(t.codebooks.length).toBe(4 * 16 * 2);
    // 100 rows < 2^8: only 100 centroids per sub-space are stored (and counted).
    expect(pq.estimateBytes({ fields: [100], dim: 16 }, P())).toBe(100 * 8 + 100 * 16 * 4);
    expect(
      build(clustered(8, 0.1)(new Rng(4), 100, 16), { fields: [100], dim: 16 }, {})
        .describe()
        .notes.join(' '),
    ).toMatch(/only 100 centroids/);
  });

  it('reproduces the reference ProductQuantizer accounting (12,345 × 768, 32 × 8 bits)', () => {
    const shape = { fields: [12_345], dim: 768 };
    const p = P({ subvectors: 32 });
    expect(pq.paperWords(shape, p)).toBe(12_345 * 8 + 768 * 256);
    expect(pq.estimateBytes(shape, p)).toBe(12_345 * 32 + 256 * 768 * 4);
  });

  it('picks the largest divisor of dim that fits the budget (bits = 8)', () => {
    const shape = { fields: [10_000], dim: 64 };
    // bytes: 0.1 · 2,560,000 = 256,000 ≥ 10,000·M + 65,536 ⇔ M ≤ 19.05 → 16.
    expect(pq.paramsForBudget?.(shape, 0.1)).toEqual(P({ subvectors: 16 }));
    expect(pq.paramsForBudget?.(shape, 0.05)).toEqual(P({ subvectors: 4 }));
    expect(pq.paramsForBudget?.(shape, 0.1, 'paper-words')).toEqual(P({ subvectors: 16 }));
    // Criteo at 1/4: M = 16 would need exactly the budget plus the codebooks → 8.
    expect(pq.paramsForBudget?.(CRITEO_SHAPE, 0.25)).toEqual(P({ subvectors: 8 }));
    expect(pq.paramsForBudget?.(CRITEO_SHAPE, 0.25, 'paper-words')).toEqual(P({ subvectors: 8 }));
    expect(() => pq.paramsForBudget?.(shape, 0.001)).toThrow(BudgetError);
    for (const budget of [0.03, 0.1, 0.3, 1]) {
      const p = pq.paramsForBudget?.(shape, budget) as PqParams;
      expect(pq.estimateBytes(shape, p)).toBeLessThanOrEqual(budget * 10_000 * 64 * 4);
    }
  });
});

describe('pq: training', () => {
  it('k-means objective never increases and drops from the seeding', () => {
    const rng = new Rng(5);
    const n = 1500;
    const d = 4;
    const points = Float64Array.from(clustered(40, 0.3)(rng, n, d));
    const result = kmeans(points, n, d, 32, 30, new Rng(6));
    const obj = result.objective;
    expect(obj.length).toBe(result.iterations + 1);
    for (let i = 1; i < obj.length; i += 1)
      expect(obj[i] as number).toBeLessThanOrEqual((obj[i - 1] as number) * (1 + 1e-12));
    expect(obj[obj.length - 1] as number).toBeLessThan((obj[0] as number) * 0.99);
  });

  it('stops when no assignment changes, and re-seeds empty clusters without NaN', () => {
    // 12 points with 5 distinct values into 8 clusters: duplicates force empty clusters.
    const values = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1];
    const points = Float64Array.from(values.flatMap((v) => [v, -v]));
    const result = kmeans(points, 12, 2, 8, 50, new Rng(1));
    expect(result.iterations).toBeLessThan(50);
    expect(result.objective[result.objective.length - 1]).toBe(0);
    expect(result.centroids.every((v) => Number.isFinite(v))).toBe(true);
  });

  it('samples distinct ascending training rows, deterministically', () => {
    const a = sampleRows(10_000, 500, new Rng(9));
    expect(a).toEqual(sampleRows(10_000, 500, new Rng(9)));
    expect(a.length).toBe(500);
    for (let i = 1; i < a.length; i += 1)
      expect(a[i] as number).toBeGreaterThan(a[i - 1] as number);
    expect(a[a.length - 1] as number).toBeLessThan(10_000);
    expect(sampleRows(7, 100, new Rng(1))).toEqual(all(7));
  });

  it('trains on a sample (trainRows) but codes every row; same seed, same table', () => {
    const shape = { fields: [1000], dim: 8 };
    const data = clustered(32, 0.05)(new Rng(2), 1000, 8);
    const a = build(data, shape, { subvectors: 2, trainRows: 256, iterations: 8 }, 4);
    const b = build(data, shape, { subvectors: 2, trainRows: 256, iterations: 8 }, 4);
    const c = build(data, shape, { subvectors: 2, trainRows: 256, iterations: 8 }, 5);
    expect(Buffer.from(a.encode()).equals(Buffer.from(b.encode()))).toBe(true);
    expect(a.codebooks).not.toEqual(c.codebooks);
    const out = decodeAll(a);
    let num = 0;
    let den = 0;
    for (let i = 0; i < data.length; i += 1) {
      num += ((out[i] as number) - (data[i] as number)) ** 2;
      den += (data[i] as number) ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(0.1);
  });
});

describe('pq: wire codes', () => {
  const shape = { fields: [200, 56], dim: 16 };
  const t = build(clustered(16, 0.1)(new Rng(8), 256, 16), shape, { subvectors: 4, bits: 5 });

  it('sends M code bytes per row that decodePq turns into the looked-up rows', () => {
    const ids = Uint32Array.of(5, 0, 255, 5, 100);
    const wire = t.wire.encode(ids);
    expect(t.wire.codec).toBe(t.spec);
    expect(wire.length).toBe(ids.length * 4);
    const viaWire = new Float32Array(ids.length * 16);
    decodePq(wire, ids.length, t.codebooks, 4, 5, 16, viaWire);
    const viaLookup = new Float32Array(ids.length * 16);
    t.lookup(ids, viaLookup);
    expect(viaWire).toEqual(viaLookup);
    expect(() => t.wire.encode(Uint32Array.of(256))).toThrow(/out of range/);
  });

  it('decodePq refuses codes beyond the codebook and inconsistent sizes', () => {
    const out = new Float32Array(16);
    expect(() => decodePq(Uint8Array.of(0, 0, 32, 0), 1, t.codebooks, 4, 5, 16, out)).toThrow(
      RangeError,
    );
    expect(() => decodePq(Uint8Array.of(0, 0, 0, 0), 1, t.codebooks, 4, 4, 16, out)).toThrow(
      RangeError,
    );
    expect(() => decodePq(Uint8Array.of(0, 0, 0), 1, t.codebooks, 3, 5, 16, out)).toThrow(
      RangeError,
    );
  });
});

describe('pq: ADC search', () => {
  /** Brute force over the decoded rows, summing per sub-space in ADC's order. Ties → lower id. */
  function bruteForce(t: PqTable, queries: Float32Array, k: number, metric: Metric) {
    const decoded = decodeAll(t);
    const { dim } = t;
    const M = t.layout.subvectors;
    const sub = dim / M;
    const nq = queries.length / dim;
    const ids: number[] = [];
    const scores: number[] = [];
    for (let q = 0; q < nq; q += 1) {
      const s = new Float64Array(t.rows);
      for (let r = 0; r < t.rows; r += 1) {
        let total = 0;
        for (let m = 0; m < M; m += 1) {
          let part = 0;
          for (let j = m * sub; j < (m + 1) * sub; j += 1) {
            const a = queries[q * dim + j] as number;
            const b = decoded[r * dim + j] as number;
            part += metric === 'l2' ? (a - b) * (a - b) : a * b;
          }
          total += part;
        }
        s[r] = total;
      }
      const sign = metric === 'l2' ? 1 : -1;
      const order = Array.from(all(t.rows)).sort(
        (a, b) => sign * ((s[a] as number) - (s[b] as number)) || a - b,
      );
      for (const id of order.slice(0, Math.min(k, t.rows))) {
        ids.push(id);
        scores.push(s[id] as number);
      }
    }
    return { ids: Uint32Array.from(ids), scores: Float32Array.from(scores) };
  }

  it.each([
    [16, 4],
    [12, 6],
  ])(
    'returns exactly the top-k of a brute-force scan over the decoded rows (dim %i, M = %i, both metrics)',
    (dim, M) => {
      // Duplicate rows give identical codes: ties must go to the lower id in both.
      const base = clustered(12, 0.2)(new Rng(11), 300, dim);
      base.copyWithin(dim * 50, dim * 7, dim * 8);
      base.copyWithin(dim * 200, dim * 7, dim * 8);
      const t = build(base, { fields: [300], dim }, { subvectors: M, bits: 6 });
      const queries = new Float32Array(7 * dim).map((_, i) =>
        i < dim ? (base[7 * dim + i] as number) : new Rng(i).normal(),
      );
      for (const metric of ['inner-product', 'l2'] as const) {
        for (const k of [1, 10, 301]) {
          const hits = t.search(queries, k, metric);
          const expected = bruteForce(t, queries, k, metric);
          expect(hits.ids).toEqual(expected.ids);
          expect(hits.scores).toEqual(expected.scores);
        }
      }
      const l2 = t.search(queries.subarray(0, dim), 3, 'l2');
      expect(Array.from(l2.ids)).toEqual([7, 50, 200]);
    },
  );

  it('finds ≥ 80 % of the exact fp32 top-10 at 32× smaller rows (2,000 × 64-d, 8 bytes/row)', () => {
    // 256 clusters of ~8 rows: the true top-10 is mostly the query's own cluster. (With 64
    // clusters of ~31 rows the top-10 is decided by within-cluster noise that 8 code bytes cannot
    // resolve, and recall sits near 0.6.)
    const rows = 2000;
    const dim = 64;
    const rng = new Rng(1);
    const data = clustered(256, 0.05)(rng, rows, dim);
    const t = build(data, { fields: [rows], dim }, { subvectors: 8, bits: 8 });
    expect(t.codes.length / rows).toBe(8);
    const nq = 40;
    const queries = new Float32Array(nq * dim);
    for (let q = 0; q < nq; q += 1) {
      const r = rng.int(0, rows);
      for (let j = 0; j < dim; j += 1)
        queries[q * dim + j] = (data[r * dim + j] as number) + 0.05 * rng.normal();
    }
    for (const metric of ['inner-product', 'l2'] as const) {
      const hits = t.search(queries, 10, metric);
      let found = 0;
      for (let q = 0; q < nq; q += 1) {
        const s = new Float64Array(rows);
        for (let r = 0; r < rows; r += 1) {
          let v = 0;
          for (let j = 0; j < dim; j += 1) {
            const a = queries[q * dim + j] as number;
            const b = data[r * dim + j] as number;
            v += metric === 'l2' ? -(a - b) * (a - b) : a * b;
          }
          s[r] = v;
        }
        const exact = Array.from(all(rows))
          .sort((a, b) => (s[b] as number) - (s[a] as number))
          .slice(0, 10);
        const got = new Set(hits.ids.subarray(q * 10, q * 10 + 10));
        found += exact.filter((id) => got.has(id)).length;
      }
      expect(found / (nq * 10)).toBeGreaterThanOrEqual(0.8);
    }
  });

  it('refuses malformed queries', () => {
    const t = build(
      clustered(4, 0.1)(new Rng(1), 20, 8),
      { fields: [20], dim: 8 },
      { subvectors: 2 },
    );
    expect(() => t.search(new Float32Array(7), 1, 'l2')).toThrow(RangeError);
    expect(() => t.search(new Float32Array(8), 0, 'l2')).toThrow(RangeError);
    expect(() => t.search(new Float32Array(8), 1, 'cosine' as Metric)).toThrow(RangeError);
    expect(totalRows(t.shape)).toBe(20);
  });
});

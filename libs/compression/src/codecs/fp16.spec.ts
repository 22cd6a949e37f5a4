import { describeCodecConformance, gaussianTable } from '../conformance/suite';
import { SpecError } from '../core/errors';
import { registry } from '../methods';
import { Rng } from '../core/rng';
import { decodeHalfRows, fp16, type Fp16Table } from './fp16';
import { exactSearch } from './topk';

describeCodecConformance({
  spec: 'fp16',
  shape: { fields: [50, 7, 300], dim: 8 },
  // Half floats keep 11 significant bits: relative error ≤ 2^-11 per normal value.
  maxRelativeError: 1e-3,
});

const shape34 = { fields: [3], dim: 4 };
const table34 = Float32Array.of(1, -2, 0.5, 65504, 0.1, 1 / 3, -1e-5, 0, 3, 4, 5, 6);

describe('fp16', () => {
  it('holds exactly 2 bytes per value (3 × 4 table: 24 bytes)', () => {
    const t = fp16.compress(table34, shape34, {}, { seed: 1 });
    expect(t.memoryBytes()).toBe(24);
    expect(fp16.estimateBytes(shape34, {})).toBe(24);
    expect(t.describe().paperWords).toBe(6);
    expect(t.describe().compressionRatio).toBe(2);
  });

  it('decodes representable values exactly and rounds others to the nearest half', () => {
    const t = fp16.compress(table34, shape34, {}, { seed: 1 });
    const out = new Float32Array(12);
    t.lookup(Uint32Array.of(0, 1, 2), out);
    expect([...out.subarray(0, 4)]).toEqual([1, -2, 0.5, 65504]);
    expect(out[4]).toBe(0.0999755859375); // nearest half to 0.1
    expect(Math.abs((out[5] as number) - 1 / 3)).toBeLessThan(2 ** -12);
    expect(Math.abs((out[6] as number) + 1e-5)).toBeLessThan(2 ** -25); // subnormal half
    expect([...out.subarray(7, 12)]).toEqual([0, 3, 4, 5, 6]);
  });

  it('refuses values beyond the half range, infinities and NaN', () => {
    for (const bad of [70000, -Infinity, NaN]) {
      expect(() =>
        fp16.compress(Float32Array.of(0, bad), { fields: [1], dim: 2 }, {}, { seed: 1 }),
      ).toThrow(SpecError);
    }
    expect(() => fp16.compress(new Float32Array(5), shape34, {}, { seed: 1 })).toThrow(SpecError);
  });

  it('sends rows as little-endian halves that decode to the lookup', () => {
    const rng = new Rng(4);
    const shape = { fields: [20, 13], dim: 6 };
    const t = fp16.compress(gaussianTable(rng, 33, 6), shape, {}, { seed: 1 });
    const ids = Uint32Array.of(5, 0, 32, 5, 17);
    const bytes = (t.wire as NonNullable<typeof t.wire>).encode(ids);
    expect(t.wire?.codec).toBe('fp16');
    expect(bytes.length).toBe(ids.length * 6 * 2);
    const decoded = new Float32Array(ids.length * 6);
    decodeHalfRows(bytes, ids.length, 6, decoded);
    const looked = new Float32Array(ids.length * 6);
    t.lookup(ids, looked);
    expect(decoded).toEqual(looked);
    expect(() => decodeHalfRows(bytes.subarray(1), ids.length, 6, decoded)).toThrow(RangeError);
  });

  it('searches its codes like brute force on the decoded rows', () => {
    const rng = new Rng(8);
    const rows = 400;
    const dim = 16;
    // Well separated: the scores of different rows differ far more than the fp16 rounding.
    const data = gaussianTable(rng, rows, dim, 1);
    const t = fp16.compress(data, { fields: [rows], dim }, {}, { seed: 1 }) as Fp16Table;
    const all = Uint32Array.from({ length: rows }, (_, i) => i);
    const decoded = new Float32Array(rows * dim);
    t.lookup(all, decoded);
    const queries = gaussianTable(rng, 5, dim, 1);
    for (const metric of ['inner-product', 'l2'] as const) {
      const got = t.search(queries, 10, metric);
      const want = exactSearch(decoded, dim, queries, 10, metric);
      expect(got.ids).toEqual(want.ids);
      for (let i = 0; i < got.scores.length; i += 1)
        expect(got.scores[i]).toBeCloseTo(want.scores[i] as number, 4);
    }
    expect(registry.resolve('fp16').spec).toBe('fp16');
  });
});

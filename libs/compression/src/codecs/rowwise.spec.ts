import { describeCodecConformance, gaussianTable } from '../conformance/suite';
import { SpecError } from '../core/errors';
import { HALF_TABLE } from '../core/half';
import { Rng } from '../core/rng';
import { registry } from '../methods';
import {
  decodeRowwise,
  rowwiseInt4,
  rowwiseInt8,
  rowwiseParams,
  rowwiseStride,
  RowwiseInt8Table,
  RowwiseTable,
} from './rowwise';
import { exactSearch } from './topk';

const shape = { fields: [50, 7, 300], dim: 8 };
// N(0, 0.01²) rows: the int8 step is range/255 ≈ 1/50 of the row's spread.
describeCodecConformance({ spec: 'rowwise-int8', shape, maxRelativeError: 1e-2 });
describeCodecConformance({ spec: 'rowwise-int4', shape, maxRelativeError: 0.15 });
// Odd dim: int4 rows end with a padding nibble.
describeCodecConformance({
  spec: 'rowwise-int4',
  shape: { fields: [40, 9], dim: 7 },
  maxRelativeError: 0.15,
});

const one = (dim: number) => ({ fields: [1], dim });
const decodeAll = (t: {
  rows: number;
  dim: number;
  lookup: (i: Uint32Array, o: Float32Array) => void;
}) => {
  const out = new Float32Array(t.rows * t.dim);
  t.lookup(
    Uint32Array.from({ length: t.rows }, (_, i) => i),
    out,
  );
  return out;
};

describe('rowwise byte counts', () => {
  it('3 × 4 table: int8 3·(4 + 4) = 24 bytes, int4 3·(2 + 4) = 18 bytes', () => {
    const s = { fields: [3], dim: 4 };
    const data = new Float32Array(12).map((_, i) => i / 10);
    const t8 = rowwiseInt8.compress(data, s, {}, { seed: 1 });
    const t4 = rowwiseInt4.compress(data, s, {}, { seed: 1 });
    expect([t8.memoryBytes(), rowwiseInt8.estimateBytes(s, {})]).toEqual([24, 24]);
    expect([t4.memoryBytes(), rowwiseInt4.estimateBytes(s, {})]).toEqual([18, 18]);
    expect(t8.describe().paperWords).toBe(3);
    expect(t4.describe().paperWords).toBe(1.5);
  });

  it('odd dims pad int4 rows to whole bytes', () => {
    expect(rowwiseStride(5, 4)).toBe(3 + 4);
    expect(rowwiseStride(5, 8)).toBe(5 + 4);
    expect(rowwiseInt4.estimateBytes({ fields: [10, 2], dim: 5 }, {})).toBe(12 * 7);
  });
});

describe('rowwise encoding', () => {
  it('int8: bias = min, scale = range/255 (both fp16), codes rounded, fused [codes|scale|bias]', () => {
    // range 63.75 = 255 · 0.25: scale and bias are exact halves.
    const t = rowwiseInt8.compress(Float32Array.of(1, 64.75, 2.1, 33), one(4), {}, { seed: 1 });
    const bytes = t.wire?.encode(Uint32Array.of(0));
    // codes 0, 255, round(4.4) = 4, 128; scale 0.25 = 0x3400; bias 1 = 0x3c00 (little-endian)
    expect([...(bytes as Uint8Array)]).toEqual([0, 255, 4, 128, 0x00, 0x34, 0x00, 0x3c]);
    expect([...decodeAll(t)]).toEqual([1, 64.75, 2, 33]);
  });

  it('int4: two codes per byte, low nibble first; odd rows end in a zero nibble', () => {
    // range 7.5 = 15 · 0.5; bias −2 = 0xc000, scale 0.5 = 0x3800
    const t = rowwiseInt4.compress(Float32Array.of(-2, 5.5, 0.2, 1), one(4), {}, { seed: 1 });
    // codes 0, 15, round(4.4) = 4, 6 → bytes 0xf0, 0x64
    expect([...(t.wire?.encode(Uint32Array.of(0)) as Uint8Array)]).toEqual([
      0xf0, 0x64, 0x00, 0x38, 0x00, 0xc0,
    ]);
    expect([...decodeAll(t)]).toEqual([-2, 5.5, 0, 1]);
    const odd = rowwiseInt4.compress(Float32Array.of(-2, 5.5, 3), one(3), {}, { seed: 1 });
    // codes 0, 15, 10 → 0xf0, 0x0a (high nibble of the last byte is padding)
    expect([...(odd.wire?.encode(Uint32Array.of(0)) as Uint8Array)]).toEqual([
      0xf0, 0x0a, 0x00, 0x38, 0x00, 0xc0,
    ]);
    expect([...decodeAll(odd)]).toEqual([-2, 5.5, 3]);
  });

  it('a constant row gets scale 1 and decodes exactly', () => {
    expect(rowwiseParams(0.5, 0.5, 255)).toBe((0x3c00 | (0x3800 << 16)) >>> 0);
    const t = rowwiseInt8.compress(new Float32Array(6).fill(-0.25), one(6), {}, { seed: 1 });
    expect([...decodeAll(t)]).toEqual(new Array(6).fill(-0.25));
  });

  it('errs by at most half a step (+ fp16 rounding of the bias) per value', () => {
    const rng = new Rng(2);
    const rows = 64;
    const dim = 24;
    const data = gaussianTable(rng, rows, dim, 0.3);
    for (const [method, levels] of [
      [rowwiseInt8, 255],
      [rowwiseInt4, 15],
    ] as const) {
      const decoded = decodeAll(method.compress(data, { fields: [rows], dim }, {}, { seed: 1 }));
      for (let r = 0; r < rows; r += 1) {
        const row = data.subarray(r * dim, (r + 1) * dim);
        const min = Math.min(...row);
        const max = Math.max(...row);
        const packed = rowwiseParams(min, max, levels);
        const scale = HALF_TABLE[packed & 0xffff] as number;
        const bias = HALF_TABLE[packed >>> 16] as number;
        const tol = scale / 2 + Math.abs(bias - min) + 1e-6;
        for (let j = 0; j < dim; j += 1)
          expect(
            Math.abs((decoded[r * dim + j] as number) - (row[j] as number)),
          ).toBeLessThanOrEqual(tol);
      }
    }
  });

  it('refuses non-finite values and wrong table sizes', () => {
    expect(() => rowwiseInt8.compress(Float32Array.of(0, NaN), one(2), {}, { seed: 1 })).toThrow(
      SpecError,
    );
    expect(() =>
      rowwiseInt4.compress(Float32Array.of(Infinity, 0), one(2), {}, { seed: 1 }),
    ).toThrow(SpecError);
    expect(() => rowwiseInt8.compress(new Float32Array(3), one(2), {}, { seed: 1 })).toThrow(
      SpecError,
    );
  });

  it('specs are canonical and take no parameters', () => {
    expect(registry.resolve('rowwise-int8').spec).toBe('rowwise-int8');
    expect(registry.resolve('rowwise-int4()').spec).toBe('rowwise-int4');
    expect(() => registry.resolve('rowwise-int8(bits=4)')).toThrow(SpecError);
  });
});

describe('rowwise wire codes', () => {
  for (const [method, bits, dim] of [
    [rowwiseInt8, 8, 16],
    [rowwiseInt4, 4, 16],
    [rowwiseInt4, 4, 9],
  ] as const) {
    it(`${method.id} dim ${dim}: decodeRowwise(wire.encode(ids)) equals lookup(ids)`, () => {
      const rng = new Rng(5);
      const rows = 70;
      const t = method.compress(
        gaussianTable(rng, rows, dim),
        { fields: [rows], dim },
        {},
        { seed: 1 },
      );
      expect(t.wire?.codec).toBe(method.id);
      const ids = Uint32Array.of(3, 69, 0, 3, 41, 12, 12);
      const bytes = (t.wire as NonNullable<typeof t.wire>).encode(ids);
      expect(bytes.length).toBe(ids.length * rowwiseStride(dim, bits));
      const decoded = new Float32Array(ids.length * dim);
      decodeRowwise(bytes, ids.length, dim, bits, decoded);
      const looked = new Float32Array(ids.length * dim);
      t.lookup(ids, looked);
      expect(decoded).toEqual(looked);
      expect(() => decodeRowwise(bytes.subarray(1), ids.length, dim, bits, decoded)).toThrow(
        RangeError,
      );
      expect(() => decodeRowwise(bytes, ids.length, dim, bits, new Float32Array(dim))).toThrow(
        RangeError,
      );
    });
  }
});

describe('rowwise-int8 search', () => {
  it('scans the codes and returns the brute-force top-k of the decoded rows', () => {
    const rng = new Rng(6);
    const rows = 500;
    const dim = 32;
    const data = gaussianTable(rng, rows, dim, 1);
    const t = rowwiseInt8.compress(
      data,
      { fields: [rows], dim },
      {},
      { seed: 1 },
    ) as RowwiseInt8Table;
    const decoded = decodeAll(t);
    const queries = gaussianTable(rng, 6, dim, 1);
    for (const metric of ['inner-product', 'l2'] as const) {
      const got = t.search(queries, 8, metric);
      const want = exactSearch(decoded, dim, queries, 8, metric);
      expect(got.ids).toEqual(want.ids);
      for (let i = 0; i < got.scores.length; i += 1)
        expect(got.scores[i]).toBeCloseTo(want.scores[i] as number, 3);
    }
    // and, the data being well separated, the true top-1 of the original rows
    const truth = exactSearch(data, dim, queries, 1, 'l2');
    expect(t.search(queries, 1, 'l2').ids).toEqual(truth.ids);
  });

  it('is only offered by int8 tables', () => {
    const t4 = rowwiseInt4.compress(new Float32Array(8), one(8), {}, { seed: 1 });
    expect(t4.search).toBeUndefined();
  });
});

describe('rowwise encodeRows', () => {
  // The word copy (aligned rows, stride a multiple of 4) and the byte copy (anything else) must
  // give the same bytes: each requested row's fused slice, in request order.
  const expected = (fused: Uint8Array, stride: number, ids: Uint32Array) => {
    const out: number[] = [];
    for (const id of ids) out.push(...fused.subarray(id * stride, (id + 1) * stride));
    return out;
  };
  const ids = Uint32Array.of(7, 0, 19, 7, 3);

  for (const [bits, dim, offset] of [
    [8, 16, 0], // stride 20, aligned: word copy
    [8, 16, 1], // stride 20 at an odd byte offset: byte copy
    [8, 6, 0], // stride 10: byte copy
    [4, 16, 0], // stride 12: word copy
  ] as const) {
    it(`int${bits} dim ${dim} at byte offset ${offset}: the fused slices of the ids`, () => {
      const stride = rowwiseStride(dim, bits);
      const backing = new Uint8Array(offset + 20 * stride);
      const fused = backing.subarray(offset);
      const rng = new Rng(3);
      for (let i = 0; i < fused.length; i += 1) fused[i] = Math.floor(rng.next() * 256);
      const shape = { fields: [20], dim };
      const table =
        bits === 8 ? new RowwiseInt8Table(shape, fused) : new RowwiseTable(shape, 4, fused);
      expect([...table.encodeRows(ids)]).toEqual(expected(fused, stride, ids));
      expect(() => table.encodeRows(Uint32Array.of(20))).toThrow(/20/);
    });
  }
});

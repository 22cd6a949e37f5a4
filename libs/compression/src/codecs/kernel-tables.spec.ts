// The codecs on @embpress/kernels: batch decodes give the bits of the JavaScript loops (small
// batches stay in JavaScript, large ones go to the kernels: both must agree), the flat fp32
// search finds the float64 brute force's ids with scores within the kernels' stated bound.
import { gaussianTable } from '../conformance/suite';
import { Rng } from '../core/rng';
import { FlatIndex } from './flat';
import { decodeHalfRows, fp16, type Fp16Table } from './fp16';
import { KERNEL_DECODE_MIN_VALUES } from './kernel-tables';
import { decodeRowwise, rowwiseInt4, rowwiseInt8, type RowwiseTable } from './rowwise';
import { exactSearch } from './topk';

/** Rows of `ids` looked up one at a time (below the kernel threshold: the JavaScript loop). */
function oneByOne(
  t: { dim: number; lookup(i: Uint32Array, o: Float32Array): void },
  ids: Uint32Array,
) {
  const out = new Float32Array(ids.length * t.dim);
  for (let i = 0; i < ids.length; i += 1)
    t.lookup(ids.subarray(i, i + 1), out.subarray(i * t.dim, (i + 1) * t.dim));
  return out;
}

/** Index of the first value whose bits differ (−1: none); a plain loop, jest's deep equality on
 * large buffers is slow. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i += 1) if (x[i] !== y[i]) return i;
  return -1;
}

describe('codecs on the kernels', () => {
  const rng = new Rng(13);
  const rows = 700;
  for (const dim of [7, 16, 33]) {
    const data = gaussianTable(rng, rows, dim, 0.5);
    const ids = Uint32Array.from({ length: 300 }, () => rng.int(0, rows));
    it(`batch lookup and wire decode = the JavaScript loop, bit for bit (dim ${dim})`, () => {
      expect(ids.length * dim).toBeGreaterThanOrEqual(KERNEL_DECODE_MIN_VALUES);
      const shape = { fields: [rows], dim };
      for (const method of [rowwiseInt8, rowwiseInt4]) {
        const t = method.compress(data, shape, {}, { seed: 1 }) as RowwiseTable;
        const batch = new Float32Array(ids.length * dim);
        t.lookup(ids, batch);
        const reference = oneByOne(t, ids);
        expect(firstDiff(batch, reference)).toBe(-1);
        const wire = new Float32Array(ids.length * dim + 5); // longer than needed: allowed
        decodeRowwise(t.wire.encode(ids), ids.length, dim, t.bits, wire);
        expect(firstDiff(wire.subarray(0, batch.length), batch)).toBe(-1);
      }
      const h = fp16.compress(data, shape, {}, { seed: 1 }) as Fp16Table;
      const batch = new Float32Array(ids.length * dim);
      h.lookup(ids, batch);
      expect(firstDiff(batch, oneByOne(h, ids))).toBe(-1);
      const bytes = h.wire.encode(ids);
      const wire = new Float32Array(ids.length * dim);
      decodeHalfRows(bytes, ids.length, dim, wire);
      expect(firstDiff(wire, batch)).toBe(-1);
      // An odd byte offset (no Uint16Array view): the JavaScript loop, same values.
      const odd = new Uint8Array(bytes.length + 1).fill(0);
      odd.set(bytes, 1);
      decodeHalfRows(odd.subarray(1), ids.length, dim, wire);
      expect(firstDiff(wire, batch)).toBe(-1);
    });
  }

  it('flat fp32 search: the brute force ids, scores within 2^-20·(dim + 12)·Σ|terms|', () => {
    const dim = 37;
    const table = gaussianTable(rng, 2000, dim, 1);
    const queries = gaussianTable(rng, 9, dim, 1);
    const index = new FlatIndex(table, dim);
    for (const metric of ['inner-product', 'l2'] as const) {
      const got = index.search(queries, 10, metric);
      const want = exactSearch(table, dim, queries, 10, metric);
      expect(got.ids).toEqual(want.ids);
      got.scores.forEach((s, i) => {
        const q = Math.floor(i / 10);
        const row = got.ids[i] as number;
        let terms = 0;
        for (let j = 0; j < dim; j += 1) {
          const x = queries[q * dim + j] as number;
          const y = table[row * dim + j] as number;
          terms += metric === 'l2' ? (x - y) ** 2 : Math.abs(x * y);
        }
        expect(Math.abs(s - (want.scores[i] as number))).toBeLessThanOrEqual(
          2 ** -20 * (dim + 12) * terms + 1e-6 * Math.abs(s),
        );
      });
    }
    expect(index.search(queries, 5000, 'l2').ids.length).toBe(9 * 2000);
    index.dispose();
    expect(() => index.search(queries, 1, 'l2')).toThrow(/dispose/);
    expect(() => new FlatIndex(new Float32Array(10), 3)).toThrow(RangeError);
  });
});

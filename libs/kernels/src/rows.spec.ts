// Scores of one query against many rows, and row gather + decode, for fp32, fp16 and the
// rowwise codecs: wasm = scalar bit for bit, decode = libs/compression's decode bit for bit,
// scores within the float64 bound.
import { join } from 'node:path';
import { HALF_TO_F32 } from './half';
import type { Metric } from './types';
import { expectSameBits, expectWithin, randomF32, rng, scalar, wasm } from './testing/helpers';

// libs/compression's codecs, required by a computed path on purpose: Nx would otherwise record
// a kernels → compression dependency, and compression is the library that is to use kernels.
interface RowwiseCodec {
  encodeRowwise(table: Float32Array, rows: number, dim: number, bits: 4 | 8): Uint8Array;
  decodeRowwise(
    bytes: Uint8Array,
    count: number,
    dim: number,
    bits: 4 | 8,
    out: Float32Array,
  ): void;
}
interface Fp16Codec {
  encodeHalves(values: Float32Array): Uint16Array;
  decodeHalfRows(bytes: Uint8Array, count: number, dim: number, out: Float32Array): void;
}
const codecs = join(__dirname, '..', '..', 'compression', 'src', 'codecs');
const rowwise = require(join(codecs, 'rowwise')) as RowwiseCodec;
const fp16 = require(join(codecs, 'fp16')) as Fp16Codec;

const dims = [1, 3, 4, 5, 8, 15, 16, 17, 31, 64, 100];

/** A table of `rows` rows with a zero row, a constant row and a wide-range row among them. */
function table(seed: number, rows: number, dim: number): Float32Array {
  const random = rng(seed);
  const t = randomF32(random, rows * dim, 2);
  t.fill(0, 0, dim); // row 0: zeros
  t.fill(0.75, dim, 2 * dim); // row 1: constant (scale 1 in the rowwise codecs)
  for (let d = 0; d < dim; d += 1) t[2 * dim + d] = (t[2 * dim + d] as number) * 1000; // row 2
  return t;
}

/** The codec's decode of every row (float64 arithmetic, as libs/compression does it). */
function decodedRows(kind: 'fp16' | 'int8' | 'int4', codes: Uint8Array, rows: number, dim: number) {
  const out = new Float32Array(rows * dim);
  if (kind === 'fp16') fp16.decodeHalfRows(codes, rows, dim, out);
  else rowwise.decodeRowwise(codes, rows, dim, kind === 'int8' ? 8 : 4, out);
  return out;
}

function encode(kind: 'fp16' | 'int8' | 'int4', t: Float32Array, rows: number, dim: number) {
  if (kind === 'fp16') {
    const halves = fp16.encodeHalves(t);
    return new Uint8Array(halves.buffer, 0, halves.byteLength);
  }
  return rowwise.encodeRowwise(t, rows, dim, kind === 'int8' ? 8 : 4);
}

/** Exact (float64) scores of q against decoded rows, and Σ|terms| for the bound. */
function exactScores(metric: Metric, q: Float32Array, x: Float32Array, rows: number) {
  const dim = q.length;
  const exact = new Float64Array(rows);
  const magnitude = new Float64Array(rows);
  for (let r = 0; r < rows; r += 1)
    for (let d = 0; d < dim; d += 1) {
      const a = q[d] as number;
      const b = x[r * dim + d] as number;
      const term = metric === 'ip' ? a * b : (a - b) * (a - b);
      exact[r] = (exact[r] as number) + term;
      magnitude[r] = (magnitude[r] as number) + (metric === 'ip' ? Math.abs(term) : term);
    }
  return { exact, magnitude };
}

describe('gather + decode', () => {
  it.each(dims)(
    'dim %i: fp16, rowwise-int8 and rowwise-int4 rows equal the codecs decode',
    (dim) => {
      const rows = 40;
      const t = table(dim, rows, dim);
      const ids = Uint32Array.from([5, 0, 39, 1, 2, 5, 17, 0, 38]);
      for (const kind of ['fp16', 'int8', 'int4'] as const) {
        const codes = encode(kind, t, rows, dim);
        const all = decodedRows(kind, codes, rows, dim);
        const expected = new Float32Array(ids.length * dim);
        ids.forEach((id, i) => expected.set(all.subarray(id * dim, (id + 1) * dim), i * dim));
        for (const k of [wasm, scalar]) {
          const got =
            kind === 'fp16'
              ? k.gatherFp16(new Uint16Array(codes.buffer, codes.byteOffset, rows * dim), dim, ids)
              : k.gatherRowwise(codes, dim, kind === 'int8' ? 8 : 4, ids);
          expectSameBits(got, expected, `${k.impl} ${kind}`);
          const pin = k.pin(codes);
          const pinned =
            kind === 'fp16'
              ? k.gatherFp16(pin, dim, ids)
              : k.gatherRowwise(pin, dim, kind === 'int8' ? 8 : 4, ids);
          expectSameBits(pinned, expected, `${k.impl} ${kind} pinned`);
          pin.dispose();
        }
      }
    },
  );

  it('fp16 decodes all 65,536 half patterns like the codec (±0, subnormals, ±inf, NaN)', () => {
    const halves = new Uint16Array(65536).map((_, i) => i);
    const bytes = new Uint8Array(halves.buffer);
    const expected = decodedRows('fp16', bytes, 1, 65536);
    const ids = Uint32Array.of(0);
    expectSameBits(wasm.gatherFp16(halves, 65536, ids), expected, 'wasm');
    expectSameBits(scalar.gatherFp16(halves, 65536, ids), expected, 'scalar');
    // 16 halves per row: the SIMD path decodes every pattern too, not only the scalar tail.
    const rows = wasm.gatherFp16(
      halves,
      16,
      Uint32Array.from({ length: 4096 }, (_, i) => i),
    );
    expectSameBits(rows, expected, 'wasm rows of 16');
  });

  it('rowwise rows with extreme fp16 scale and bias decode like the codec', () => {
    const dim = 19;
    const random = rng(3);
    const rows = 64;
    for (const bits of [8, 4] as const) {
      const stride = (bits === 8 ? dim : 10) + 4;
      const codes = new Uint8Array(rows * stride).map(() => Math.floor(random() * 256));
      for (let r = 0; r < rows; r += 1) {
        // Random finite halves for scale and bias, subnormals and the largest included.
        const half = () => Math.floor(random() * 0x7c00) | (random() < 0.5 ? 0x8000 : 0);
        const p = r * stride + stride - 4;
        const s = r === 0 ? 0x0001 : r === 1 ? 0x7bff : half();
        const b = r === 0 ? 0x8001 : r === 1 ? 0xfbff : half();
        codes[p] = s & 0xff;
        codes[p + 1] = s >>> 8;
        codes[p + 2] = b & 0xff;
        codes[p + 3] = b >>> 8;
      }
      const expected = decodedRows(bits === 8 ? 'int8' : 'int4', codes, rows, dim);
      const ids = Uint32Array.from({ length: rows }, (_, i) => i);
      expectSameBits(wasm.gatherRowwise(codes, dim, bits, ids), expected, `wasm int${bits}`);
      expectSameBits(scalar.gatherRowwise(codes, dim, bits, ids), expected, `scalar int${bits}`);
    }
  });

  it('rejects ids outside the table and tables that are not whole rows', () => {
    const codes = new Uint8Array(3 * 9);
    for (const k of [wasm, scalar]) {
      expect(() => k.gatherRowwise(codes, 5, 8, Uint32Array.of(0, 3))).toThrow(
        /id 3 at 1 is outside the 3-row table/,
      );
      expect(() => k.gatherRowwise(codes, 4, 8, Uint32Array.of(0))).toThrow(/not whole rows/);
      expect(k.gatherRowwise(codes, 5, 8, new Uint32Array(0))).toEqual(new Float32Array(0));
    }
  });
});

describe('scores of one query against many rows', () => {
  it.each(dims)('dim %i: fp32, fp16 and rowwise-int8, ip and l2', (dim) => {
    const rows = 37;
    const t = table(dim + 100, rows, dim);
    const q = randomF32(rng(dim), dim, 1.5);
    for (const kind of ['f32', 'fp16', 'int8'] as const) {
      const codes = kind === 'f32' ? null : encode(kind, t, rows, dim);
      const decoded = kind === 'f32' || codes === null ? t : decodedRows(kind, codes, rows, dim);
      for (const metric of ['ip', 'l2'] as const) {
        const run = (k: typeof wasm, pinned: boolean) => {
          const source = kind === 'f32' ? t : (codes as Uint8Array);
          const pin = pinned ? k.pin(source) : null;
          try {
            if (kind === 'f32') return k.scoreF32(metric, q, pin ?? t);
            if (kind === 'fp16')
              return k.scoreFp16(
                metric,
                q,
                pin ?? new Uint16Array(source.buffer, source.byteOffset, rows * dim),
              );
            return k.scoreRowwiseInt8(metric, q, pin ?? (codes as Uint8Array));
          } finally {
            pin?.dispose();
          }
        };
        const w = run(wasm, false);
        const what = `${kind} ${metric}`;
        expectSameBits(w, run(scalar, false), `${what} wasm vs scalar`);
        expectSameBits(run(wasm, true), w, `${what} pinned`);
        expectSameBits(run(scalar, true), w, `${what} scalar pinned`);
        const { exact, magnitude } = exactScores(metric, q, decoded, rows);
        if (kind === 'int8' && metric === 'ip') {
          // scale·(q·c) + bias·Σq: bound on both products' sums, plus the query's int16 codes
          // (assembly/int-dot.ts): |q[d] − qi[d]·step| ≤ step/2, times Σ c[d]·scale.
          const step = Math.fround(Math.max(...Array.from(q, Math.abs)) / 32767);
          const codes8 = codes as Uint8Array;
          for (let r = 0; r < rows; r += 1) {
            const at = r * (dim + 4);
            const scale = HALF_TO_F32[
              (codes8[at + dim] as number) | ((codes8[at + dim + 1] as number) << 8)
            ] as number;
            let sumCodes = 0;
            for (let d = 0; d < dim; d += 1) sumCodes += codes8[at + d] as number;
            const quantization = (step / 2) * sumCodes * scale;
            magnitude[r] =
              (magnitude[r] as number) * 4 + 1e-6 + quantization / (2 ** -20 * (dim + 12));
          }
        }
        expectWithin(w, exact, magnitude, dim + 4, `${what} vs float64`);
      }
    }
  });

  /** One rowwise-int8 fused row: `codes`, fp16 scale 1 (0x3c00), fp16 bias 0. */
  function fusedRow(codes: number[]): Uint8Array {
    return Uint8Array.from([...codes, 0x00, 0x3c, 0x00, 0x00]);
  }

  it('int8 ip: the query codes round half to even, and the integer sum is exact', () => {
    // step = 2^-10 exactly: q/step is 32767, 2.5, -2.5, 3.5 -> codes 32767, 2, -2, 4.
    const s = 2 ** -10;
    const q = Float32Array.from([32767 * s, 2.5 * s, -2.5 * s, 3.5 * s]);
    const row = fusedRow([1, 1, 1, 1]);
    for (const k of [wasm, scalar])
      expect(Array.from(k.scoreRowwiseInt8('ip', q, row))).toEqual([(32767 + 2 - 2 + 4) * s]);
    // A zero query scores bias·Σq = 0 (its step is 0, every code 0).
    for (const k of [wasm, scalar])
      expect(Array.from(k.scoreRowwiseInt8('ip', new Float32Array(4), row))).toEqual([0]);
  });

  it('int8 ip: no overflow at the largest codes over long rows (lanes flushed every 512)', () => {
    for (const dim of [511, 512, 513, 1030, 4099]) {
      const q = new Float32Array(dim).fill(1);
      q[dim - 1] = -1;
      const row = fusedRow(new Array<number>(dim).fill(255));
      const w = wasm.scoreRowwiseInt8('ip', q, row);
      expectSameBits(w, scalar.scoreRowwiseInt8('ip', q, row), `dim ${dim}`);
      // Σ q·c = 255·(dim − 2) exactly; qi = ±32767, step = f32(1/32767): a few f32 roundings.
      expect(Math.abs((w[0] as number) - 255 * (dim - 2)) / (255 * dim)).toBeLessThan(1e-6);
    }
  });

  it('ranges score several row ranges in one call, in order, like one call per range', () => {
    const dim = 21;
    const rows = 30;
    const t = table(5, rows, dim);
    const q = randomF32(rng(9), dim, 2);
    const int8 = encode('int8', t, rows, dim);
    const fp16 = encode('fp16', t, rows, dim);
    const halves = new Uint16Array(fp16.buffer, fp16.byteOffset, rows * dim);
    const ranges = Uint32Array.from([20, 4, 3, 0, 0, 2, 27, 3]);
    for (const k of [wasm, scalar])
      for (const metric of ['ip', 'l2'] as const) {
        const score = (options: { start?: number; count?: number; ranges?: Uint32Array }) => [
          k.scoreF32(metric, q, t, options),
          k.scoreFp16(metric, q, halves, options),
          k.scoreRowwiseInt8(metric, q, int8, options),
        ];
        const together = score({ ranges });
        const apart = [
          score({ start: 20, count: 4 }),
          score({ start: 0, count: 2 }),
          score({ start: 27, count: 3 }),
        ];
        together.forEach((scores, kind) => {
          const expected = Float32Array.from(
            apart.flatMap((s) => Array.from(s[kind] as Float32Array)),
          );
          expectSameBits(scores, expected, `${k.impl} ${metric} kind ${kind}`);
        });
        // A pinned table gives the same scores.
        const pin = k.pin(int8);
        expectSameBits(
          k.scoreRowwiseInt8(metric, q, pin, { ranges }),
          together[2] as Float32Array,
          'pinned',
        );
        pin.dispose();
      }
    expect(() => wasm.scoreF32('ip', q, t, { ranges: Uint32Array.from([1]) })).toThrow(/pairs/);
    expect(() => wasm.scoreF32('ip', q, t, { ranges, start: 1 })).toThrow(/not both/);
    expect(() => wasm.scoreF32('ip', q, t, { ranges: Uint32Array.from([28, 3]) })).toThrow(
      /rows \[28, 31\) of a 30-row table/,
    );
    expect(() => wasm.scoreF32('ip', q, t, { ranges, out: new Float32Array(8) })).toThrow(/out/);
  });

  it('start and count select a range of rows; out is filled', () => {
    const dim = 7;
    const t = table(9, 20, dim);
    const q = randomF32(rng(2), dim);
    const all = wasm.scoreF32('l2', q, t);
    const pin = wasm.pin(t);
    const out = new Float32Array(5);
    expect(wasm.scoreF32('l2', q, pin, { start: 12, count: 5, out })).toBe(out);
    expectSameBits(out, all.subarray(12, 17), 'pinned range');
    expectSameBits(scalar.scoreF32('l2', q, t, { start: 15 }), all.subarray(15), 'scalar range');
    expect(() => wasm.scoreF32('l2', q, pin, { start: 18, count: 3 })).toThrow(
      /rows \[18, 21\) of a 20-row table/,
    );
    expect(() => wasm.scoreF32('cosine' as Metric, q, t)).toThrow(/metric/);
    pin.dispose();
    expect(() => wasm.scoreF32('l2', q, pin)).toThrow(/disposed/);
    expect(() => scalar.scoreF32('l2', q, wasm.pin(t))).toThrow(/pinned by the wasm kernels/);
  });
});

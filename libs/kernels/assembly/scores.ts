// Scores of one query against `count` contiguous rows: out[r] = <q, x_r> (ip) or ‖q − x_r‖² (l2),
// for fp32, fp16 and rowwise-int8 rows. The row reductions themselves are in reduce.ts; the
// scalar twins are in src/scalar.ts and follow the same arithmetic order (README.md).
import { halfToF32 } from './common';
import { intDotU8, quantizeQuery } from './int-dot';
import { dotRow, l2Row, sumRow } from './reduce';

export function ipF32(q: usize, x: usize, count: i32, dim: i32, out: usize): void {
  const row = (<usize>dim) << 2;
  for (let r = 0; r < count; r++)
    store<f32>(out + ((<usize>r) << 2), dotRow<f32>(q, x + <usize>r * row, dim));
}

export function l2F32(q: usize, x: usize, count: i32, dim: i32, out: usize): void {
  const row = (<usize>dim) << 2;
  for (let r = 0; r < count; r++)
    store<f32>(out + ((<usize>r) << 2), l2Row<f32>(q, x + <usize>r * row, dim, 1, 0));
}

export function ipFp16(q: usize, x: usize, count: i32, dim: i32, out: usize): void {
  const row = (<usize>dim) << 1;
  for (let r = 0; r < count; r++)
    store<f32>(out + ((<usize>r) << 2), dotRow<u16>(q, x + <usize>r * row, dim));
}

export function l2Fp16(q: usize, x: usize, count: i32, dim: i32, out: usize): void {
  const row = (<usize>dim) << 1;
  for (let r = 0; r < count; r++)
    store<f32>(out + ((<usize>r) << 2), l2Row<u16>(q, x + <usize>r * row, dim, 1, 0));
}

/**
 * Rowwise-int8 fused rows (libs/compression/src/codecs/rowwise.ts: dim code bytes, fp16 scale,
 * fp16 bias): out = scale·(q·c) + bias·Σq per row, the codec's own factoring of q·(c·scale +
 * bias), with q·c on integers (docs/adr/0015-wasm-simd-kernels.md, "int8 inner product"): the
 * query is quantized once to int16 codes (quantizeQuery: step = max|q| / 32767, round half to
 * even, written at `qi`, dim i16), Σ qi·c is exact (i32 lanes, summed in f64), and
 * out = ((f32(Σ qi·c) · step) · scale) + bias·Σq in f32. The rows are `nranges` ranges of the
 * table at `x`, given at `ranges` as i32 [start, count] pairs; their scores go to `out` in order
 * (an IVF search's probed lists in one call, the query prepared once).
 */
export function ipRowwiseInt8(
  q: usize,
  x: usize,
  ranges: usize,
  nranges: i32,
  dim: i32,
  out: usize,
  qi: usize,
): void {
  const stride = <usize>dim + 4;
  const qsum = sumRow(q, dim);
  const step = quantizeQuery(q, dim, qi);
  let o = out;
  for (let i = 0; i < nranges; i++) {
    const start = <usize>load<i32>(ranges + ((<usize>i) << 3));
    const count = load<i32>(ranges + ((<usize>i) << 3), 4);
    for (let r = 0; r < count; r++) {
      const src = x + (start + <usize>r) * stride;
      const p = src + <usize>dim;
      const scale = halfToF32(<u32>load<u16>(p));
      const bias = halfToF32(<u32>load<u16>(p, 2));
      const dot = <f32>intDotU8(qi, src, dim);
      store<f32>(o, dot * step * scale + bias * qsum);
      o += 4;
    }
  }
}

export function l2RowwiseInt8(q: usize, x: usize, count: i32, dim: i32, out: usize): void {
  const stride = <usize>dim + 4;
  for (let r = 0; r < count; r++) {
    const src = x + <usize>r * stride;
    const p = src + <usize>dim;
    const scale = halfToF32(<u32>load<u16>(p));
    const bias = halfToF32(<u32>load<u16>(p, 2));
    store<f32>(out + ((<usize>r) << 2), l2Row<u8>(q, src, dim, scale, bias));
  }
}

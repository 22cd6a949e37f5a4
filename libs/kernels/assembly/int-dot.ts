// The integer inner product of rowwise-int8 scores (scores.ts ipRowwiseInt8): a query quantized
// once to int16, then Σ qi·c over u8 codes, exact. The scalar twin is in src/scalar.ts
// (quantizeQuery, intDotU8); exact integer sums make both give the same bits.

/** Largest int16 code of the query: |qi| ≤ 32767, so qi·c fits in 23 bits (c ≤ 255). */
const QMAX: f32 = 32767;

/**
 * Writes qi[d] = nearest(q[d] / step) (round half to even) as dim int16 at `qi` and returns
 * step = max|q| / 32767 (f32). A query whose step is 0 (all zeros, or so small that the step
 * underflows) gets qi = 0: its q·c is 0.
 */
export function quantizeQuery(q: usize, dim: i32, qi: usize): f32 {
  let amax: f32 = 0;
  for (let d = 0; d < dim; d++) amax = max(amax, abs(load<f32>(q + ((<usize>d) << 2))));
  const step: f32 = amax / QMAX;
  for (let d = 0; d < dim; d++) {
    const code: i32 = step == 0 ? 0 : <i32>nearest(load<f32>(q + ((<usize>d) << 2)) / step);
    store<i16>(qi + ((<usize>d) << 1), <i16>code);
  }
  return step;
}

/**
 * Σ qi[d]·c[d] over `dim` values, exact: 16 codes per step widened to i16 and multiplied pairwise
 * with i32x4.dot_i16x8_s. Each i32 lane adds at most 2·32767·255 per step, so the lanes are
 * flushed to f64 every 32 steps (512 values: < 2^30 per lane); f64 holds the total exactly.
 */
export function intDotU8(qi: usize, c: usize, dim: i32): f64 {
  let total: f64 = 0;
  let d = 0;
  while (d + 16 <= dim) {
    const end = min(dim, d + 512);
    let a = i32x4.splat(0);
    let b = i32x4.splat(0);
    for (; d + 16 <= end; d += 16) {
      const codes = v128.load(c + <usize>d);
      const qp = qi + ((<usize>d) << 1);
      a = i32x4.add(a, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(codes), v128.load(qp)));
      b = i32x4.add(b, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(codes), v128.load(qp, 16)));
    }
    const s = i32x4.add(a, b);
    total +=
      <f64>i32x4.extract_lane(s, 0) +
      <f64>i32x4.extract_lane(s, 1) +
      <f64>i32x4.extract_lane(s, 2) +
      <f64>i32x4.extract_lane(s, 3);
  }
  let tail: i32 = 0;
  for (; d < dim; d++) tail += <i32>load<i16>(qi + ((<usize>d) << 1)) * <i32>load<u8>(c + <usize>d);
  return total + <f64>tail;
}

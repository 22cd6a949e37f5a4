// The canonical-order f32 reductions of the scalar fallback (scalar.ts): Σ a·b and Σ (a − b)²
// over a row with the wasm kernels' sixteen accumulators and final sum (assembly/common.ts,
// assembly/reduce.ts), Math.fround after every operation, so they give the kernels' bits.

const fround = Math.fround;

/**
 * The canonical order's end: lane l of accumulator v is s(4v + l); v = (acc0 + acc1) + (acc2 +
 * acc3) per lane, then (v0 + v1) + (v2 + v3).
 */
function horizontal(
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  s4: number,
  s5: number,
  s6: number,
  s7: number,
  s8: number,
  s9: number,
  s10: number,
  s11: number,
  s12: number,
  s13: number,
  s14: number,
  s15: number,
): number {
  const v0 = fround(fround(s0 + s4) + fround(s8 + s12));
  const v1 = fround(fround(s1 + s5) + fround(s9 + s13));
  const v2 = fround(fround(s2 + s6) + fround(s10 + s14));
  const v3 = fround(fround(s3 + s7) + fround(s11 + s15));
  return fround(fround(v0 + v1) + fround(v2 + v3));
}

/** Σ a[ao + d]·b[bo + d] over dim values in the canonical order (16 accumulators s0..s15). */
export function dotF32(
  a: Float32Array,
  ao: number,
  b: Float32Array,
  bo: number,
  dim: number,
): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  let s8 = 0;
  let s9 = 0;
  let s10 = 0;
  let s11 = 0;
  let s12 = 0;
  let s13 = 0;
  let s14 = 0;
  let s15 = 0;
  let d = 0;
  for (; d + 16 <= dim; d += 16) {
    const p = ao + d;
    const r = bo + d;
    s0 = fround(s0 + fround((a[p + 0] as number) * (b[r + 0] as number)));
    s1 = fround(s1 + fround((a[p + 1] as number) * (b[r + 1] as number)));
    s2 = fround(s2 + fround((a[p + 2] as number) * (b[r + 2] as number)));
    s3 = fround(s3 + fround((a[p + 3] as number) * (b[r + 3] as number)));
    s4 = fround(s4 + fround((a[p + 4] as number) * (b[r + 4] as number)));
    s5 = fround(s5 + fround((a[p + 5] as number) * (b[r + 5] as number)));
    s6 = fround(s6 + fround((a[p + 6] as number) * (b[r + 6] as number)));
    s7 = fround(s7 + fround((a[p + 7] as number) * (b[r + 7] as number)));
    s8 = fround(s8 + fround((a[p + 8] as number) * (b[r + 8] as number)));
    s9 = fround(s9 + fround((a[p + 9] as number) * (b[r + 9] as number)));
    s10 = fround(s10 + fround((a[p + 10] as number) * (b[r + 10] as number)));
    s11 = fround(s11 + fround((a[p + 11] as number) * (b[r + 11] as number)));
    s12 = fround(s12 + fround((a[p + 12] as number) * (b[r + 12] as number)));
    s13 = fround(s13 + fround((a[p + 13] as number) * (b[r + 13] as number)));
    s14 = fround(s14 + fround((a[p + 14] as number) * (b[r + 14] as number)));
    s15 = fround(s15 + fround((a[p + 15] as number) * (b[r + 15] as number)));
  }
  for (; d + 4 <= dim; d += 4) {
    const p = ao + d;
    const r = bo + d;
    s0 = fround(s0 + fround((a[p + 0] as number) * (b[r + 0] as number)));
    s1 = fround(s1 + fround((a[p + 1] as number) * (b[r + 1] as number)));
    s2 = fround(s2 + fround((a[p + 2] as number) * (b[r + 2] as number)));
    s3 = fround(s3 + fround((a[p + 3] as number) * (b[r + 3] as number)));
  }
  let s = horizontal(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15);
  for (; d < dim; d += 1) {
    s = fround(s + fround((a[ao + d] as number) * (b[bo + d] as number)));
  }
  return s;
}

/** Σ (a[ao + d] − b[bo + d])² over dim values in the canonical order. */
export function l2F32(
  a: Float32Array,
  ao: number,
  b: Float32Array,
  bo: number,
  dim: number,
): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  let s8 = 0;
  let s9 = 0;
  let s10 = 0;
  let s11 = 0;
  let s12 = 0;
  let s13 = 0;
  let s14 = 0;
  let s15 = 0;
  let d = 0;
  let t = 0;
  for (; d + 16 <= dim; d += 16) {
    const p = ao + d;
    const r = bo + d;
    t = fround((a[p + 0] as number) - (b[r + 0] as number));
    s0 = fround(s0 + fround(t * t));
    t = fround((a[p + 1] as number) - (b[r + 1] as number));
    s1 = fround(s1 + fround(t * t));
    t = fround((a[p + 2] as number) - (b[r + 2] as number));
    s2 = fround(s2 + fround(t * t));
    t = fround((a[p + 3] as number) - (b[r + 3] as number));
    s3 = fround(s3 + fround(t * t));
    t = fround((a[p + 4] as number) - (b[r + 4] as number));
    s4 = fround(s4 + fround(t * t));
    t = fround((a[p + 5] as number) - (b[r + 5] as number));
    s5 = fround(s5 + fround(t * t));
    t = fround((a[p + 6] as number) - (b[r + 6] as number));
    s6 = fround(s6 + fround(t * t));
    t = fround((a[p + 7] as number) - (b[r + 7] as number));
    s7 = fround(s7 + fround(t * t));
    t = fround((a[p + 8] as number) - (b[r + 8] as number));
    s8 = fround(s8 + fround(t * t));
    t = fround((a[p + 9] as number) - (b[r + 9] as number));
    s9 = fround(s9 + fround(t * t));
    t = fround((a[p + 10] as number) - (b[r + 10] as number));
    s10 = fround(s10 + fround(t * t));
    t = fround((a[p + 11] as number) - (b[r + 11] as number));
    s11 = fround(s11 + fround(t * t));
    t = fround((a[p + 12] as number) - (b[r + 12] as number));
    s12 = fround(s12 + fround(t * t));
    t = fround((a[p + 13] as number) - (b[r + 13] as number));
    s13 = fround(s13 + fround(t * t));
    t = fround((a[p + 14] as number) - (b[r + 14] as number));
    s14 = fround(s14 + fround(t * t));
    t = fround((a[p + 15] as number) - (b[r + 15] as number));
    s15 = fround(s15 + fround(t * t));
  }
  for (; d + 4 <= dim; d += 4) {
    const p = ao + d;
    const r = bo + d;
    t = fround((a[p + 0] as number) - (b[r + 0] as number));
    s0 = fround(s0 + fround(t * t));
    t = fround((a[p + 1] as number) - (b[r + 1] as number));
    s1 = fround(s1 + fround(t * t));
    t = fround((a[p + 2] as number) - (b[r + 2] as number));
    s2 = fround(s2 + fround(t * t));
    t = fround((a[p + 3] as number) - (b[r + 3] as number));
    s3 = fround(s3 + fround(t * t));
  }
  let s = horizontal(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15);
  for (; d < dim; d += 1) {
    t = fround((a[ao + d] as number) - (b[bo + d] as number));
    s = fround(s + fround(t * t));
  }
  return s;
}

// Shared pieces of the kernels: the canonical summation order and fp16 decode. Small helpers
// carry no @inline (decorators on functions are not TypeScript syntax, which prettier and eslint
// parse): binaryen's -O3 inliner inlines them, which the wat output shows.
//
// Every f32 reduction over a row of `dim` values uses ONE order, which src/scalar.ts replays with
// Math.fround so that the scalar fallback gives the same bits (README.md, "Summation order"):
//   - four 4-lane accumulators take the values of each 16-block (acc0: d..d+3, acc1: d+4..d+7,
//     acc2: d+8..d+11, acc3: d+12..d+15);
//   - then each remaining 4-block goes into acc0;
//   - v = (acc0 + acc1) + (acc2 + acc3) lane-wise, s = (v0 + v1) + (v2 + v3);
//   - then each remaining value is added to s in order.

/** 2^112: scales an fp16 exponent/mantissa moved into f32 position to its value (exact). */
export const TWO_112: f32 = reinterpret<f32>(0x77800000);

/** Adds the four accumulators in the canonical order: (a0 + a1) + (a2 + a3), then lanes. */
export function horizontal(a0: v128, a1: v128, a2: v128, a3: v128): f32 {
  const v = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

/**
 * IEEE binary16 bits (low 16 bits of each i32 lane) to f32, bit-identical to the lookup table of
 * libs/compression/src/core/half.ts: normals and subnormals exactly (exponent moved into f32
 * position, then × 2^112), ±inf kept, every NaN → the canonical 0x7fc00000.
 */
export function halfToF32x4(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const value = v128.or(f32x4.mul(i32x4.shl(em, 13), f32x4.splat(TWO_112)), sign);
  const inf = v128.or(i32x4.splat(0x7f800000), sign);
  const special = i32x4.gt_s(em, i32x4.splat(0x7bff));
  const nan = i32x4.gt_s(em, i32x4.splat(0x7c00));
  return v128.bitselect(i32x4.splat(0x7fc00000), v128.bitselect(inf, value, special), nan);
}

/** Scalar twin of halfToF32x4 for one value. */
export function halfToF32(h: u32): f32 {
  const em = h & 0x7fff;
  const sign = (h & 0x8000) << 16;
  if (em > 0x7c00) return reinterpret<f32>(0x7fc00000);
  if (em == 0x7c00) return reinterpret<f32>(sign | 0x7f800000);
  return reinterpret<f32>(reinterpret<u32>(reinterpret<f32>(em << 13) * TWO_112) | sign);
}

/** Eight u16 halves at `p` to two f32x4 (lanes 0-3 and 4-7). */
export function halvesLow(p: usize): v128 {
  return halfToF32x4(v128.load16x4_u(p));
}

export function halvesHigh(p: usize): v128 {
  return halfToF32x4(v128.load16x4_u(p, 8));
}

/** Four code bytes at `p` to f32x4 (exact: codes are 0..255). */
export function bytes4(p: usize): v128 {
  return f32x4.convert_i32x4_u(
    i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))),
  );
}

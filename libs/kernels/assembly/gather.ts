// Row gather + decode: out row i = decode(table row ids[i]), bit-identical to the codecs'
// decode (libs/compression/src/codecs/rowwise.ts and fp16.ts). code·scale is exact in f32 (at
// most 8 + 11 significant bits) and the one f32 add rounds the exact sum once, as the codec's
// double arithmetic followed by the Float32Array store does.
import { halfToF32, halfToF32x4 } from './common';

export function gatherRowwiseInt8(
  table: usize,
  ids: usize,
  count: i32,
  dim: i32,
  out: usize,
): void {
  const stride = <usize>dim + 4;
  let dst = out;
  for (let i = 0; i < count; i++) {
    const src = table + <usize>load<u32>(ids + ((<usize>i) << 2)) * stride;
    const p = src + <usize>dim;
    const scale = halfToF32(<u32>load<u16>(p));
    const bias = halfToF32(<u32>load<u16>(p, 2));
    const vs = f32x4.splat(scale);
    const vb = f32x4.splat(bias);
    let d = 0;
    for (; d + 16 <= dim; d += 16) {
      const v = v128.load(src + <usize>d);
      const lo = i16x8.extend_low_i8x16_u(v);
      const hi = i16x8.extend_high_i8x16_u(v);
      const od = dst + ((<usize>d) << 2);
      v128.store(od, decode4(i32x4.extend_low_i16x8_u(lo), vs, vb));
      v128.store(od, decode4(i32x4.extend_high_i16x8_u(lo), vs, vb), 16);
      v128.store(od, decode4(i32x4.extend_low_i16x8_u(hi), vs, vb), 32);
      v128.store(od, decode4(i32x4.extend_high_i16x8_u(hi), vs, vb), 48);
    }
    for (; d + 4 <= dim; d += 4) {
      const c = i32x4.extend_low_i16x8_u(
        i16x8.extend_low_i8x16_u(v128.load32_zero(src + <usize>d)),
      );
      v128.store(dst + ((<usize>d) << 2), decode4(c, vs, vb));
    }
    for (; d < dim; d++)
      store<f32>(dst + ((<usize>d) << 2), <f32>load<u8>(src + <usize>d) * scale + bias);
    dst += (<usize>dim) << 2;
  }
}

/** Rowwise-int4: element 2b in the low nibble of code byte b, 2b+1 in the high nibble. */
export function gatherRowwiseInt4(
  table: usize,
  ids: usize,
  count: i32,
  dim: i32,
  out: usize,
): void {
  const codeBytes = <usize>((dim + 1) >> 1);
  const stride = codeBytes + 4;
  const nibble = i8x16.splat(15);
  let dst = out;
  for (let i = 0; i < count; i++) {
    const src = table + <usize>load<u32>(ids + ((<usize>i) << 2)) * stride;
    const p = src + codeBytes;
    const scale = halfToF32(<u32>load<u16>(p));
    const bias = halfToF32(<u32>load<u16>(p, 2));
    const vs = f32x4.splat(scale);
    const vb = f32x4.splat(bias);
    let d = 0;
    for (; d + 16 <= dim; d += 16) {
      const packed = v128.load64_zero(src + ((<usize>d) >> 1));
      const v = i8x16.shuffle(
        v128.and(packed, nibble),
        i8x16.shr_u(packed, 4),
        0,
        16,
        1,
        17,
        2,
        18,
        3,
        19,
        4,
        20,
        5,
        21,
        6,
        22,
        7,
        23,
      );
      const lo = i16x8.extend_low_i8x16_u(v);
      const hi = i16x8.extend_high_i8x16_u(v);
      const od = dst + ((<usize>d) << 2);
      v128.store(od, decode4(i32x4.extend_low_i16x8_u(lo), vs, vb));
      v128.store(od, decode4(i32x4.extend_high_i16x8_u(lo), vs, vb), 16);
      v128.store(od, decode4(i32x4.extend_low_i16x8_u(hi), vs, vb), 32);
      v128.store(od, decode4(i32x4.extend_high_i16x8_u(hi), vs, vb), 48);
    }
    for (; d < dim; d++) {
      const byte = <u32>load<u8>(src + ((<usize>d) >> 1));
      const c = (d & 1) == 0 ? byte & 15 : byte >> 4;
      store<f32>(dst + ((<usize>d) << 2), <f32>c * scale + bias);
    }
    dst += (<usize>dim) << 2;
  }
}

function decode4(codes: v128, scale: v128, bias: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(codes), scale), bias);
}

export function gatherFp16(table: usize, ids: usize, count: i32, dim: i32, out: usize): void {
  const row = (<usize>dim) << 1;
  let dst = out;
  for (let i = 0; i < count; i++) {
    const src = table + <usize>load<u32>(ids + ((<usize>i) << 2)) * row;
    let d = 0;
    for (; d + 8 <= dim; d += 8) {
      const v = v128.load(src + ((<usize>d) << 1));
      const od = dst + ((<usize>d) << 2);
      v128.store(od, halfToF32x4(i32x4.extend_low_i16x8_u(v)));
      v128.store(od, halfToF32x4(i32x4.extend_high_i16x8_u(v)), 16);
    }
    for (; d + 4 <= dim; d += 4)
      v128.store(dst + ((<usize>d) << 2), halfToF32x4(v128.load16x4_u(src + ((<usize>d) << 1))));
    for (; d < dim; d++)
      store<f32>(dst + ((<usize>d) << 2), halfToF32(<u32>load<u16>(src + ((<usize>d) << 1))));
    dst += (<usize>dim) << 2;
  }
}

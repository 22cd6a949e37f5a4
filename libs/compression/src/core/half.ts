// IEEE-754 binary16 <-> binary32, round to nearest even (subnormals, inf and NaN kept).
import { HALF_TO_F32 } from '@embpress/kernels';
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1; // may carry into exp: correct
  return sign | half;
}

// Every half's f32 value, one table for the process: the kernels' (their gathers decode with it).
const HALF_TO_FLOAT = HALF_TO_F32;

export function fromHalf(half: number): number {
  return HALF_TO_FLOAT[half & 0xffff] as number;
}

/** The lookup table itself, for hot loops that decode many values. */
export const HALF_TABLE: Float32Array = HALF_TO_FLOAT;

// Row reductions in the canonical order of common.ts, for three element types of the rows:
// f32 (fp32 rows), u16 (fp16 halves) and u8 (rowwise-int8 codes). T is resolved at compile time:
// each instantiation is a separate, branch-free function.
import { bytes4, halfToF32, halfToF32x4, horizontal } from './common';

/** Four elements of type T at `p` as f32x4 (u8: the raw codes). */
export function load4<T>(p: usize): v128 {
  if (sizeof<T>() == 4) return v128.load(p);
  if (sizeof<T>() == 2) return halfToF32x4(v128.load16x4_u(p));
  return bytes4(p);
}

/** One element of type T at `p` as f32 (u8: the raw code). */
export function load1<T>(p: usize): f32 {
  if (sizeof<T>() == 4) return load<f32>(p);
  if (sizeof<T>() == 2) return halfToF32(<u32>load<u16>(p));
  return <f32>load<u8>(p);
}

/** Σ q[d]·x[d] over `dim` values (x raw: codes are not scaled here). */
export function dotRow<T>(q: usize, x: usize, dim: i32): f32 {
  const es = <usize>sizeof<T>();
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let d = 0;
  for (; d + 16 <= dim; d += 16) {
    const qp = q + ((<usize>d) << 2);
    const xp = x + <usize>d * es;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(qp), load4<T>(xp)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(qp, 16), load4<T>(xp + 4 * es)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(qp, 32), load4<T>(xp + 8 * es)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(qp, 48), load4<T>(xp + 12 * es)));
  }
  for (; d + 4 <= dim; d += 4)
    a0 = f32x4.add(a0, f32x4.mul(v128.load(q + ((<usize>d) << 2)), load4<T>(x + <usize>d * es)));
  let s = horizontal(a0, a1, a2, a3);
  for (; d < dim; d++) s += load<f32>(q + ((<usize>d) << 2)) * load1<T>(x + <usize>d * es);
  return s;
}

/**
 * Σ (q[d] − x̂[d])² over `dim` values, x̂ = x for f32 and fp16 rows, x̂ = code·scale + bias for
 * u8 codes (the rowwise decode, exact as in gather.ts).
 */
export function l2Row<T>(q: usize, x: usize, dim: i32, scale: f32, bias: f32): f32 {
  const es = <usize>sizeof<T>();
  const vs = f32x4.splat(scale);
  const vb = f32x4.splat(bias);
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let d = 0;
  for (; d + 16 <= dim; d += 16) {
    const qp = q + ((<usize>d) << 2);
    const xp = x + <usize>d * es;
    const d0 = f32x4.sub(v128.load(qp), affine<T>(load4<T>(xp), vs, vb));
    const d1 = f32x4.sub(v128.load(qp, 16), affine<T>(load4<T>(xp + 4 * es), vs, vb));
    const d2 = f32x4.sub(v128.load(qp, 32), affine<T>(load4<T>(xp + 8 * es), vs, vb));
    const d3 = f32x4.sub(v128.load(qp, 48), affine<T>(load4<T>(xp + 12 * es), vs, vb));
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
    a2 = f32x4.add(a2, f32x4.mul(d2, d2));
    a3 = f32x4.add(a3, f32x4.mul(d3, d3));
  }
  for (; d + 4 <= dim; d += 4) {
    const d0 = f32x4.sub(
      v128.load(q + ((<usize>d) << 2)),
      affine<T>(load4<T>(x + <usize>d * es), vs, vb),
    );
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
  }
  let s = horizontal(a0, a1, a2, a3);
  for (; d < dim; d++) {
    let v = load1<T>(x + <usize>d * es);
    if (sizeof<T>() == 1) v = v * scale + bias;
    const diff = load<f32>(q + ((<usize>d) << 2)) - v;
    s += diff * diff;
  }
  return s;
}

function affine<T>(v: v128, scale: v128, bias: v128): v128 {
  if (sizeof<T>() == 1) return f32x4.add(f32x4.mul(v, scale), bias);
  return v;
}

/** Σ q[d] in the canonical order (the q·1 of rowwise-int8's inner product). */
export function sumRow(q: usize, dim: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let d = 0;
  for (; d + 16 <= dim; d += 16) {
    const qp = q + ((<usize>d) << 2);
    a0 = f32x4.add(a0, v128.load(qp));
    a1 = f32x4.add(a1, v128.load(qp, 16));
    a2 = f32x4.add(a2, v128.load(qp, 32));
    a3 = f32x4.add(a3, v128.load(qp, 48));
  }
  for (; d + 4 <= dim; d += 4) a0 = f32x4.add(a0, v128.load(q + ((<usize>d) << 2)));
  let s = horizontal(a0, a1, a2, a3);
  for (; d < dim; d++) s += load<f32>(q + ((<usize>d) << 2));
  return s;
}

// The exported kernels. Every pointer is a byte offset into this module's memory, which the
// TypeScript side (src/wasm.ts) lays out; nothing here allocates. The scalar twins of these
// functions are in src/scalar.ts and must follow the same arithmetic order (README.md).
import { halfToF32, halfToF32x4, horizontal } from './common';
import { dotRow, l2Row, sumRow } from './reduce';

/** First free byte after the module's own data: the TypeScript heap starts here. */
export function heapBase(): usize {
  return __heap_base;
}

// ---------------------------------------------------------------------------------------------
// DLRM dot interaction (libs/models/src/interaction.ts): z is [B, n, dim]; out is [B, n(n−1)/2],
// the strict lower triangle (1,0), (2,0), (2,1), (3,0)... of each sample's Gram matrix.

export function dotInteraction(z: usize, out: usize, batch: i32, n: i32, dim: i32): void {
  const row = (<usize>dim) << 2;
  const sample = row * <usize>n;
  let o = out;
  for (let s = 0; s < batch; s++) {
    const zs = z + <usize>s * sample;
    if (dim == 16) {
      // The common DLRM width: row i stays in registers while it meets rows 0..i−1. Same order
      // as dotRow (each accumulator starts at +0, so a −0 product gives +0 there too).
      const zero = f32x4.splat(0);
      for (let i = 1; i < n; i++) {
        const zi = zs + ((<usize>i) << 6);
        const x0 = v128.load(zi);
        const x1 = v128.load(zi, 16);
        const x2 = v128.load(zi, 32);
        const x3 = v128.load(zi, 48);
        for (let j = 0; j < i; j++) {
          const zj = zs + ((<usize>j) << 6);
          store<f32>(
            o,
            horizontal(
              f32x4.add(zero, f32x4.mul(x0, v128.load(zj))),
              f32x4.add(zero, f32x4.mul(x1, v128.load(zj, 16))),
              f32x4.add(zero, f32x4.mul(x2, v128.load(zj, 32))),
              f32x4.add(zero, f32x4.mul(x3, v128.load(zj, 48))),
            ),
          );
          o += 4;
        }
      }
    } else {
      for (let i = 1; i < n; i++) {
        const zi = zs + <usize>i * row;
        for (let j = 0; j < i; j++) {
          store<f32>(o, dotRow<f32>(zi, zs + <usize>j * row, dim));
          o += 4;
        }
      }
    }
  }
}

/**
 * Backward of dotInteraction: dz_i = Σ_{j≠i} g_ij z_j, g_ij = dy of the pair (max, min), summed
 * over j = 0, 1, ... n−1 in order for every coordinate (any blocking below keeps that order).
 */
export function dotInteractionBackward(
  z: usize,
  dy: usize,
  dz: usize,
  batch: i32,
  n: i32,
  dim: i32,
): void {
  const row = (<usize>dim) << 2;
  const sample = row * <usize>n;
  const pairs = <usize>((n * (n - 1)) >> 1);
  for (let s = 0; s < batch; s++) {
    const zs = z + <usize>s * sample;
    const gs = dy + ((<usize>s * pairs) << 2);
    const outS = dz + <usize>s * sample;
    for (let i = 0; i < n; i++) {
      const out = outS + <usize>i * row;
      const gi = gs + ((<usize>((i * (i - 1)) >> 1)) << 2); // pairs (i, 0..i−1)
      let d = 0;
      for (; d + 16 <= dim; d += 16) {
        const zd = zs + ((<usize>d) << 2);
        let a0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        let a2 = f32x4.splat(0);
        let a3 = f32x4.splat(0);
        for (let j = 0; j < n; j++) {
          if (j == i) continue;
          const g = f32x4.splat(load<f32>(pairAt(gs, gi, i, j)));
          const zj = zd + <usize>j * row;
          a0 = f32x4.add(a0, f32x4.mul(g, v128.load(zj)));
          a1 = f32x4.add(a1, f32x4.mul(g, v128.load(zj, 16)));
          a2 = f32x4.add(a2, f32x4.mul(g, v128.load(zj, 32)));
          a3 = f32x4.add(a3, f32x4.mul(g, v128.load(zj, 48)));
        }
        const od = out + ((<usize>d) << 2);
        v128.store(od, a0);
        v128.store(od, a1, 16);
        v128.store(od, a2, 32);
        v128.store(od, a3, 48);
      }
      for (; d + 4 <= dim; d += 4) {
        const zd = zs + ((<usize>d) << 2);
        let a0 = f32x4.splat(0);
        for (let j = 0; j < n; j++) {
          if (j == i) continue;
          const g = f32x4.splat(load<f32>(pairAt(gs, gi, i, j)));
          a0 = f32x4.add(a0, f32x4.mul(g, v128.load(zd + <usize>j * row)));
        }
        v128.store(out + ((<usize>d) << 2), a0);
      }
      for (; d < dim; d++) {
        const zd = zs + ((<usize>d) << 2);
        let a: f32 = 0;
        for (let j = 0; j < n; j++) {
          if (j == i) continue;
          a += load<f32>(pairAt(gs, gi, i, j)) * load<f32>(zd + <usize>j * row);
        }
        store<f32>(out + ((<usize>d) << 2), a);
      }
    }
  }
}

/** Address of dy for the pair {i, j}, i ≠ j: (i, j) when j < i, else (j, i). */
function pairAt(gs: usize, gi: usize, i: i32, j: i32): usize {
  return j < i ? gi + ((<usize>j) << 2) : gs + ((<usize>(((j * (j - 1)) >> 1) + i)) << 2);
}

// ---------------------------------------------------------------------------------------------
// One query against `count` contiguous rows: out[r] = <q, x_r> (ip) or ‖q − x_r‖² (l2).

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
 * fp16 bias): out[r] = scale·(q·c) + bias·Σq, the codec's own factoring of q·(c·scale + bias).
 */
export function ipRowwiseInt8(q: usize, x: usize, count: i32, dim: i32, out: usize): void {
  const stride = <usize>dim + 4;
  const qsum = sumRow(q, dim);
  for (let r = 0; r < count; r++) {
    const src = x + <usize>r * stride;
    const p = src + <usize>dim;
    const scale = halfToF32(<u32>load<u16>(p));
    const bias = halfToF32(<u32>load<u16>(p, 2));
    store<f32>(out + ((<usize>r) << 2), dotRow<u8>(q, src, dim) * scale + bias * qsum);
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

// ---------------------------------------------------------------------------------------------
// Row gather + decode: out row i = decode(table row ids[i]), bit-identical to the codecs'
// decode (libs/compression/src/codecs/rowwise.ts and fp16.ts). code·scale is exact in f32 (at
// most 8 + 11 significant bits) and the one f32 add rounds the exact sum once, as the codec's
// double arithmetic followed by the Float32Array store does.

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

// ---------------------------------------------------------------------------------------------
// C[m, n] = A[m, k]·B[k, n] (+ bias[n]) (then ReLU), row-major. Every element is
// ((Σ_{kk = 0..k−1} a·b in order, from +0) + bias) then max(0, ·): blocking changes no bits.

export function matmul(
  a: usize,
  b: usize,
  bias: usize,
  c: usize,
  m: i32,
  k: i32,
  n: i32,
  relu: i32,
): void {
  const rowA = (<usize>k) << 2;
  const rowB = (<usize>n) << 2;
  let i = 0;
  // 4 rows × 8 columns per block: 8 accumulators, 2 loads of B and 4 splats of A per step.
  for (; i + 4 <= m; i += 4) {
    const a0 = a + <usize>i * rowA;
    const a1 = a0 + rowA;
    const a2 = a1 + rowA;
    const a3 = a2 + rowA;
    const c0 = c + <usize>i * rowB;
    let j = 0;
    for (; j + 8 <= n; j += 8) {
      let s00 = f32x4.splat(0);
      let s01 = f32x4.splat(0);
      let s10 = f32x4.splat(0);
      let s11 = f32x4.splat(0);
      let s20 = f32x4.splat(0);
      let s21 = f32x4.splat(0);
      let s30 = f32x4.splat(0);
      let s31 = f32x4.splat(0);
      let bp = b + ((<usize>j) << 2);
      for (let kk = 0; kk < k; kk++) {
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        const ko = (<usize>kk) << 2;
        const x0 = f32x4.splat(load<f32>(a0 + ko));
        const x1 = f32x4.splat(load<f32>(a1 + ko));
        const x2 = f32x4.splat(load<f32>(a2 + ko));
        const x3 = f32x4.splat(load<f32>(a3 + ko));
        s00 = f32x4.add(s00, f32x4.mul(x0, b0));
        s01 = f32x4.add(s01, f32x4.mul(x0, b1));
        s10 = f32x4.add(s10, f32x4.mul(x1, b0));
        s11 = f32x4.add(s11, f32x4.mul(x1, b1));
        s20 = f32x4.add(s20, f32x4.mul(x2, b0));
        s21 = f32x4.add(s21, f32x4.mul(x2, b1));
        s30 = f32x4.add(s30, f32x4.mul(x3, b0));
        s31 = f32x4.add(s31, f32x4.mul(x3, b1));
        bp += rowB;
      }
      const co = c0 + ((<usize>j) << 2);
      const bo: usize = bias == 0 ? 0 : bias + ((<usize>j) << 2);
      finish4(s00, bo, co, relu);
      finish4(s01, bo == 0 ? 0 : bo + 16, co + 16, relu);
      finish4(s10, bo, co + rowB, relu);
      finish4(s11, bo == 0 ? 0 : bo + 16, co + rowB + 16, relu);
      finish4(s20, bo, co + 2 * rowB, relu);
      finish4(s21, bo == 0 ? 0 : bo + 16, co + 2 * rowB + 16, relu);
      finish4(s30, bo, co + 3 * rowB, relu);
      finish4(s31, bo == 0 ? 0 : bo + 16, co + 3 * rowB + 16, relu);
    }
    if (j < n) {
      matmulRow(a0, b, bias, c0, k, n, j, relu);
      matmulRow(a1, b, bias, c0 + rowB, k, n, j, relu);
      matmulRow(a2, b, bias, c0 + 2 * rowB, k, n, j, relu);
      matmulRow(a3, b, bias, c0 + 3 * rowB, k, n, j, relu);
    }
  }
  for (; i < m; i++) matmulRow(a + <usize>i * rowA, b, bias, c + <usize>i * rowB, k, n, 0, relu);
}

/** One row of C from column `from` on: 8-, then 4-column blocks, then single columns. */
function matmulRow(
  aRow: usize,
  b: usize,
  bias: usize,
  cRow: usize,
  k: i32,
  n: i32,
  from: i32,
  relu: i32,
): void {
  const rowB = (<usize>n) << 2;
  let j = from;
  for (; j + 8 <= n; j += 8) {
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      const x = f32x4.splat(load<f32>(aRow + ((<usize>kk) << 2)));
      s0 = f32x4.add(s0, f32x4.mul(x, v128.load(bp)));
      s1 = f32x4.add(s1, f32x4.mul(x, v128.load(bp, 16)));
      bp += rowB;
    }
    const bo: usize = bias == 0 ? 0 : bias + ((<usize>j) << 2);
    finish4(s0, bo, cRow + ((<usize>j) << 2), relu);
    finish4(s1, bo == 0 ? 0 : bo + 16, cRow + ((<usize>j) << 2) + 16, relu);
  }
  for (; j + 4 <= n; j += 4) {
    let s0 = f32x4.splat(0);
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      s0 = f32x4.add(
        s0,
        f32x4.mul(f32x4.splat(load<f32>(aRow + ((<usize>kk) << 2))), v128.load(bp)),
      );
      bp += rowB;
    }
    finish4(s0, bias == 0 ? 0 : bias + ((<usize>j) << 2), cRow + ((<usize>j) << 2), relu);
  }
  for (; j < n; j++) {
    let s: f32 = 0;
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      s += load<f32>(aRow + ((<usize>kk) << 2)) * load<f32>(bp);
      bp += rowB;
    }
    if (bias != 0) s += load<f32>(bias + ((<usize>j) << 2));
    // max(0, s) written as 0 < s ? s : 0, like f32x4.pmax(0, s): NaN and −0 give +0.
    if (relu != 0) s = <f32>0 < s ? s : <f32>0;
    store<f32>(cRow + ((<usize>j) << 2), s);
  }
}

function finish4(s: v128, bias: usize, out: usize, relu: i32): void {
  let v = s;
  if (bias != 0) v = f32x4.add(v, v128.load(bias));
  if (relu != 0) v = f32x4.pmax(f32x4.splat(0), v);
  v128.store(out, v);
}

// ---------------------------------------------------------------------------------------------
// Top-k: the k largest of `count` scores, best first, equal scores by lower index. The output
// arrays are the heap (root = worst held) and end sorted by an in-place heapsort.

export function topK(scores: usize, count: i32, k: i32, outIdx: usize, outScore: usize): i32 {
  if (k > count) k = count;
  if (k <= 0) return 0;
  for (let i = 0; i < k; i++) siftUp(outIdx, outScore, i, load<f32>(scores + ((<usize>i) << 2)), i);
  let threshold = load<f32>(outScore);
  let i = k;
  // A later index never wins a tie, so only scores strictly above the worst held can enter:
  // four at a time are skipped with one compare.
  for (; i + 4 <= count; i += 4) {
    const v = v128.load(scores + ((<usize>i) << 2));
    if (!v128.any_true(f32x4.gt(v, f32x4.splat(threshold)))) continue;
    for (let l = 0; l < 4; l++) {
      const s = load<f32>(scores + ((<usize>(i + l)) << 2));
      if (s > threshold) {
        siftDown(outIdx, outScore, k, s, i + l);
        threshold = load<f32>(outScore);
      }
    }
  }
  for (; i < count; i++) {
    const s = load<f32>(scores + ((<usize>i) << 2));
    if (s > threshold) {
      siftDown(outIdx, outScore, k, s, i);
      threshold = load<f32>(outScore);
    }
  }
  // Heapsort: the worst goes to the back, so the arrays end best first.
  for (let size = k - 1; size > 0; size--) {
    const lastIdx = load<i32>(outIdx + ((<usize>size) << 2));
    const lastScore = load<f32>(outScore + ((<usize>size) << 2));
    store<i32>(outIdx + ((<usize>size) << 2), load<i32>(outIdx));
    store<f32>(outScore + ((<usize>size) << 2), load<f32>(outScore));
    siftDown(outIdx, outScore, size, lastScore, lastIdx);
  }
  return k;
}

/** a is worse than b: lower score, or equal score and higher index. */
function worse(sa: f32, ia: i32, sb: f32, ib: i32): bool {
  return sa < sb || (sa == sb && ia > ib);
}

function siftUp(idx: usize, score: usize, at: i32, s: f32, id: i32): void {
  let i = at;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const ps = load<f32>(score + ((<usize>parent) << 2));
    const pi = load<i32>(idx + ((<usize>parent) << 2));
    if (!worse(s, id, ps, pi)) break;
    store<f32>(score + ((<usize>i) << 2), ps);
    store<i32>(idx + ((<usize>i) << 2), pi);
    i = parent;
  }
  store<f32>(score + ((<usize>i) << 2), s);
  store<i32>(idx + ((<usize>i) << 2), id);
}

/** Puts (s, id) at the root of the first `size` entries and restores the heap order. */
function siftDown(idx: usize, score: usize, size: i32, s: f32, id: i32): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    let w = l;
    let ws = load<f32>(score + ((<usize>l) << 2));
    let wi = load<i32>(idx + ((<usize>l) << 2));
    const r = l + 1;
    if (r < size) {
      const rs = load<f32>(score + ((<usize>r) << 2));
      const ri = load<i32>(idx + ((<usize>r) << 2));
      if (worse(rs, ri, ws, wi)) {
        w = r;
        ws = rs;
        wi = ri;
      }
    }
    if (!worse(ws, wi, s, id)) break;
    store<f32>(score + ((<usize>i) << 2), ws);
    store<i32>(idx + ((<usize>i) << 2), wi);
    i = w;
  }
  store<f32>(score + ((<usize>i) << 2), s);
  store<i32>(idx + ((<usize>i) << 2), id);
}

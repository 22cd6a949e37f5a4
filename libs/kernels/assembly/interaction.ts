// DLRM dot interaction (libs/models/src/interaction.ts) and its backward: z is [B, n, dim]; out
// is [B, n(n−1)/2], the strict lower triangle (1,0), (2,0), (2,1), (3,0)... of each sample's Gram
// matrix. The scalar twins are in src/scalar.ts and follow the same arithmetic order (README.md).
import { horizontal } from './common';
import { dotRow } from './reduce';

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

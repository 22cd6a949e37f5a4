// DLRM dot interaction (docs/models.md): all pairwise dot products of the n = [bottom?; F
// embeddings] vectors of a sample, keeping the strict lower triangle in row-major order:
// (1,0), (2,0), (2,1), (3,0), ... → n(n−1)/2 values.
//
// Two implementations with the same results:
//  - 'js' (wasm, cpu): a custom op whose forward and backward run on @embpress/kernels
//    (WebAssembly SIMD, ~10x the plain JavaScript loops below, which stay as the reference the
//    kernels are measured against). On wasm the tensor formulation costs ~5x more: batched matMul over B tiny 27×16 matrices, a
//    gather for the triangle (wasm's gather is slow, and its stock gradient needs
//    UnsortedSegmentSum), and a split for the gradient of the [bottom; rows] concat.
//  - 'tensor' (tensorflow backend, where data should stay on the device): batched matMul + a
//    gather whose gradient is written as another gather (no UnsortedSegmentSum).
import * as tf from '@tensorflow/tfjs';
import { kernels } from '@embpress/kernels';

export type InteractionImpl = 'js' | 'tensor';

/** Number of strict-lower-triangle pairs of n vectors. */
export function triangleSize(n: number): number {
  return (n * (n - 1)) / 2;
}

/** Flat positions i·n + j of the strict lower triangle (i > j), row-major. */
export function lowerTriangleIndices(n: number): Int32Array {
  const out = new Int32Array(triangleSize(n));
  let k = 0;
  for (let i = 1; i < n; i += 1) for (let j = 0; j < i; j += 1) out[k++] = i * n + j;
  return out;
}

/** For each flat position of an n×n matrix, its index in the triangle, or `T` (= a zero slot). */
export function inverseTriangleIndices(n: number): Int32Array {
  const T = triangleSize(n);
  const out = new Int32Array(n * n).fill(T);
  lowerTriangleIndices(n).forEach((flat, k) => {
    out[flat] = k;
  });
  return out;
}

/** Plain-loop forward: z is [B, n, D] row-major; returns [B, T]. */
export function triangleForward(z: Float32Array, B: number, n: number, D: number): Float32Array {
  const T = triangleSize(n);
  const out = new Float32Array(B * T);
  const nD = n * D;
  for (let s = 0; s < B; s += 1) {
    const zs = s * nD;
    let o = s * T;
    for (let i = 1; i < n; i += 1) {
      const zi = zs + i * D;
      for (let j = 0; j < i; j += 1) {
        const zj = zs + j * D;
        // Four partial sums: ~30% faster than one in V8 (independent multiply-adds).
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        let d = 0;
        for (; d + 4 <= D; d += 4) {
          a0 += (z[zi + d] as number) * (z[zj + d] as number);
          a1 += (z[zi + d + 1] as number) * (z[zj + d + 1] as number);
          a2 += (z[zi + d + 2] as number) * (z[zj + d + 2] as number);
          a3 += (z[zi + d + 3] as number) * (z[zj + d + 3] as number);
        }
        for (; d < D; d += 1) a0 += (z[zi + d] as number) * (z[zj + d] as number);
        out[o++] = a0 + a1 + a2 + a3;
      }
    }
  }
  return out;
}

/**
 * Plain-loop backward: dz_i = Σ_{j≠i} S_ij z_j with S the symmetric n×n matrix holding dy_ij
 * off the diagonal; returns [B, n, D]. Per sample, S and z are copied into float64 scratch and
 * each output row is built four coordinates at a time in local variables: no store in the inner
 * loop (the earlier dz_i += g z_j, dz_j += g z_i form did two read-modify-writes per product and
 * ran ~2x slower at D = 16).
 */
export function triangleBackward(
  z: Float32Array,
  dy: Float32Array,
  B: number,
  n: number,
  D: number,
): Float32Array {
  const T = triangleSize(n);
  const nD = n * D;
  const dz = new Float32Array(B * nD);
  const zl = new Float64Array(nD);
  const S = new Float64Array(n * n); // the diagonal stays 0
  const D4 = D - (D % 4);
  for (let s = 0; s < B; s += 1) {
    const zs = s * nD;
    for (let k = 0; k < nD; k += 1) zl[k] = z[zs + k] as number;
    let o = s * T;
    for (let i = 1; i < n; i += 1)
      for (let j = 0; j < i; j += 1) {
        const g = dy[o++] as number;
        S[i * n + j] = g;
        S[j * n + i] = g;
      }
    for (let i = 0; i < n; i += 1) {
      const si = i * n;
      const out = zs + i * D;
      let d = 0;
      for (; d < D4; d += 4) {
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let j = 0; j < n; j += 1) {
          const g = S[si + j] as number;
          const zj = j * D + d;
          a0 += g * (zl[zj] as number);
          a1 += g * (zl[zj + 1] as number);
          a2 += g * (zl[zj + 2] as number);
          a3 += g * (zl[zj + 3] as number);
        }
        dz[out + d] = a0;
        dz[out + d + 1] = a1;
        dz[out + d + 2] = a2;
        dz[out + d + 3] = a3;
      }
      for (; d < D; d += 1) {
        let a = 0;
        for (let j = 0; j < n; j += 1) a += (S[si + j] as number) * (zl[j * D + d] as number);
        dz[out + d] = a;
      }
    }
  }
  return dz;
}

/** [B, D] bottom vectors and [B, F, D] rows → z = [B, F+1, D] with the bottom vector first. */
function stackBottom(
  bottom: Float32Array,
  rows: Float32Array,
  B: number,
  F: number,
  D: number,
): Float32Array {
  const n = F + 1;
  const z = new Float32Array(B * n * D);
  for (let s = 0; s < B; s += 1) {
    z.set(bottom.subarray(s * D, (s + 1) * D), s * n * D);
    z.set(rows.subarray(s * F * D, (s + 1) * F * D), (s * n + 1) * D);
  }
  return z;
}

function unstackBottom(
  dz: Float32Array,
  B: number,
  F: number,
  D: number,
): { dBottom: Float32Array; dRows: Float32Array } {
  const n = F + 1;
  const dBottom = new Float32Array(B * D);
  const dRows = new Float32Array(B * F * D);
  for (let s = 0; s < B; s += 1) {
    dBottom.set(dz.subarray(s * n * D, (s * n + 1) * D), s * D);
    dRows.set(dz.subarray((s * n + 1) * D, (s + 1) * n * D), s * F * D);
  }
  return { dBottom, dRows };
}

type BinaryOp = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
type UnaryOp = (a: tf.Tensor) => tf.Tensor;

/**
 * Dot interaction of [bottom; rows] (bottom optional) → [B, n(n−1)/2], n = F (+1 with bottom).
 * Holds two small index tensors for the 'tensor' implementation: call dispose().
 */
export class DotInteraction {
  readonly n: number;
  readonly outputSize: number;
  private readonly index: tf.Tensor1D;
  private readonly inverse: tf.Tensor1D;
  private readonly jsWithBottom: BinaryOp;
  private readonly jsRowsOnly: UnaryOp;
  private readonly tensorTriangle: UnaryOp;

  constructor(
    readonly numFields: number,
    readonly withBottom: boolean,
  ) {
    const F = numFields;
    const n = F + (withBottom ? 1 : 0);
    this.n = n;
    this.outputSize = triangleSize(n);
    this.index = tf.keep(tf.tensor1d(lowerTriangleIndices(n), 'int32'));
    this.inverse = tf.keep(tf.tensor1d(inverseTriangleIndices(n), 'int32'));
    const T = this.outputSize;

    this.jsWithBottom = customGrad((bottom: tf.Tensor, rows: tf.Tensor) => {
      const [B, , D] = rows.shape as [number, number, number];
      const z = stackBottom(
        bottom.dataSync() as Float32Array,
        rows.dataSync() as Float32Array,
        B,
        F,
        D,
      );
      return {
        value: tf.tensor2d(kernels().dotInteraction(z, B, n, D), [B, T]),
        gradFunc: (dy: tf.Tensor) => {
          const dz = kernels().dotInteractionBackward(z, dy.dataSync() as Float32Array, B, n, D);
          const { dBottom, dRows } = unstackBottom(dz, B, F, D);
          return [tf.tensor2d(dBottom, [B, D]), tf.tensor3d(dRows, [B, F, D])];
        },
      };
    });

    this.jsRowsOnly = customGrad((rows: tf.Tensor) => {
      const [B, , D] = rows.shape as [number, number, number];
      const z = rows.dataSync() as Float32Array;
      return {
        value: tf.tensor2d(kernels().dotInteraction(z, B, n, D), [B, T]),
        gradFunc: (dy: tf.Tensor) =>
          tf.tensor3d(kernels().dotInteractionBackward(z, dy.dataSync() as Float32Array, B, n, D), [
            B,
            n,
            D,
          ]),
      };
    });

    const { index, inverse } = this;
    this.tensorTriangle = customGrad((gram: tf.Tensor) => {
      const B = gram.shape[0] as number;
      return {
        value: tf.gather(tf.reshape(gram, [B, n * n]), index, 1),
        // Each triangle slot comes from exactly one gram entry: the gram's gradient is dy put
        // back in place, i.e. a gather from [dy, 0] through the inverse map.
        gradFunc: (dy: tf.Tensor) =>
          tf.reshape(tf.gather(tf.concat([dy, tf.zeros([B, 1])], 1), inverse, 1), [B, n, n]),
      };
    });
  }

  /** bottom: [B, D] (only when built withBottom), rows: [B, F, D] → [B, n(n−1)/2]. */
  apply(
    bottom: tf.Tensor2D | null,
    rows: tf.Tensor3D,
    impl: InteractionImpl = defaultImpl(),
  ): tf.Tensor2D {
    if (this.withBottom !== (bottom !== null))
      throw new Error(
        `DotInteraction built ${this.withBottom ? 'with' : 'without'} a bottom vector`,
      );
    if (impl === 'js')
      return (
        bottom === null ? this.jsRowsOnly(rows) : this.jsWithBottom(bottom, rows)
      ) as tf.Tensor2D;
    const z =
      bottom === null ? rows : tf.concat([tf.expandDims(bottom, 1) as tf.Tensor3D, rows], 1);
    // Explicit transpose: matMul's transpose flags are 12-27x slower on wasm.
    const gram = tf.matMul(z, tf.transpose(z, [0, 2, 1]));
    return this.tensorTriangle(gram) as tf.Tensor2D;
  }

  dispose(): void {
    this.index.dispose();
    this.inverse.dispose();
  }
}

/** 'tensor' where data lives on a device (tfjs-node), 'js' on wasm/cpu. */
export function defaultImpl(): InteractionImpl {
  return tf.getBackend() === 'tensorflow' ? 'tensor' : 'js';
}

/** tf.customGrad with the types this file uses (tfjs's own typing takes a save callback too). */
function customGrad<
  F extends (...args: tf.Tensor[]) => {
    value: tf.Tensor;
    gradFunc: (dy: tf.Tensor) => tf.Tensor | tf.Tensor[];
  },
>(f: F): (...args: Parameters<F>) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
    ...args: Parameters<F>
  ) => tf.Tensor;
}

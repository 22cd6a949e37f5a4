// DLRM dot interaction (docs/models.md): all pairwise dot products of the n = [bottom?; F
// embeddings] vectors of a sample, keeping the strict lower triangle in row-major order:
// (1,0), (2,0), (2,1), (3,0), ... → n(n−1)/2 values.
//
// Two implementations with the same results:
//  - 'js' (wasm, cpu): a custom op whose forward and backward run on @embpress/kernels
//    (WebAssembly SIMD; ~6-8x the plain JavaScript loops they replaced). On wasm the tensor formulation costs ~5x more: batched matMul over B tiny 27×16 matrices, a
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

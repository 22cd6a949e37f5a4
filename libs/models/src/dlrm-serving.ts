// DLRM logits for inference on the wasm/cpu backends, with as few tfjs operations as the network
// allows: one fused matMul (+ bias, + ReLU) per dense layer, and the dot interaction written
// straight into the top MLP's input [bottom, triangle] (no stack, no concat, no custom op).
//
// Why: the ranker scores ~100 candidates per request, where tfjs's fixed cost per operation
// (tensor bookkeeping, kernel dispatch, a custom op's tape plumbing) outweighed the arithmetic:
// the layer-by-layer graph of networks.ts (matMul, bias add and ReLU as separate ops, concat,
// custom-op interaction, sigmoid) took ~2.5 ms per 100 candidates for ~0.9 ms of matMul work
// (docs/benchmarks.md, ranker section). Training keeps networks.ts: it needs the tape.
//
// Same function as DlrmNet.logits: the matMuls are the same tfjs kernels, the interaction the same
// dot products in the same order (interaction.ts); only the bias add moves inside the matMul
// kernel, which may round differently in the last bit (models.spec.ts bounds the difference).
import * as tf from '@tensorflow/tfjs';
import type { Linear, Mlp } from './layers';
import type { DlrmNet } from './networks';

/** x [B, in] through an MLP: ReLU after every layer, except the last when `reluOnLast` is false. */
function mlpForward(mlp: Mlp, x: tf.Tensor2D, reluOnLast: boolean): tf.Tensor2D {
  let h = x;
  const last = mlp.layers.length - 1;
  mlp.layers.forEach((layer: Linear, i) => {
    h = tf.fused.matMul({
      a: h,
      b: layer.weight as tf.Tensor2D,
      bias: layer.bias,
      activation: i < last || reluOnLast ? 'relu' : 'linear',
    }) as tf.Tensor2D;
  });
  return h;
}

/**
 * The top MLP's input for B samples: per sample, [bottom (D), strict lower triangle of the Gram
 * matrix of its n = F + 1 vectors [bottom; rows]] (interaction.ts's order), or, without a bottom
 * MLP, the triangle of the F rows alone. Written into `into` when it is large enough (its first
 * B × width floats; the rest is left as it was).
 */
export function interactionInput(
  bottom: Float32Array | null,
  rows: Float32Array,
  B: number,
  F: number,
  D: number,
  into?: Float32Array,
): Float32Array {
  const withBottom = bottom !== null;
  const n = F + (withBottom ? 1 : 0);
  const T = (n * (n - 1)) / 2;
  const width = (withBottom ? D : 0) + T;
  const out = into !== undefined && into.length >= B * width ? into : new Float32Array(B * width);
  // One sample's n vectors, contiguous: z[0] = bottom (when present), then its F rows.
  const z = new Float32Array(n * D);
  const first = withBottom ? D : 0;
  for (let s = 0; s < B; s += 1) {
    const o0 = s * width;
    if (withBottom) {
      const b = bottom.subarray(s * D, (s + 1) * D);
      z.set(b, 0);
      out.set(b, o0);
    }
    z.set(rows.subarray(s * F * D, (s + 1) * F * D), first);
    let o = o0 + first;
    for (let i = 1; i < n; i += 1) {
      const zi = i * D;
      for (let j = 0; j < i; j += 1) {
        const zj = j * D;
        // Four partial sums, as interaction.ts's triangleForward (same order, same result).
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
 * The top MLP's input of the last call, reused: a fresh ~150 KB array per 100-candidate request
 * was the ranker's largest allocation, and off-heap buffers of that size drive V8's collections.
 */
let scratch = new Float32Array(0);

/** Logits [B] of a DLRM for B samples; call inside a tfjs scope (its tensors are disposed). */
export function dlrmServingLogits(
  net: DlrmNet,
  dense: Float32Array,
  rows: Float32Array,
  B: number,
): Float32Array {
  const { numDense, numFields: F, dim: D } = net.config;
  let bottom: Float32Array | null = null;
  if (net.bottom !== undefined) {
    const x = tf.tensor2d(dense, [B, numDense], 'float32');
    bottom = mlpForward(net.bottom, x, true).dataSync() as Float32Array;
  }
  const width = net.topInputSize;
  if (scratch.length < B * width) scratch = new Float32Array(B * width);
  const topIn = interactionInput(bottom, rows, B, F, D, scratch).subarray(0, B * width);
  // tensor2d copies the values into the backend's memory: the scratch is free again after it.
  const x = tf.tensor2d(topIn, [B, width], 'float32');
  return mlpForward(net.top, x, false).dataSync() as Float32Array;
}

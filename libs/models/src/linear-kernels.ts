// A dense layer y = x·W (+ b) (then ReLU) whose forward and backward run on @embpress/kernels, as a
// tfjs custom op: the wasm and cpu backends' training step (docs/models.md#dense-layers).
//
// Why not tf.matMul on wasm: tfjs-wasm hands its right operand to XNNPACK, which packs it afresh
// for every new tensor, and a training step assigns new weights every step. So the forward pass
// re-packed every weight on every step (+0.7 ms on a 367 → 512 layer at 64 rows, next to 1.3 ms
// of multiplying), and the backward pass needed tfjs-wasm's transposes, which are slow (3 ms for a
// 512 × 367 weight). The kernels multiply row-major arrays as they are, fuse the bias and the
// ReLU, and the few transposes left are of batch-sized arrays, done here in plain loops.
//
//   forward:  y = relu?(x·W + b)
//   backward: dz = dy ⊙ [y > 0] (dy without ReLU); dW = xᵀ·dz; db = Σ_rows dz; dx = (W·dzᵀ)ᵀ
//
// The results match tf.matMul's to float rounding (different summation order); the models'
// gradient checks (finite differences, float64 reference forward) run on this path.
import * as tf from '@tensorflow/tfjs';
import { kernels } from '@embpress/kernels';
import { valuesOf } from './wasm-memory';

/** [rows, cols] row-major → [cols, rows] row-major, into `out`. */
export function transpose(
  a: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array<ArrayBuffer> = new Float32Array(rows * cols),
): Float32Array<ArrayBuffer> {
  // Blocks of 16 × 16 keep both sides' lines in cache.
  for (let i0 = 0; i0 < rows; i0 += 16) {
    const i1 = Math.min(rows, i0 + 16);
    for (let j0 = 0; j0 < cols; j0 += 16) {
      const j1 = Math.min(cols, j0 + 16);
      for (let i = i0; i < i1; i += 1)
        for (let j = j0; j < j1; j += 1) out[j * rows + i] = a[i * cols + j] as number;
    }
  }
  return out;
}

/** relu?(x·W (+ b)) as a tfjs op: b is given exactly when the layer has a bias. */
export type KernelLinearOp = (x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor) => tf.Tensor2D;

/**
 * Scratch arrays of one layer, reused from step to step: a new multi-megabyte typed array per
 * call (page faults, zeroing, garbage) cost more than the arithmetic here. tf.tensor copies
 * what it is given, so reusing them is safe.
 */
class Scratch {
  private readonly arrays = new Map<string, Float32Array<ArrayBuffer>>();

  get(name: string, length: number): Float32Array<ArrayBuffer> {
    let a = this.arrays.get(name);
    if (a === undefined || a.length < length) {
      a = new Float32Array(length);
      this.arrays.set(name, a);
    }
    return a.length === length ? a : a.subarray(0, length);
  }
}

/** The op of one layer (its own scratch arrays): relu?(x·W (+ b)) with its gradient. */
export function makeKernelLinear(relu: boolean, withBias: boolean): KernelLinearOp {
  const scratch = new Scratch();
  // tfjs passes a save function after the inputs: the tensors it keeps for the backward pass.
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as (tensors: tf.Tensor[]) => void;
    const [x, w] = args as [tf.Tensor2D, tf.Tensor2D];
    const b = withBias ? (args[2] as tf.Tensor) : undefined;
    const [B, inSize] = x.shape;
    const outSize = w.shape[1] as number;
    const k = kernels();
    // The views of wasm memory are taken right before the call that copies them in.
    const y = k.matmul(valuesOf(x), valuesOf(w), B, inSize, outSize, {
      ...(b === undefined ? {} : { bias: valuesOf(b) }),
      relu,
      out: scratch.get('y', B * outSize),
    });
    const value = tf.tensor2d(y, [B, outSize]);
    // The output too: the ReLU's gradient masks dy where it is 0 (the scratch y is the next
    // call's, should the layer run again before this backward pass).
    save([x, w, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        // One pass: dz = dy masked by the ReLU, its transpose, and the bias gradient Σ_rows dz.
        const dz = scratch.get('dz', B * outSize);
        const dzT = scratch.get('dzT', B * outSize);
        const db = scratch.get('db', outSize).fill(0);
        const g = valuesOf(dy);
        const out = relu ? valuesOf(ys) : undefined;
        for (let r = 0; r < B; r += 1)
          for (let o = 0, i = r * outSize; o < outSize; o += 1, i += 1) {
            const v = out !== undefined && !((out[i] as number) > 0) ? 0 : (g[i] as number);
            dz[i] = v;
            dzT[o * B + r] = v;
            db[o] = (db[o] as number) + v;
          }
        const xT = transpose(valuesOf(xs), B, inSize, scratch.get('xT', B * inSize));
        const dW = k.matmul(xT, dz, inSize, B, outSize, {
          out: scratch.get('dW', inSize * outSize),
        });
        const dxT = k.matmul(valuesOf(ws), dzT, inSize, outSize, B, {
          out: scratch.get('dxT', B * inSize),
        });
        const dx = transpose(dxT, inSize, B, scratch.get('dx', B * inSize));
        const grads: tf.Tensor[] = [
          tf.tensor2d(dx, [B, inSize]),
          tf.tensor2d(dW, [inSize, outSize]),
        ];
        if (withBias) grads.push(tf.tensor1d(db));
        return grads;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op as unknown as KernelLinearOp;
}

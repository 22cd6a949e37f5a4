// The two gaps of the tfjs wasm backend (environment.md), fixed in our own code:
//  1. UnsortedSegmentSum has no wasm kernel, so the gradient of tf.gather throws on wasm. Our
//     models never need it (embedding rows are inputs, their gradient goes back to the sparse
//     engine), but other tfjs code in the process may (a gather inside a dense sub-network): a
//     small JS kernel makes it work instead of throwing.
//  2. matMul with transposeA/transposeB runs 12-27x slower on wasm than an explicit transpose
//     followed by a plain matMul, and tfjs's built-in BatchMatMul gradient uses those flags.
//     We re-register that gradient with explicit transposes (a DLRM step became ~6x faster).
import * as tf from '@tensorflow/tfjs';

type Attrs = Record<string, unknown>;

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: unknown,
  ): tf.TensorInfo;
}

function unsortedSegmentSumWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: Attrs;
}): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs['x'] as tf.TensorInfo;
  const segmentIds = args.inputs['segmentIds'] as tf.TensorInfo;
  const numSegments = Number(args.attrs?.['numSegments']);
  const values = backend.readSync(x.dataId);
  const ids = backend.readSync(segmentIds.dataId);
  // x is [ids.length, ...inner] (tfjs requires segmentIds to cover axis 0); out is
  // [numSegments, ...inner]. Ids outside [0, numSegments) are dropped, as in TensorFlow.
  const inner = ids.length === 0 ? 0 : values.length / ids.length;
  const out =
    x.dtype === 'int32'
      ? new Int32Array(numSegments * inner)
      : new Float32Array(numSegments * inner);
  for (let i = 0; i < ids.length; i += 1) {
    const s = ids[i] as number;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k += 1)
      out[dst + k] = (out[dst + k] as number) + (values[src + k] as number);
  }
  return backend.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype, undefined, out);
}

/** Registers the JS UnsortedSegmentSum kernel for wasm (once; a no-op when already present). */
export function registerWasmUnsortedSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') !== undefined) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: unsortedSegmentSumWasm as unknown as tf.KernelFunc,
  });
}

/** Swaps the last two axes (explicitly: the fast path on wasm). */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  if (r < 2) throw new Error(`transposeLast2 needs rank >= 2, got ${r}`);
  // A side of 1: the transpose is the same memory order, i.e. a free reshape (wasm's transpose
  // copies: ~2 ms for the top MLP's [1024, 256] → [256, 1] gradient operand).
  if (x.shape[r - 1] === 1 || x.shape[r - 2] === 1) {
    const shape = x.shape.slice();
    shape[r - 1] = x.shape[r - 2] as number;
    shape[r - 2] = x.shape[r - 1] as number;
    return tf.reshape(x, shape);
  }
  const perm = [...Array(r).keys()];
  perm[r - 1] = r - 2;
  perm[r - 2] = r - 1;
  return tf.transpose(x, perm);
}

/** Sums a gradient over broadcast batch axes so it matches the input's shape. */
function reduceToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank - 2; i += 1) {
    const inDim = i - lead >= 0 ? shape[i - lead] : undefined;
    if (inDim === undefined || (inDim === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(tf.sum(g, axes, true), shape);
}

let stockGradient: tf.GradConfig | undefined;
let patched = false;

/** BatchMatMul gradient with explicit transposes; same results as the stock one. */
const explicitTransposeGradient: tf.GradConfig = {
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: Attrs) => {
    const g = dy as tf.Tensor;
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const tA = attrs['transposeA'] === true;
    const tB = attrs['transposeB'] === true;
    const T = transposeLast2;
    let da: () => tf.Tensor;
    let db: () => tf.Tensor;
    if (!tA && !tB) {
      // C = A B: dA = dC Bᵀ, dB = Aᵀ dC
      // dA = dC Bᵀ = (B dCᵀ)ᵀ when that moves fewer floats: tfjs-wasm packs a matmul's second
      // operand afresh for every new tensor, so dC Bᵀ transposes the [in, out] weights and packs
      // them (2·|B| floats), where (B dCᵀ)ᵀ transposes and packs the batch's dC and transposes
      // the [batch, in] result (2·|dC| + |A|). At batch 64 that is 4× less on a 512 → 256 layer.
      da =
        a.rank === 2 && 2 * g.size + a.size < 2 * b.size
          ? () => T(tf.matMul(b, T(g)))
          : () => tf.matMul(g, T(b));
      // dB = Aᵀ dC = (dCᵀ A)ᵀ: transposing the smaller operands (dC and the [in, out] result
      // rather than the [B, in] activations) saves ~1.5 ms on a 1024×512 → 256 layer.
      db =
        a.rank === 2 && g.size + b.size < a.size
          ? () => T(tf.matMul(T(g), a))
          : () => tf.matMul(T(a), g);
    } else if (!tA && tB) {
      // C = A Bᵀ: dA = dC B, dB = dCᵀ A
      da = () => tf.matMul(g, b);
      db = () => tf.matMul(T(g), a);
    } else if (tA && !tB) {
      // C = Aᵀ B: dA = B dCᵀ, dB = A dC
      da = () => tf.matMul(b, T(g));
      db = () => tf.matMul(a, g);
    } else {
      // C = Aᵀ Bᵀ: dA = Bᵀ dCᵀ, dB = dCᵀ Aᵀ
      da = () => tf.matMul(T(b), T(g));
      db = () => tf.matMul(T(g), T(a));
    }
    return {
      a: () => reduceToShape(da(), a.shape),
      b: () => reduceToShape(db(), b.shape),
    };
  },
};

/** Installs the explicit-transpose BatchMatMul gradient (gradients are global to all backends). */
export function useExplicitTransposeMatMulGradient(): void {
  if (patched) return;
  stockGradient = tf.getGradient('BatchMatMul');
  tf.registerGradient(explicitTransposeGradient);
  patched = true;
}

/** Puts tfjs's own BatchMatMul gradient back (for backends where the flags are fast). */
export function useStockMatMulGradient(): void {
  if (!patched) return;
  if (stockGradient !== undefined) tf.registerGradient(stockGradient);
  patched = false;
}

export function explicitTransposeGradientActive(): boolean {
  return patched;
}

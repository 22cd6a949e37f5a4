// DLRM logits for inference on the wasm/cpu backends, without tfjs: the dense layers and the dot
// interaction run on @embpress/kernels (WebAssembly SIMD, or its scalar twin) over plain typed
// arrays, with the weights copied out of the tfjs variables and pinned in the kernels' memory
// once per weight update.
//
// Why: the ranker scores ~100 candidates per request, where tfjs's fixed cost per operation
// (tensor bookkeeping, kernel dispatch, a custom op's tape plumbing, copies in and out of its
// memory) outweighed the arithmetic: the training graph of networks.ts took ~2.5 ms per 100
// candidates of the small demo DLRM, the dot interaction alone ~1.3 ms of it in JavaScript
// (docs/benchmarks.md, ranker section). Training keeps networks.ts: it needs the tape.
//
// Same function as DlrmNet.logits, summed in another order (SIMD lanes, float32 accumulators):
// equal within 1e-5 relative (dlrm-serving.spec.ts), not bit for bit.
import { kernels, type Kernels, type PinnedBytes } from '@embpress/kernels';
import type { Mlp } from './layers';
import type { DlrmNet } from './networks';

interface DenseLayer {
  /** Weights and bias pinned in the kernels' memory: not copied in on every call. */
  weight: PinnedBytes;
  bias: PinnedBytes | undefined;
  inSize: number;
  outSize: number;
  relu: boolean;
  /** This layer's output of the last call, reused (the next layer's input). */
  out: Float32Array;
}

/** The layers of an MLP, pinned: ReLU after each, except the last unless `reluOnLast`. */
function layersOf(k: Kernels, mlp: Mlp, reluOnLast: boolean): DenseLayer[] {
  const last = mlp.layers.length - 1;
  return mlp.layers.map((layer, i) => ({
    // pin() copies: the tfjs views may be reused by later tfjs operations.
    weight: k.pin(layer.weight.dataSync() as Float32Array),
    bias: layer.bias === undefined ? undefined : k.pin(layer.bias.dataSync() as Float32Array),
    inSize: layer.inSize,
    outSize: layer.outSize,
    relu: i < last || reluOnLast,
    out: new Float32Array(0),
  }));
}

/**
 * One DLRM's weights, read once, and its forward pass. Not safe across weight updates: the model
 * drops it whenever its weights change (model.ts). Reuses its scratch arrays: one call at a time.
 */
export class DlrmServing {
  private readonly k: Kernels = kernels();
  private readonly bottom: DenseLayer[] | undefined;
  private readonly top: DenseLayer[];
  private readonly F: number;
  private readonly D: number;
  private readonly numDense: number;
  /** Vectors per sample in the interaction: the bottom output (when present) and the F rows. */
  private readonly n: number;
  private z: Float32Array = new Float32Array(0);
  private triangle: Float32Array = new Float32Array(0);
  private topIn: Float32Array = new Float32Array(0);

  constructor(net: DlrmNet) {
    const { numDense, numFields, dim } = net.config;
    this.numDense = numDense;
    this.F = numFields;
    this.D = dim;
    this.bottom = net.bottom === undefined ? undefined : layersOf(this.k, net.bottom, true);
    this.top = layersOf(this.k, net.top, false);
    this.n = numFields + (this.bottom === undefined ? 0 : 1);
  }

  /** Logits [B] (a new array) for B samples: dense [B, numDense], rows [B, F, D]. */
  logits(dense: Float32Array, rows: Float32Array, B: number): Float32Array {
    const { F, D, n } = this;
    let bottom: Float32Array | undefined;
    if (this.bottom !== undefined) bottom = this.mlp(this.bottom, dense, B, this.numDense);
    // z = [B, n, D]: per sample the bottom vector first (when present), then its F rows.
    const z = grow(this.z, B * n * D);
    this.z = z;
    // Per-sample pieces are copied by index, not with set(subarray(...)): two views per sample
    // were a tenth of the ranker's garbage per request (docs/benchmarks.md).
    if (bottom === undefined) z.set(rows.subarray(0, B * F * D));
    else
      for (let s = 0; s < B; s += 1) {
        copyRange(bottom, s * D, D, z, s * n * D);
        copyRange(rows, s * F * D, F * D, z, (s * n + 1) * D);
      }
    const T = (n * (n - 1)) / 2;
    this.triangle = grow(this.triangle, B * T);
    const triangle = this.k.dotInteraction(
      z.subarray(0, B * n * D),
      B,
      n,
      D,
      this.triangle.subarray(0, B * T),
    );
    // The top MLP's input per sample: [bottom, triangle] (networks.ts's concat order).
    const first = bottom === undefined ? 0 : D;
    const width = first + T;
    const topIn = grow(this.topIn, B * width);
    this.topIn = topIn;
    for (let s = 0; s < B; s += 1) {
      if (bottom !== undefined) copyRange(bottom, s * D, D, topIn, s * width);
      copyRange(triangle, s * T, T, topIn, s * width + first);
    }
    return this.mlp(this.top, topIn.subarray(0, B * width), B, width).slice();
  }

  /** Frees the pinned weights now (a dropped instance's pins are freed when collected). */
  dispose(): void {
    for (const layer of [...(this.bottom ?? []), ...this.top]) {
      layer.weight.dispose();
      layer.bias?.dispose();
    }
  }

  private mlp(layers: readonly DenseLayer[], x: Float32Array, B: number, inSize: number) {
    let h = x;
    let width = inSize;
    for (const layer of layers) {
      const length = B * layer.outSize;
      if (layer.out.length < length) layer.out = new Float32Array(length);
      h = this.k.matmul(h, layer.weight, B, width, layer.outSize, {
        ...(layer.bias === undefined ? {} : { bias: layer.bias }),
        relu: layer.relu,
        out: layer.out.subarray(0, length),
      });
      width = layer.outSize;
    }
    return h;
  }
}

/** to[at ..< at + length] = from[start ..< start + length]. */
function copyRange(
  from: Float32Array,
  start: number,
  length: number,
  to: Float32Array,
  at: number,
): void {
  for (let i = 0; i < length; i += 1) to[at + i] = from[start + i] as number;
}

/** `buffer` when it holds at least `length` floats, else a new array of that length. */
function grow(buffer: Float32Array, length: number): Float32Array {
  return buffer.length >= length ? buffer : new Float32Array(length);
}

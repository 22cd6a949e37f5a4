// Explicit weights: every parameter is a tf.Variable made from values we draw ourselves with a
// seeded generator (Xavier-normal weights, zero biases; docs/methods/reference.md#initializer),
// registered in declaration order under a stable name (the name is what export/import and the
// weight file use).
import * as tf from '@tensorflow/tfjs';
import { defaultImpl } from './interaction';
import { makeKernelLinear, type KernelLinearOp } from './linear-kernels';
import { NormalRng, xavierSigma } from './rng';

export interface Param {
  /** Stable name, e.g. "bottom.0.weight". */
  name: string;
  shape: number[];
  variable: tf.Variable;
}

export class ParamStore {
  readonly params: Param[] = [];
  private readonly rng: NormalRng;

  constructor(seed: number) {
    this.rng = new NormalRng(seed);
  }

  /** Xavier-normal weight of the given shape (fan_in, fan_out as the layer sees them). */
  xavier(name: string, shape: number[], fanIn: number, fanOut: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.add(name, shape, this.rng.fill(n, xavierSigma(fanIn, fanOut)));
  }

  zeros(name: string, shape: number[]): tf.Variable {
    return this.add(name, shape, new Float32Array(shape.reduce((a, b) => a * b, 1)));
  }

  private add(name: string, shape: number[], values: Float32Array): tf.Variable {
    if (this.params.some((p) => p.name === name))
      throw new Error(`duplicate parameter name ${name}`);
    // No tfjs variable name: those are global to the engine and would clash between models.
    const variable = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true));
    this.params.push({ name, shape: shape.slice(), variable });
    return variable;
  }

  dispose(): void {
    for (const p of this.params) p.variable.dispose();
  }
}

/** How a Linear's weight starts: Xavier-normal (the reference's dense layers) or zeros. */
export type WeightInit = 'xavier' | 'zeros';

/** y = x W (+ b), W: [in, out] so no transpose is ever needed in the forward pass. */
export class Linear {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;
  /** The layer on @embpress/kernels, with and without a ReLU (each keeps its own scratch). */
  private readonly kernelOps: { relu: KernelLinearOp; plain: KernelLinearOp };

  constructor(
    store: ParamStore,
    name: string,
    readonly inSize: number,
    readonly outSize: number,
    withBias = true,
    weightInit: WeightInit = 'xavier',
  ) {
    this.weight =
      weightInit === 'zeros'
        ? store.zeros(`${name}.weight`, [inSize, outSize])
        : store.xavier(`${name}.weight`, [inSize, outSize], inSize, outSize);
    this.bias = withBias ? store.zeros(`${name}.bias`, [outSize]) : undefined;
    this.kernelOps = {
      relu: makeKernelLinear(true, withBias),
      plain: makeKernelLinear(false, withBias),
    };
  }

  /**
   * relu?(x W + b). On wasm and cpu it runs on @embpress/kernels (linear-kernels.ts: no weight
   * packing, bias and ReLU fused); on the tensorflow backend, where data should stay on the
   * device, as tfjs ops.
   */
  apply(x: tf.Tensor2D, relu = false): tf.Tensor2D {
    if (defaultImpl() === 'js') {
      const op = relu ? this.kernelOps.relu : this.kernelOps.plain;
      return this.bias === undefined ? op(x, this.weight) : op(x, this.weight, this.bias);
    }
    const y = tf.matMul(x, this.weight) as tf.Tensor2D;
    const z = this.bias === undefined ? y : (tf.add(y, this.bias) as tf.Tensor2D);
    return relu ? tf.relu(z) : z;
  }
}

/**
 * Training-time dropout of a hidden activation [B, n]: returns x with each value zeroed with the
 * function's rate and the rest scaled by 1/(1 − rate) (inverted dropout, so inference needs no
 * rescale). Only the training step passes one; predict and the served model never do.
 */
export type Dropout = (x: tf.Tensor2D) => tf.Tensor2D;

/**
 * A dropout of `rate` whose masks come from `uniform` (a seeded [0, 1) generator): a constant
 * mask tensor multiplies x, so the gradient flows to the kept values only, scaled alike.
 */
export function makeDropout(rate: number, uniform: () => number, rows?: RowSlice): Dropout {
  const keep = 1 - rate;
  const scale = 1 / keep;
  return (x) => {
    const [n, width] = x.shape;
    // A slice of a batch (data-parallel step) draws the whole batch's mask and keeps its rows, so
    // every replica's rows get the masks a one-thread step would give them.
    const start = rows?.start ?? 0;
    const total = rows?.total ?? n;
    const mask = new Float32Array(x.size);
    for (let i = 0; i < start * width; i += 1) uniform();
    for (let i = 0; i < mask.length; i += 1) mask[i] = uniform() < keep ? scale : 0;
    for (let i = (start + n) * width; i < total * width; i += 1) uniform();
    return tf.mul(x, tf.tensor2d(mask, x.shape, 'float32'));
  };
}

/** Rows [start, start + n) of a batch of `total` rows (n is the tensor's own first dimension). */
export interface RowSlice {
  start: number;
  total: number;
}

/** A stack of Linear layers, ReLU after each, optionally not after the last ("no act"). */
export class Mlp {
  readonly layers: Linear[];

  /** sizes = [input, ...outputs of each layer]. */
  constructor(
    store: ParamStore,
    name: string,
    readonly sizes: readonly number[],
    private readonly reluOnLast: boolean,
  ) {
    this.layers = [];
    for (let i = 0; i + 1 < sizes.length; i += 1)
      this.layers.push(
        new Linear(store, `${name}.${i}`, sizes[i] as number, sizes[i + 1] as number),
      );
  }

  get outSize(): number {
    return this.sizes[this.sizes.length - 1] as number;
  }

  /**
   * With `dropout`, it is applied to the output of every hidden layer (after its ReLU), never to
   * the MLP's own output: that is a logit, or DLRM's bottom vector that enters the interaction as
   * a row would.
   */
  apply(x: tf.Tensor2D, dropout?: Dropout): tf.Tensor2D {
    let h = x;
    this.layers.forEach((layer, i) => {
      const hidden = i < this.layers.length - 1;
      h = layer.apply(h, hidden || this.reluOnLast);
      if (hidden && dropout !== undefined) h = dropout(h);
    });
    return h;
  }
}

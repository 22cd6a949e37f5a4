// The four CTR heads of methods-spec §4, each taking dense features [B, numDense] (null when the
// dataset has none) and the gathered embedding rows [B, F, D], returning logits [B].
import * as tf from '@tensorflow/tfjs';
import type { DcnConfig, DeepFmConfig, DlrmConfig, ModelConfig, WdlConfig } from './config';
import { DotInteraction } from './interaction';
import { Linear, Mlp, type ParamStore } from './layers';

export interface Network {
  /** Logits [B]. `dense` is null exactly when the config has numDense = 0. */
  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D): tf.Tensor1D;
  dispose(): void;
}

/** [B, F, D] → [B, F·D], then [dense] appended when present (WDL and DCN input x₀). */
function flatInput(dense: tf.Tensor2D | null, rows: tf.Tensor3D): tf.Tensor2D {
  const [B, F, D] = rows.shape;
  const flat = tf.reshape(rows, [B, F * D]) as tf.Tensor2D;
  return dense === null ? flat : tf.concat([flat, dense], 1);
}

function toVector(x: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(x, [x.shape[0]]) as tf.Tensor1D;
}

/**
 * DLRM: bottom MLP numDense → 512 → 256 → 64 → D with ReLU after every layer (the last too);
 * dot interaction over [bottom; F embeddings], strict lower triangle; top MLP over
 * [bottom, triangle] → 512 → 256 → 1, ReLU except the last. Without dense features: only the F
 * embeddings interact and nothing is prepended.
 */
export class DlrmNet implements Network {
  readonly bottom: Mlp | undefined;
  readonly interaction: DotInteraction;
  readonly top: Mlp;

  constructor(
    readonly config: DlrmConfig,
    store: ParamStore,
  ) {
    const { numDense, numFields: F, dim: D } = config;
    this.bottom =
      numDense > 0 ? new Mlp(store, 'bottom', [numDense, ...config.bottom, D], true) : undefined;
    this.interaction = new DotInteraction(F, this.bottom !== undefined);
    const topIn = (this.bottom ? D : 0) + this.interaction.outputSize;
    this.top = new Mlp(store, 'top', [topIn, ...config.top, 1], false);
  }

  /** Inputs of the top MLP: D + (F+1)F/2 with dense features (Criteo 367), F(F−1)/2 without. */
  get topInputSize(): number {
    return this.top.sizes[0] as number;
  }

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D): tf.Tensor1D {
    let x: tf.Tensor2D;
    if (this.bottom !== undefined && dense !== null) {
      const b = this.bottom.apply(dense);
      x = tf.concat([b, this.interaction.apply(b, rows)], 1);
    } else {
      x = this.interaction.apply(null, rows);
    }
    return toVector(this.top.apply(x));
  }

  dispose(): void {
    this.interaction.dispose();
  }
}

/** Wide & Deep: x = [flattened embeddings, dense]; deep x → 256 → 256 → 1; wide x → 1 (no bias). */
export class WdlNet implements Network {
  readonly deep: Mlp;
  readonly wide: Linear;

  constructor(
    readonly config: WdlConfig,
    store: ParamStore,
  ) {
    const inSize = config.numFields * config.dim + config.numDense;
    this.deep = new Mlp(store, 'deep', [inSize, ...config.deep, 1], false);
    this.wide = new Linear(store, 'wide', inSize, 1, false);
  }

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D): tf.Tensor1D {
    const x = flatInput(dense, rows);
    return toVector(tf.add(this.deep.apply(x), this.wide.apply(x)));
  }

  dispose(): void {
    // Nothing of its own: the ParamStore owns the weights.
  }
}

/**
 * DCN: x₀ = [flattened embeddings, dense]; cross layers x_{l+1} = x₀ · (x_l w_l) + b_l + x_l with
 * w_l stored as [in, 1]; deep x₀ → 256 → 256 → 256 (ReLU on all but the last); output
 * Linear([x_L, deep] → 1) with bias.
 */
export class DcnNet implements Network {
  readonly cross: { weight: tf.Variable; bias: tf.Variable }[];
  readonly deep: Mlp;
  readonly out: Linear;

  constructor(
    readonly config: DcnConfig,
    store: ParamStore,
  ) {
    const inSize = config.numFields * config.dim + config.numDense;
    this.cross = [];
    for (let l = 0; l < config.crossLayers; l += 1)
      this.cross.push({
        weight: store.xavier(`cross.${l}.weight`, [inSize, 1], inSize, 1),
        bias: store.zeros(`cross.${l}.bias`, [inSize]),
      });
    this.deep = new Mlp(store, 'deep', [inSize, ...config.deep], false);
    this.out = new Linear(store, 'out', inSize + this.deep.outSize, 1, true);
  }

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D): tf.Tensor1D {
    const x0 = flatInput(dense, rows);
    let x = x0;
    for (const { weight, bias } of this.cross)
      x = tf.add(tf.add(tf.mul(x0, tf.matMul(x, weight)), bias), x);
    return toVector(this.out.apply(tf.concat([x, this.deep.apply(x0)], 1)));
  }

  dispose(): void {
    // Nothing of its own: the ParamStore owns the weights.
  }
}

/**
 * DeepFM: coordinate 0 of each field embedding is its first-order weight, coordinates 1..D−1 its
 * FM latent vector. first = Σ_f e_f[0] + dense·w (no bias, only with dense features);
 * second = ½ Σ_k [(Σ_f v_fk)² − Σ_f v_fk²]; DNN over the flattened latents F·(D−1) → 256 → 256 → 1.
 */
export class DeepFmNet implements Network {
  readonly linear: Linear | undefined;
  readonly deep: Mlp;

  constructor(
    readonly config: DeepFmConfig,
    store: ParamStore,
  ) {
    const { numDense, numFields: F, dim: D } = config;
    // (pitfall) the reference builds a Linear(0 → 1) when there are no dense features: skipped.
    this.linear = numDense > 0 ? new Linear(store, 'linear', numDense, 1, false) : undefined;
    this.deep = new Mlp(store, 'deep', [F * (D - 1), ...config.deep, 1], false);
  }

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D): tf.Tensor1D {
    const [B, F, D] = rows.shape;
    const first = tf.sum(tf.slice(rows, [0, 0, 0], [B, F, 1]), [1, 2]);
    const latent = tf.slice(rows, [0, 0, 1], [B, F, D - 1]);
    const sum = tf.sum(latent, 1);
    const second = tf.mul(tf.sum(tf.sub(tf.square(sum), tf.sum(tf.square(latent), 1)), 1), 0.5);
    const dnn = toVector(this.deep.apply(tf.reshape(latent, [B, F * (D - 1)]) as tf.Tensor2D));
    let logit = tf.add(tf.add(first, second), dnn) as tf.Tensor1D;
    if (this.linear !== undefined && dense !== null)
      logit = tf.add(logit, toVector(this.linear.apply(dense)));
    return logit;
  }

  dispose(): void {
    // Nothing of its own: the ParamStore owns the weights.
  }
}

export function buildNetwork(config: ModelConfig, store: ParamStore): Network {
  switch (config.kind) {
    case 'dlrm':
      return new DlrmNet(config, store);
    case 'wdl':
      return new WdlNet(config, store);
    case 'dcn':
      return new DcnNet(config, store);
    case 'deepfm':
      return new DeepFmNet(config, store);
  }
}

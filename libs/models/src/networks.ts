// The CTR heads (DLRM, WDL, DCN, DeepFM as in docs/models.md, and FM), each taking dense features [B, numDense] (null when the
// dataset has none) and the gathered embedding rows [B, F, D], returning logits [B].
import * as tf from '@tensorflow/tfjs';
import type {
  DcnConfig,
  DeepFmConfig,
  DlrmConfig,
  FmModelConfig,
  ModelConfig,
  WdlConfig,
} from './config';
import { DotInteraction } from './interaction';
import { Linear, Mlp, type Dropout, type ParamStore } from './layers';

export interface Network {
  /**
   * Logits [B]. `dense` is null exactly when the config has numDense = 0. `dropout` (training
   * steps only) is applied inside the MLPs' hidden layers (Mlp.apply); FM has none to apply it to.
   */
  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D, dropout?: Dropout): tf.Tensor1D;
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

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D, dropout?: Dropout): tf.Tensor1D {
    let x: tf.Tensor2D;
    if (this.bottom !== undefined && dense !== null) {
      const b = this.bottom.apply(dense, dropout);
      x = tf.concat([b, this.interaction.apply(b, rows)], 1);
    } else {
      x = this.interaction.apply(null, rows);
    }
    return toVector(this.top.apply(x, dropout));
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

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D, dropout?: Dropout): tf.Tensor1D {
    const x = flatInput(dense, rows);
    return toVector(tf.add(this.deep.apply(x, dropout), this.wide.apply(x)));
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

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D, dropout?: Dropout): tf.Tensor1D {
    const x0 = flatInput(dense, rows);
    let x = x0;
    for (const { weight, bias } of this.cross)
      x = tf.add(tf.add(tf.mul(x0, tf.matMul(x, weight)), bias), x);
    return toVector(this.out.apply(tf.concat([x, this.deep.apply(x0, dropout)], 1)));
  }

  dispose(): void {
    // Nothing of its own: the ParamStore owns the weights.
  }
}

/**
 * The FM part of DeepFM and FM over the rows [B, F, D]: coordinate 0 of each field embedding is
 * its first-order weight, coordinates 1..D−1 its latent vector v_f.
 * first = Σ_f e_f[0]; second = ½ Σ_k [(Σ_f v_fk)² − Σ_f v_fk²] (all pairs f < g of <v_f, v_g>).
 * Returns first + second [B] and the latent parts [B, F, D−1].
 */
function fmTerms(rows: tf.Tensor3D): { logit: tf.Tensor1D; latent: tf.Tensor3D } {
  const [B, F, D] = rows.shape;
  const first = tf.sum(tf.slice(rows, [0, 0, 0], [B, F, 1]), [1, 2]);
  const latent = tf.slice(rows, [0, 0, 1], [B, F, D - 1]);
  const sum = tf.sum(latent, 1);
  const second = tf.mul(tf.sum(tf.sub(tf.square(sum), tf.sum(tf.square(latent), 1)), 1), 0.5);
  return { logit: tf.add(first, second) as tf.Tensor1D, latent };
}

/**
 * The first-order term of the dense features, dense·w (no bias). Its weights start at ZERO, not
 * Xavier-normal as the reference's: a Xavier draw (σ = sqrt(2/(numDense+1)) ≈ 0.38 for Criteo)
 * over log-transformed counts adds a random logit offset of std ~2-3 per sample that a short run
 * spends its steps unlearning (DeepFM 0.60 vs 0.71 test AUC; docs/models.md).
 */
function denseFirstOrder(store: ParamStore, numDense: number): Linear | undefined {
  // (pitfall) the reference builds a Linear(0 → 1) when there are no dense features: skipped.
  return numDense > 0 ? new Linear(store, 'linear', numDense, 1, false, 'zeros') : undefined;
}

/**
 * DeepFM: logit = first-order + second-order (fmTerms) + dense·w (denseFirstOrder, only with
 * dense features) + a DNN over the flattened latents F·(D−1) → 256 → 256 → 1.
 */
export class DeepFmNet implements Network {
  readonly linear: Linear | undefined;
  readonly deep: Mlp;

  constructor(
    readonly config: DeepFmConfig,
    store: ParamStore,
  ) {
    const { numDense, numFields: F, dim: D } = config;
    this.linear = denseFirstOrder(store, numDense);
    this.deep = new Mlp(store, 'deep', [F * (D - 1), ...config.deep, 1], false);
  }

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D, dropout?: Dropout): tf.Tensor1D {
    const [B, F, D] = rows.shape;
    const fm = fmTerms(rows);
    const dnn = toVector(
      this.deep.apply(tf.reshape(fm.latent, [B, F * (D - 1)]) as tf.Tensor2D, dropout),
    );
    let logit = tf.add(fm.logit, dnn) as tf.Tensor1D;
    if (this.linear !== undefined && dense !== null)
      logit = tf.add(logit, toVector(this.linear.apply(dense)));
    return logit;
  }

  dispose(): void {
    // Nothing of its own: the ParamStore owns the weights.
  }
}

/**
 * FM (Rendle 2010) over the sparse fields' rows: logit = b + first-order + second-order
 * (fmTerms) + dense·w (denseFirstOrder, only with dense features; dense features have no latent
 * vector). Its only dense weights are b and w, both starting at zero: everything else is
 * embedding rows, trained by the table's sparse optimizer.
 */
export class FmNet implements Network {
  readonly linear: Linear | undefined;
  readonly bias: tf.Variable;

  constructor(
    readonly config: FmModelConfig,
    store: ParamStore,
  ) {
    this.linear = denseFirstOrder(store, config.numDense);
    this.bias = store.zeros('bias', [1]);
  }

  logits(dense: tf.Tensor2D | null, rows: tf.Tensor3D): tf.Tensor1D {
    let logit = tf.add(fmTerms(rows).logit, this.bias) as tf.Tensor1D;
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
    case 'fm':
      return new FmNet(config, store);
  }
}

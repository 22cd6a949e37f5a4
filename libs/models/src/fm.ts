// A plain factorization machine (Rendle 2010), the baseline the trainer's DLRM is measured against:
//
//   logit(x) = w0 + Σ_i w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j
//            = w0 + Σ_i w_i x_i + ½ Σ_k [(Σ_i v_ik x_i)² − Σ_i v_ik² x_i²]
//
// over one-hot categorical fields (x_i = 1 for the sample's global id of each field) and the dense
// features (x_j = the already-transformed value). Loss: mean BCE with logits. Plain typed arrays,
// no tfjs: per sample the model touches F + numDense rows of k + 1 floats, so a lazy sparse
// update (Adagrad or Adam on the touched rows only, as the sparse engine does) is all it needs.
import { ModelConfigError, InputShapeError } from './errors';
import { NormalRng } from './rng';

export type FmOptimizerKind = 'adagrad' | 'adam';

export interface FmConfig {
  /** Size of the categorical id space (global ids are in [0, numFeatures)). */
  numFeatures: number;
  /** Categorical fields per sample. */
  numFields: number;
  /** Dense features per sample (feature indices numFeatures .. numFeatures + numDense − 1). */
  numDense: number;
  /** Rank k of the factor vectors. */
  factors: number;
}

export interface FmOptions {
  seed?: number;
  /** Standard deviation of the initial factors (weights start at 0). Default 0.01. */
  initStd?: number;
  optimizer?: { kind: FmOptimizerKind; lr: number; eps?: number; beta1?: number; beta2?: number };
  /** L2 weight decay on the rows a batch touches (lazy, like the update). Default 0. */
  l2?: number;
}

export interface FmStepResult {
  /** Mean BCE-with-logits loss of the batch before the update. */
  loss: number;
  /** Logits before the update. */
  logits: Float32Array;
}

/** Full-size gradients of the mean loss (tests and gradient checks; no update). */
export interface FmGradients extends FmStepResult {
  bias: number;
  /** d loss / d w, one per feature (categorical then dense). */
  linear: Float64Array;
  /** d loss / d v, [feature][k]. */
  factors: Float64Array;
}

function positiveInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min)
    throw new ModelConfigError(`fm: ${name} must be an integer >= ${min}, got ${v}`);
}

export class FactorizationMachine {
  readonly config: FmConfig;
  /** w0. */
  bias = 0;
  /** w: numFeatures + numDense. */
  readonly linear: Float32Array;
  /** v: (numFeatures + numDense) × factors, row-major. */
  readonly factors: Float32Array;
  readonly optimizerKind: FmOptimizerKind;
  lr: number;
  private readonly eps: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly l2: number;
  /** Optimizer slots of each row [w, v_0..v_{k−1}] (Adagrad: sum of squares; Adam: m and v). */
  private readonly slotA: Float32Array;
  private readonly slotB: Float32Array | undefined;
  private biasA = 0;
  private biasB = 0;
  private t = 0;
  /** Row → position in the batch's gradient scratch, −1 when untouched. */
  private readonly slotOf: Int32Array;

  constructor(config: FmConfig, options: FmOptions = {}) {
    positiveInt('numFeatures', config.numFeatures, 1);
    positiveInt('numFields', config.numFields, 1);
    positiveInt('numDense', config.numDense, 0);
    positiveInt('factors', config.factors, 1);
    const opt = options.optimizer ?? { kind: 'adagrad', lr: 0.05 };
    if (opt.kind !== 'adagrad' && opt.kind !== 'adam')
      throw new ModelConfigError(
        `fm: optimizer must be adagrad or adam, got ${JSON.stringify(opt.kind)}`,
      );
    if (!(Number.isFinite(opt.lr) && opt.lr > 0))
      throw new ModelConfigError(`fm: lr must be > 0, got ${opt.lr}`);
    const l2 = options.l2 ?? 0;
    if (!(Number.isFinite(l2) && l2 >= 0))
      throw new ModelConfigError(`fm: l2 must be >= 0, got ${l2}`);
    this.config = { ...config };
    this.optimizerKind = opt.kind;
    this.lr = opt.lr;
    this.eps = opt.eps ?? (opt.kind === 'adagrad' ? 1e-7 : 1e-8);
    this.beta1 = opt.beta1 ?? 0.9;
    this.beta2 = opt.beta2 ?? 0.999;
    this.l2 = l2;
    const n = config.numFeatures + config.numDense;
    const k = config.factors;
    this.linear = new Float32Array(n);
    this.factors = new NormalRng(options.seed ?? 1).fill(n * k, options.initStd ?? 0.01);
    this.slotA = new Float32Array(n * (k + 1));
    this.slotB = opt.kind === 'adam' ? new Float32Array(n * (k + 1)) : undefined;
    this.slotOf = new Int32Array(n).fill(-1);
  }

  /** Number of parameters (w0, w, v). */
  parameterCount(): number {
    return 1 + this.linear.length + this.factors.length;
  }

  /** Logits of a batch: ids B × numFields global ids, dense B × numDense. */
  predictLogits(ids: Uint32Array, dense: Float32Array): Float32Array {
    const B = this.batchSize(ids, dense);
    const out = new Float32Array(B);
    const sums = new Float64Array(this.config.factors);
    for (let s = 0; s < B; s += 1) out[s] = this.forwardSample(ids, dense, s, sums);
    return out;
  }

  /** Click probabilities. */
  predict(ids: Uint32Array, dense: Float32Array): Float32Array {
    const logits = this.predictLogits(ids, dense);
    for (let i = 0; i < logits.length; i += 1)
      logits[i] = 1 / (1 + Math.exp(-(logits[i] as number)));
    return logits;
  }

  /** Loss and full gradients without changing anything. */
  gradients(ids: Uint32Array, dense: Float32Array, labels: Float32Array): FmGradients {
    const B = this.checkLabels(ids, dense, labels);
    const { numFields: F, numDense: nd, numFeatures: N, factors: K } = this.config;
    const linear = new Float64Array(N + nd);
    const factors = new Float64Array((N + nd) * K);
    let bias = 0;
    const sums = new Float64Array(K);
    const logits = new Float32Array(B);
    let loss = 0;
    for (let s = 0; s < B; s += 1) {
      const z = this.forwardSample(ids, dense, s, sums);
      logits[s] = z;
      const y = labels[s] as number;
      loss += bce(z, y);
      const g = (sigmoid(z) - y) / B;
      bias += g;
      for (let f = 0; f < F; f += 1)
        this.rowGrad(ids[s * F + f] as number, 1, g, sums, linear, factors);
      for (let j = 0; j < nd; j += 1) {
        const x = dense[s * nd + j] as number;
        if (x !== 0) this.rowGrad(N + j, x, g, sums, linear, factors);
      }
    }
    return { loss: loss / B, logits, bias, linear, factors };
  }

  /** One optimizer step on the batch's mean loss; only the rows the batch touches change. */
  step(ids: Uint32Array, dense: Float32Array, labels: Float32Array): FmStepResult {
    const B = this.checkLabels(ids, dense, labels);
    const { numFields: F, numDense: nd, numFeatures: N, factors: K } = this.config;
    const W = K + 1;
    // Gradient scratch of the touched rows: [w, v_0..v_{k−1}] each.
    const maxRows = B * F + nd;
    const grad = new Float64Array(maxRows * W);
    const touched = new Int32Array(maxRows);
    let nTouched = 0;
    const slotOf = this.slotOf;
    const sums = new Float64Array(K);
    const logits = new Float32Array(B);
    let loss = 0;
    let biasGrad = 0;
    const v = this.factors;
    const accumulate = (row: number, x: number, g: number) => {
      let slot = slotOf[row] as number;
      if (slot < 0) {
        slot = nTouched;
        slotOf[row] = slot;
        touched[nTouched++] = row;
      }
      const o = slot * W;
      const gx = g * x;
      grad[o] = (grad[o] as number) + gx;
      const vo = row * K;
      for (let k = 0; k < K; k += 1)
        grad[o + 1 + k] =
          (grad[o + 1 + k] as number) + gx * ((sums[k] as number) - (v[vo + k] as number) * x);
    };
    try {
      for (let s = 0; s < B; s += 1) {
        const z = this.forwardSample(ids, dense, s, sums);
        logits[s] = z;
        const y = labels[s] as number;
        loss += bce(z, y);
        const g = (sigmoid(z) - y) / B;
        biasGrad += g;
        for (let f = 0; f < F; f += 1) accumulate(ids[s * F + f] as number, 1, g);
        for (let j = 0; j < nd; j += 1) {
          const x = dense[s * nd + j] as number;
          if (x !== 0) accumulate(N + j, x, g);
        }
      }
      this.t += 1;
      this.biasUpdate(biasGrad);
      for (let r = 0; r < nTouched; r += 1) this.rowUpdate(touched[r] as number, grad, r * W);
    } finally {
      for (let r = 0; r < nTouched; r += 1) slotOf[touched[r] as number] = -1;
    }
    return { loss: loss / B, logits };
  }

  /** A copy of every parameter (best-state snapshots). */
  snapshot(): { bias: number; linear: Float32Array; factors: Float32Array } {
    return { bias: this.bias, linear: this.linear.slice(), factors: this.factors.slice() };
  }

  restore(s: { bias: number; linear: Float32Array; factors: Float32Array }): void {
    if (s.linear.length !== this.linear.length || s.factors.length !== this.factors.length)
      throw new InputShapeError('fm: snapshot of another shape');
    this.bias = s.bias;
    this.linear.set(s.linear);
    this.factors.set(s.factors);
  }

  private forwardSample(
    ids: Uint32Array,
    dense: Float32Array,
    s: number,
    sums: Float64Array,
  ): number {
    const { numFields: F, numDense: nd, numFeatures: N, factors: K } = this.config;
    const w = this.linear;
    const v = this.factors;
    sums.fill(0);
    let sq = 0;
    let z = this.bias;
    for (let f = 0; f < F; f += 1) {
      const i = ids[s * F + f] as number;
      if (i >= N) throw new InputShapeError(`fm: id ${i} is outside [0, ${N})`);
      z += w[i] as number;
      const o = i * K;
      for (let k = 0; k < K; k += 1) {
        const t = v[o + k] as number;
        sums[k] = (sums[k] as number) + t;
        sq += t * t;
      }
    }
    for (let j = 0; j < nd; j += 1) {
      const x = dense[s * nd + j] as number;
      if (x === 0) continue;
      const i = N + j;
      z += (w[i] as number) * x;
      const o = i * K;
      for (let k = 0; k < K; k += 1) {
        const t = (v[o + k] as number) * x;
        sums[k] = (sums[k] as number) + t;
        sq += t * t;
      }
    }
    let pair = 0;
    for (let k = 0; k < K; k += 1) pair += (sums[k] as number) * (sums[k] as number);
    return z + 0.5 * (pair - sq);
  }

  private rowGrad(
    row: number,
    x: number,
    g: number,
    sums: Float64Array,
    linear: Float64Array,
    factors: Float64Array,
  ): void {
    const K = this.config.factors;
    const gx = g * x;
    linear[row] = (linear[row] as number) + gx;
    const o = row * K;
    for (let k = 0; k < K; k += 1)
      factors[o + k] =
        (factors[o + k] as number) +
        gx * ((sums[k] as number) - (this.factors[o + k] as number) * x);
  }

  private biasUpdate(g: number): void {
    if (this.optimizerKind === 'adagrad') {
      this.biasA += g * g;
      this.bias -= (this.lr * g) / (Math.sqrt(this.biasA) + this.eps);
    } else {
      this.biasA = this.beta1 * this.biasA + (1 - this.beta1) * g;
      this.biasB = this.beta2 * this.biasB + (1 - this.beta2) * g * g;
      const mHat = this.biasA / (1 - this.beta1 ** this.t);
      const vHat = this.biasB / (1 - this.beta2 ** this.t);
      this.bias -= (this.lr * mHat) / (Math.sqrt(vHat) + this.eps);
    }
  }

  /** Updates row `row` ([w, v]) from its gradient at grad[o .. o + k]. */
  private rowUpdate(row: number, grad: Float64Array, o: number): void {
    const K = this.config.factors;
    const W = K + 1;
    const a = this.slotA;
    const lr = this.lr;
    const eps = this.eps;
    const l2 = this.l2;
    const base = row * W;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    for (let c = 0; c < W; c += 1) {
      const p = c === 0 ? (this.linear[row] as number) : (this.factors[row * K + c - 1] as number);
      const g = (grad[o + c] as number) + l2 * p;
      let next: number;
      if (this.slotB === undefined) {
        const acc = (a[base + c] as number) + g * g;
        a[base + c] = acc;
        next = p - (lr * g) / (Math.sqrt(acc) + eps);
      } else {
        const b = this.slotB;
        const m = this.beta1 * (a[base + c] as number) + (1 - this.beta1) * g;
        const s = this.beta2 * (b[base + c] as number) + (1 - this.beta2) * g * g;
        a[base + c] = m;
        b[base + c] = s;
        next = p - (lr * (m / c1)) / (Math.sqrt(s / c2) + eps);
      }
      if (c === 0) this.linear[row] = next;
      else this.factors[row * K + c - 1] = next;
    }
  }

  private batchSize(ids: Uint32Array, dense: Float32Array): number {
    const { numFields: F, numDense: nd } = this.config;
    if (ids.length % F !== 0 || ids.length === 0)
      throw new InputShapeError(
        `fm: ids: ${ids.length} values is not a positive multiple of ${F} fields`,
      );
    const B = ids.length / F;
    if (dense.length !== B * nd)
      throw new InputShapeError(
        `fm: dense: expected ${B}×${nd} = ${B * nd} floats, got ${dense.length}`,
      );
    return B;
  }

  private checkLabels(ids: Uint32Array, dense: Float32Array, labels: Float32Array): number {
    const B = this.batchSize(ids, dense);
    if (labels.length !== B)
      throw new InputShapeError(`fm: labels: expected ${B}, got ${labels.length}`);
    return B;
  }
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** BCE with logits, stable for any z. */
function bce(z: number, y: number): number {
  return Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
}

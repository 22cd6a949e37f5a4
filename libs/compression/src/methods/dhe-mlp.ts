// The DHE decoder MLP (docs/methods/dhe.md) in plain TypeScript on typed arrays:
//   Linear(k→h) → BN(h) → Mish → 4 × [Linear(h→h) → BN(h) → Mish] → Linear(h→D).
// Parameters are Float32Array (what the optimizer updates and the artifact stores); every
// activation and every accumulation is float64, so finite-difference checks are meaningful.
// Weights are row-major out × in (y = x·Wᵀ + b, PyTorch's Linear layout; the reference's
// matmul(x, W) with W in × out is the same map): every product is then a row-by-row dot product.
//
// Two forwards:
//  - training (`DheMlp.trainForward`): BatchNorm with the statistics of the rows given (biased
//    variance), activations kept for `trainBackward`;
//  - inference (`inferForward`): BatchNorm with running statistics, FOLDED into the preceding
//    Linear (`DheMlp.foldInto`): W'[j][p] = s_j·W[j][p], b'_j = (b_j − μ_j)·s_j + β_j with
//    s_j = γ_j / sqrt(σ²_j + ε). The serving table stores only the folded weights.
import type { Rng } from '../core/rng';

export const BN_MOMENTUM = 0.1;
export const BN_EPS = 1e-5;
/** Linear layers (the first five are followed by BatchNorm and Mish). */
export const LINEAR_LAYERS = 6;
export const BN_LAYERS = 5;

/** Widths [k, h, h, h, h, h, D]: layer l maps dims[l] → dims[l + 1]. */
export function mlpDims(input: number, hidden: number, output: number): number[] {
  return [input, hidden, hidden, hidden, hidden, hidden, output];
}

/** Floats of the folded (serving) MLP: (k+1)·h + 4·(h+1)·h + (h+1)·D. */
export function foldedFloats(input: number, hidden: number, output: number): number {
  return (input + 1) * hidden + 4 * (hidden + 1) * hidden + (hidden + 1) * output;
}

/**
 * tanh(softplus(z)) with one exp: with e = exp(z), tanh(ln(1 + e)) = e(e + 2) / (e(e + 2) + 2)
 * (Math.tanh/log1p cost ~10× more per call in V8, and the MLP calls this 5·h times per id).
 */
function tanhSoftplus(z: number): number {
  if (z > 20) return 1;
  const e = Math.exp(z);
  const q = e * (e + 2);
  return q / (q + 2);
}

/** Mish(z) = z·tanh(softplus(z)). */
export function mish(z: number): number {
  return z * tanhSoftplus(z);
}

/** d Mish / dz = tanh(sp) + z·(1 − tanh²(sp))·sigmoid(z). */
export function mishGrad(z: number): number {
  const t = tanhSoftplus(z);
  const sigmoid = 1 / (1 + Math.exp(-z));
  return t + z * (1 - t * t) * sigmoid;
}

type Floats = Float32Array | Float64Array;

/**
 * out[r][c] = bias[c] + Σ_q A[r][q]·B[c][q], A rows × inner, B cols × inner, out rows × cols (all
 * row-major). Register-blocked 4 rows × 2 columns with float64 accumulators: every product of the
 * MLP (forward, input and weight gradients) goes through this one kernel (≈ 4× a naive loop in V8).
 */
export function gemmNT(
  A: Float64Array,
  rows: number,
  B: Floats,
  cols: number,
  inner: number,
  bias: Float32Array | undefined,
  out: Floats,
): void {
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const a0 = r * inner;
    const a1 = a0 + inner;
    const a2 = a1 + inner;
    const a3 = a2 + inner;
    const o0 = r * cols;
    const o1 = o0 + cols;
    const o2 = o1 + cols;
    const o3 = o2 + cols;
    for (let c = 0; c < cols; c += 2) {
      const pair = c + 1 < cols;
      const b0 = c * inner;
      const b1 = pair ? b0 + inner : b0;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      let s20 = 0;
      let s21 = 0;
      let s30 = 0;
      let s31 = 0;
      for (let q = 0; q < inner; q += 1) {
        const u = B[b0 + q] as number;
        const v = B[b1 + q] as number;
        const x0 = A[a0 + q] as number;
        const x1 = A[a1 + q] as number;
        const x2 = A[a2 + q] as number;
        const x3 = A[a3 + q] as number;
        s00 += x0 * u;
        s01 += x0 * v;
        s10 += x1 * u;
        s11 += x1 * v;
        s20 += x2 * u;
        s21 += x2 * v;
        s30 += x3 * u;
        s31 += x3 * v;
      }
      const z0 = bias === undefined ? 0 : (bias[c] as number);
      out[o0 + c] = s00 + z0;
      out[o1 + c] = s10 + z0;
      out[o2 + c] = s20 + z0;
      out[o3 + c] = s30 + z0;
      if (pair) {
        const z1 = bias === undefined ? 0 : (bias[c + 1] as number);
        out[o0 + c + 1] = s01 + z1;
        out[o1 + c + 1] = s11 + z1;
        out[o2 + c + 1] = s21 + z1;
        out[o3 + c + 1] = s31 + z1;
      }
    }
  }
  for (; r < rows; r += 1) {
    const a0 = r * inner;
    const o0 = r * cols;
    for (let c = 0; c < cols; c += 1) {
      const b0 = c * inner;
      let s = bias === undefined ? 0 : (bias[c] as number);
      for (let q = 0; q < inner; q += 1) s += (A[a0 + q] as number) * (B[b0 + q] as number);
      out[o0 + c] = s;
    }
  }
}

/** out (cols × rows) = transpose of x (rows × cols). */
export function transpose(x: Floats, rows: number, cols: number, out: Floats): void {
  for (let r = 0; r < rows; r += 1) {
    const src = r * cols;
    for (let c = 0; c < cols; c += 1) out[c * rows + r] = x[src + c] as number;
  }
}

/** Σ over rows of x (rows × cols) into out (cols). */
function columnSums(x: Float64Array, rows: number, cols: number, out: Float32Array): void {
  for (let c = 0; c < cols; c += 1) {
    let s = 0;
    for (let r = 0; r < rows; r += 1) s += x[r * cols + c] as number;
    out[c] = s;
  }
}

/** The serving form: BN folded into Linear layers 0..4; layer 5 as trained. */
export interface FoldedMlp {
  readonly weights: readonly Float32Array[];
  readonly biases: readonly Float32Array[];
}

export function allocFolded(input: number, hidden: number, output: number): FoldedMlp {
  const dims = mlpDims(input, hidden, output);
  const weights: Float32Array[] = [];
  const biases: Float32Array[] = [];
  for (let l = 0; l < LINEAR_LAYERS; l += 1) {
    weights.push(new Float32Array((dims[l] as number) * (dims[l + 1] as number)));
    biases.push(new Float32Array(dims[l + 1] as number));
  }
  return { weights, biases };
}

/**
 * Inference on `n` encoded rows `x` (n × k) with folded weights into `out` (n × D). `tmpA`, `tmpB`
 * hold at least n·h values. Allocates nothing.
 */
export function inferForward(
  folded: FoldedMlp,
  input: number,
  hidden: number,
  output: number,
  x: Float64Array,
  n: number,
  tmpA: Float64Array,
  tmpB: Float64Array,
  out: Float64Array,
): void {
  let src = x;
  let inDim = input;
  let dst = tmpA;
  for (let l = 0; l < BN_LAYERS; l += 1) {
    gemmNT(
      src,
      n,
      folded.weights[l] as Float32Array,
      hidden,
      inDim,
      folded.biases[l] as Float32Array,
      dst,
    );
    const count = n * hidden;
    for (let i = 0; i < count; i += 1) dst[i] = mish(dst[i] as number);
    src = dst;
    dst = dst === tmpA ? tmpB : tmpA;
    inDim = hidden;
  }
  gemmNT(
    src,
    n,
    folded.weights[BN_LAYERS] as Float32Array,
    output,
    hidden,
    folded.biases[BN_LAYERS] as Float32Array,
    out,
  );
}

/** Names of the trainable parameters of one MLP, in `DheMlp.params()` order. */
export function mlpParamNames(prefix: string): string[] {
  const names: string[] = [];
  for (let l = 0; l < LINEAR_LAYERS; l += 1) names.push(`${prefix}.w${l}`, `${prefix}.b${l}`);
  for (let l = 0; l < BN_LAYERS; l += 1)
    names.push(`${prefix}.bn${l}.scale`, `${prefix}.bn${l}.shift`);
  return names;
}

/** The training form of one DHE MLP: parameters, BN running statistics, and its workspace. */
export class DheMlp {
  readonly dims: number[];
  readonly weights: Float32Array[] = [];
  readonly biases: Float32Array[] = [];
  readonly scales: Float32Array[] = [];
  readonly shifts: Float32Array[] = [];
  readonly runningMean: Float32Array[] = [];
  readonly runningVar: Float32Array[] = [];
  /** Gradients, same layout as params(); written by trainBackward. */
  readonly grads: Float32Array[];

  // Workspace of the last trainForward (grown, never shrunk).
  private capacity = 0;
  private n = 0;
  private input: Float64Array = new Float64Array(0);
  private readonly xhat: Float64Array[] = [];
  private readonly act: Float64Array[] = [];
  private readonly batchMean: Float64Array[] = [];
  private readonly batchVar: Float64Array[] = [];
  private readonly invStd: Float64Array[] = [];
  private dA = new Float64Array(0);
  private dB = new Float64Array(0);
  /** Transposes for the weight gradients: activations (in × n) and dz (out × n). */
  private belowT = new Float64Array(0);
  private dzT = new Float64Array(0);
  /** A weight transposed (in × out) for the input gradient; allocated on first backward. */
  private wT = new Float32Array(0);
  private readonly row: Float64Array;
  private readonly colA: Float64Array;
  private readonly colB: Float64Array;

  constructor(
    readonly inputDim: number,
    readonly hidden: number,
    readonly output: number,
    rng: Rng,
    bound: number,
  ) {
    this.dims = mlpDims(inputDim, hidden, output);
    for (let l = 0; l < LINEAR_LAYERS; l += 1) {
      const w = new Float32Array((this.dims[l] as number) * (this.dims[l + 1] as number));
      this.weights.push(rng.fillUniform(w, -bound, bound));
      this.biases.push(new Float32Array(this.dims[l + 1] as number));
    }
    for (let l = 0; l < BN_LAYERS; l += 1) {
      this.scales.push(new Float32Array(hidden).fill(1));
      this.shifts.push(new Float32Array(hidden));
      this.runningMean.push(new Float32Array(hidden));
      this.runningVar.push(new Float32Array(hidden).fill(1));
      this.batchMean.push(new Float64Array(hidden));
      this.batchVar.push(new Float64Array(hidden));
      this.invStd.push(new Float64Array(hidden));
    }
    this.grads = this.params().map((p) => new Float32Array(p.length));
    this.row = new Float64Array(Math.max(hidden, output));
    this.colA = new Float64Array(hidden);
    this.colB = new Float64Array(hidden);
  }

  /** Trainable parameters: w0, b0, ..., w5, b5, then bn0.scale, bn0.shift, ..., bn4.shift. */
  params(): Float32Array[] {
    const list: Float32Array[] = [];
    for (let l = 0; l < LINEAR_LAYERS; l += 1)
      list.push(this.weights[l] as Float32Array, this.biases[l] as Float32Array);
    for (let l = 0; l < BN_LAYERS; l += 1)
      list.push(this.scales[l] as Float32Array, this.shifts[l] as Float32Array);
    return list;
  }

  private ensure(n: number): void {
    if (n <= this.capacity) return;
    const cap = Math.max(n, 2 * this.capacity);
    this.xhat.length = 0;
    this.act.length = 0;
    for (let l = 0; l < BN_LAYERS; l += 1) {
      this.xhat.push(new Float64Array(cap * this.hidden));
      this.act.push(new Float64Array(cap * this.hidden));
    }
    this.dA = new Float64Array(cap * this.hidden);
    this.dB = new Float64Array(cap * this.hidden);
    this.belowT = new Float64Array(cap * Math.max(this.inputDim, this.hidden));
    this.dzT = new Float64Array(cap * Math.max(this.hidden, this.output));
    this.capacity = cap;
  }

  /**
   * Training forward of `n` encoded rows `x` (n × k, kept by reference until trainBackward) into
   * `out` (n × D), with BatchNorm over these n rows (biased variance, as in training).
   */
  trainForward(x: Float64Array, n: number, out: Float64Array): void {
    this.ensure(n);
    this.n = n;
    this.input = x;
    const h = this.hidden;
    let src = x;
    let inDim = this.inputDim;
    for (let l = 0; l < BN_LAYERS; l += 1) {
      const z = this.xhat[l] as Float64Array;
      gemmNT(src, n, this.weights[l] as Float32Array, h, inDim, this.biases[l] as Float32Array, z);
      const mean = this.batchMean[l] as Float64Array;
      const variance = this.batchVar[l] as Float64Array;
      const inv = this.invStd[l] as Float64Array;
      mean.fill(0);
      variance.fill(0);
      for (let i = 0; i < n; i += 1)
        for (let j = 0; j < h; j += 1) mean[j] = (mean[j] as number) + (z[i * h + j] as number);
      for (let j = 0; j < h; j += 1) mean[j] = (mean[j] as number) / n;
      for (let i = 0; i < n; i += 1)
        for (let j = 0; j < h; j += 1) {
          const d = (z[i * h + j] as number) - (mean[j] as number);
          variance[j] = (variance[j] as number) + d * d;
        }
      for (let j = 0; j < h; j += 1) {
        variance[j] = (variance[j] as number) / n;
        inv[j] = 1 / Math.sqrt((variance[j] as number) + BN_EPS);
      }
      const gamma = this.scales[l] as Float32Array;
      const beta = this.shifts[l] as Float32Array;
      const a = this.act[l] as Float64Array;
      for (let i = 0; i < n; i += 1)
        for (let j = 0; j < h; j += 1) {
          const k = i * h + j;
          const xh = ((z[k] as number) - (mean[j] as number)) * (inv[j] as number);
          z[k] = xh;
          a[k] = mish((gamma[j] as number) * xh + (beta[j] as number));
        }
      src = a;
      inDim = h;
    }
    gemmNT(
      src,
      n,
      this.weights[BN_LAYERS] as Float32Array,
      this.output,
      h,
      this.biases[BN_LAYERS] as Float32Array,
      out,
    );
  }

  /** Gradients of the last trainForward given dOut (n × D), into `grads` (params() order). */
  trainBackward(dOut: Float64Array): void {
    const n = this.n;
    const h = this.hidden;
    const g = this.grads;
    const L = BN_LAYERS;
    if (this.wT.length === 0) this.wT = new Float32Array(h * Math.max(h, this.output));
    this.paramGrads(this.act[L - 1] as Float64Array, h, dOut, this.output, L);
    let dA = this.dA;
    let dB = this.dB;
    this.inputGrad(dOut, this.output, L, h, dA);
    for (let l = L - 1; l >= 0; l -= 1) {
      const xhat = this.xhat[l] as Float64Array;
      const gamma = this.scales[l] as Float32Array;
      const beta = this.shifts[l] as Float32Array;
      const inv = this.invStd[l] as Float64Array;
      const sumD = this.colA; // Σ_i dxhat
      const sumDX = this.colB; // Σ_i dxhat·xhat
      sumD.fill(0);
      sumDX.fill(0);
      const dGamma = g[2 * LINEAR_LAYERS + 2 * l] as Float32Array;
      const dBeta = g[2 * LINEAR_LAYERS + 2 * l + 1] as Float32Array;
      // dy = dA ⊙ mish'(y); dγ = Σ dy·x̂; dβ = Σ dy; dx̂ = dy·γ (in place in dA).
      for (let j = 0; j < h; j += 1) {
        let sg = 0;
        let sb = 0;
        const gj = gamma[j] as number;
        const bj = beta[j] as number;
        for (let i = 0; i < n; i += 1) {
          const k = i * h + j;
          const xh = xhat[k] as number;
          const dy = (dA[k] as number) * mishGrad(gj * xh + bj);
          sg += dy * xh;
          sb += dy;
          const dx = dy * gj;
          dA[k] = dx;
          sumD[j] = (sumD[j] as number) + dx;
          sumDX[j] = (sumDX[j] as number) + dx * xh;
        }
        dGamma[j] = sg;
        dBeta[j] = sb;
      }
      // dz = inv/n · (n·dx̂ − Σ dx̂ − x̂·Σ dx̂·x̂)
      for (let i = 0; i < n; i += 1)
        for (let j = 0; j < h; j += 1) {
          const k = i * h + j;
          dA[k] =
            ((inv[j] as number) / n) *
            (n * (dA[k] as number) -
              (sumD[j] as number) -
              (xhat[k] as number) * (sumDX[j] as number));
        }
      const below = l === 0 ? this.input : (this.act[l - 1] as Float64Array);
      const inDim = this.dims[l] as number;
      this.paramGrads(below, inDim, dA, h, l);
      if (l > 0) {
        this.inputGrad(dA, h, l, inDim, dB);
        const t = dA;
        dA = dB;
        dB = t;
      }
    }
  }

  /** dW_l (out × in) = dzᵀ·below, db_l = Σ_i dz_i, for the n rows of the last trainForward. */
  private paramGrads(
    below: Float64Array,
    inDim: number,
    dz: Float64Array,
    outDim: number,
    l: number,
  ) {
    const n = this.n;
    transpose(below, n, inDim, this.belowT);
    transpose(dz, n, outDim, this.dzT);
    gemmNT(this.dzT, outDim, this.belowT, inDim, n, undefined, this.grads[2 * l] as Float32Array);
    columnSums(dz, n, outDim, this.grads[2 * l + 1] as Float32Array);
  }

  /** dx (n × in) = dz (n × out) · W_l (out × in). */
  private inputGrad(dz: Float64Array, outDim: number, l: number, inDim: number, dx: Float64Array) {
    transpose(this.weights[l] as Float32Array, outDim, inDim, this.wT);
    gemmNT(dz, this.n, this.wT, inDim, outDim, undefined, dx);
  }

  /**
   * Running statistics ← (1 − momentum)·running + momentum·batch, from the last trainForward;
   * the variance uses the unbiased batch variance (n/(n−1)), as cuDNN and PyTorch. A batch of one
   * row has no variance estimate: it leaves the statistics unchanged.
   */
  updateRunningStats(): void {
    const n = this.n;
    if (n < 2) return;
    for (let l = 0; l < BN_LAYERS; l += 1) {
      const rm = this.runningMean[l] as Float32Array;
      const rv = this.runningVar[l] as Float32Array;
      const bm = this.batchMean[l] as Float64Array;
      const bv = this.batchVar[l] as Float64Array;
      for (let j = 0; j < this.hidden; j += 1) {
        rm[j] = (1 - BN_MOMENTUM) * (rm[j] as number) + BN_MOMENTUM * (bm[j] as number);
        rv[j] =
          (1 - BN_MOMENTUM) * (rv[j] as number) + (BN_MOMENTUM * (bv[j] as number) * n) / (n - 1);
      }
    }
  }

  /** Writes the serving weights (BN with running statistics folded in) into `folded`. */
  foldInto(folded: FoldedMlp): void {
    for (let l = 0; l < BN_LAYERS; l += 1) {
      const inDim = this.dims[l] as number;
      const h = this.hidden;
      const W = this.weights[l] as Float32Array;
      const b = this.biases[l] as Float32Array;
      const gamma = this.scales[l] as Float32Array;
      const beta = this.shifts[l] as Float32Array;
      const rm = this.runningMean[l] as Float32Array;
      const rv = this.runningVar[l] as Float32Array;
      const Wf = folded.weights[l] as Float32Array;
      const bf = folded.biases[l] as Float32Array;
      const s = this.row;
      for (let j = 0; j < h; j += 1) {
        s[j] = (gamma[j] as number) / Math.sqrt((rv[j] as number) + BN_EPS);
        bf[j] = ((b[j] as number) - (rm[j] as number)) * (s[j] as number) + (beta[j] as number);
      }
      for (let j = 0; j < h; j += 1) {
        const sj = s[j] as number;
        for (let p = 0; p < inDim; p += 1) Wf[j * inDim + p] = (W[j * inDim + p] as number) * sj;
      }
    }
    (folded.weights[BN_LAYERS] as Float32Array).set(this.weights[BN_LAYERS] as Float32Array);
    (folded.biases[BN_LAYERS] as Float32Array).set(this.biases[BN_LAYERS] as Float32Array);
  }
}

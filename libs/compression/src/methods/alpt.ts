// `alpt`: Adaptive Low-Precision Training (docs/methods/alpt.md; Li et al., AAAI 2023). Signed
// b-bit codes Q with a learned step δ per row: e = Q[x]·δ[x]. A step (i) lets the optimizer compute
// the new fp32 rows w' of the touched ids, (ii) updates δ from the LSQ-style gradient of the
// re-quantized rows ŵ = clamp(round(w'/δ))·δ, (iii) writes Q = clamp(⌊w'/δ_new + u⌋) with stochastic
// rounding. The reference takes ∂L/∂ŵ from a SECOND forward of the dense model on ŵ, which this
// method never sees: it exposes the two calls alptFirstPass / alptStepSize, and the trainer's step
// (libs/training/src/train-step.ts) runs them around that second forward. backward() is
// the one-pass approximation (∂L/∂ŵ ≈ the row gradients of this step) for callers without a dense
// model. See docs/methods/alpt.md.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent, artifactParams } from '../core/artifact';
import { describeTable } from '../core/describe';
import { checkIds, sumDuplicates } from '../core/ids';
import type {
  CompressedTable,
  ParamGradient,
  ParamView,
  TrainableEmbedding,
  TrainableMethod,
  TrainOptions,
} from '../core/method';
import { SparseOptimizer, type OptimizerSlot } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { formatOne } from '../core/spec';
import { totalRows, type TableShape } from '../core/shape';
import { roundingSeed, stochasticRound } from './quantize';

const params = z
  .object({
    /** Bits per code: 8 (Int8Array) or 16 (Int16Array). */
    bits: z.union([z.literal(8), z.literal(16)]).default(16),
    /** Initial step δ of every row. */
    initScale: z.number().finite().positive().default(0.01),
    /** Learning rate of the δ optimizer (same kind as the table's). */
    scaleLr: z.number().finite().positive().default(2e-5),
  })
  .strict();
export type AlptParams = z.infer<typeof params>;
type Codes = Int8Array | Int16Array;

/**
 * Lower bound of δ after each update. The reference leaves δ unclamped (pitfall: it can reach
 * ≤ 0, which flips or blows up w'/δ); we keep it ≥ 1e-8 (the f32 nearest to it).
 */
export const MIN_STEP = Math.fround(1e-8);

/** Qmin, Qmax of signed b-bit codes. */
export function alptRange(bits: 8 | 16): { qmin: number; qmax: number } {
  return { qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 };
}

/**
 * The LSQ term γ of v = w/δ: round(v) − v inside the range (round = ⌊·+0.5⌋), Qmax when v ≥ Qmax,
 * Qmin when v ≤ Qmin (docs/methods/alpt.md).
 */
export function lsqGamma(v: number, qmin: number, qmax: number): number {
  if (v >= qmax) return qmax;
  if (v <= qmin) return qmin;
  return Math.floor(v + 0.5) - v;
}

/** e = Q[x]·δ[x] (f64 product stored in f32: identical in train and serve). */
function dequantizeRows(
  codes: Codes,
  steps: Float32Array,
  dim: number,
  ids: Uint32Array,
  out: Float32Array,
): void {
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    const step = steps[id] as number;
    const src = id * dim;
    const dst = i * dim;
    for (let j = 0; j < dim; j += 1) out[dst + j] = (codes[src + j] as number) * step;
  }
}

export class AlptTable implements CompressedTable {
  readonly method = 'alpt';
  readonly rows: number;
  readonly dim: number;
  readonly spec: string;

  constructor(
    readonly shape: TableShape,
    private readonly params: AlptParams,
    private readonly codes: Codes,
    private readonly steps: Float32Array,
  ) {
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.spec = formatOne('alpt', params);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    dequantizeRows(this.codes, this.steps, this.dim, ids, out);
  }

  memoryBytes(): number {
    return this.codes.byteLength + this.steps.byteLength;
  }

  describe() {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      alptPaperWords(this.shape, this.params),
      [
        `${this.params.bits}-bit signed codes + one f32 step per row (ratio b/32 + 1/D)`,
        'the paper counts the same words; its code does not compute the ratio',
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections: new Map<string, Codes | Float32Array>([
        ['codes', this.codes],
        ['scale', this.steps],
      ]),
    });
  }
}

interface PendingStep {
  ids: Uint32Array;
  rows: Uint32Array;
  /** The optimizer's new fp32 rows w' (rows.length × D), not yet written. */
  updated: Float32Array;
}

/**
 * Training form. Parameters: the per-row step δ ('scale', row length 1), a real differentiable
 * parameter of e = Q·δ. The codes are integers and are not exposed as a parameter.
 */
export class AlptTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly rows: number;
  private readonly qmin: number;
  private readonly qmax: number;
  private readonly q: Codes;
  private readonly steps: Float32Array;
  private readonly tableSlot: OptimizerSlot;
  private readonly stepOptimizer: SparseOptimizer;
  private readonly stepSlot: OptimizerSlot;
  private readonly rounding: Rng;
  private pending: PendingStep | undefined;

  constructor(
    readonly shape: TableShape,
    private readonly params: AlptParams,
    options: TrainOptions,
    private readonly optimizer: SparseOptimizer = options.optimizer,
  ) {
    this.spec = formatOne('alpt', params);
    this.rows = totalRows(shape);
    ({ qmin: this.qmin, qmax: this.qmax } = alptRange(params.bits));
    this.steps = new Float32Array(this.rows).fill(params.initScale);
    this.rounding = new Rng(roundingSeed(options.seed));
    // The fp32 initial table (trainer initializer), quantized once with δ = init_scale by
    // stochastic rounding, value by value (the fp32 table is never held).
    const bound = defaultInitBound(shape.fields);
    const init = new Rng(options.seed);
    const step = this.steps[0] as number;
    this.q =
      params.bits === 8
        ? new Int8Array(this.rows * shape.dim)
        : new Int16Array(this.rows * shape.dim);
    for (let k = 0; k < this.q.length; k += 1) {
      const w = Math.fround(init.uniform(-bound, bound));
      this.q[k] = this.clampCode(stochasticRound(w / step, this.rounding));
    }
    this.tableSlot = optimizer.slot('table', this.rows, shape.dim);
    // δ has its own optimizer of the same kind at lr = scaleLr; its Adam step counter follows the
    // main one (the reference shares the global β^t counters).
    this.stepOptimizer = new SparseOptimizer({ kind: optimizer.kind, lr: params.scaleLr });
    this.stepSlot = this.stepOptimizer.slot('scale', this.rows, 1);
  }

  /** The live codes (for inspection and tests). */
  get codes(): Codes {
    return this.q;
  }

  private clampCode(code: number): number {
    return code < this.qmin ? this.qmin : code > this.qmax ? this.qmax : code;
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    dequantizeRows(this.q, this.steps, this.shape.dim, ids, out);
  }

  /**
   * Exact derivatives of forward(): d/d(rows) ('table', the fp view the optimizer updates) and
   * d/dδ[x] = Σ_j g_j·Q[x]_j ('scale'). backward() trains δ with ALPT's LSQ estimator instead.
   */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const { rows, grads } = sumDuplicates(ids, rowGrads, D);
    const stepGrads = new Float32Array(rows.length);
    for (let i = 0; i < rows.length; i += 1) {
      const base = (rows[i] as number) * D;
      let sum = 0;
      for (let j = 0; j < D; j += 1)
        sum += (grads[i * D + j] as number) * (this.q[base + j] as number);
      stepGrads[i] = sum;
    }
    return [
      { name: 'table', rows, values: grads },
      { name: 'scale', rows, values: stepGrads },
    ];
  }

  /**
   * Pass 1 of the reference step (docs/methods/alpt.md, Training, 1): the optimizer computes w' for the unique rows of
   * `ids` (its state advances; Q and δ do not change yet), and `out` (ids.length × D) receives the
   * re-quantized rows ŵ = clamp(round(w'/δ), Qmin, Qmax)·δ in batch layout, for the trainer's
   * second forward of the dense model. Must be followed by alptStepSize with the same ids.
   */
  alptFirstPass(ids: Uint32Array, rowGrads: Float32Array, out?: Float32Array): void {
    if (this.pending !== undefined)
      throw new Error('alpt: the previous step was not completed with alptStepSize');
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const { rows, grads } = sumDuplicates(ids, rowGrads, D);
    const updated = new Float32Array(rows.length * D);
    dequantizeRows(this.q, this.steps, D, rows, updated);
    this.optimizer.updateRows(this.tableSlot, rows, grads, updated, (i) => i);
    this.pending = { ids: ids.slice(), rows, updated };
    if (out === undefined) return;
    const slot = new Map<number, number>();
    rows.forEach((row, i) => slot.set(row, i));
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const r = slot.get(id) as number;
      const step = this.steps[id] as number;
      for (let j = 0; j < D; j += 1) {
        const v = (updated[r * D + j] as number) / step;
        out[i * D + j] = this.clampCode(Math.floor(v + 0.5)) * step;
      }
    }
  }

  /**
   * Pass 2 (docs/methods/alpt.md, Training, 2): `rowGrads` = ∂L/∂ŵ of the second forward (ids.length × D, same ids as
   * alptFirstPass). δ gets Σ_j g_j·γ_j / √(bs·D·Qmax) and one update of the δ optimizer (then
   * δ ≥ MIN_STEP), and Q = clamp(⌊w'/δ_new + u⌋, Qmin, Qmax). `batchSize` defaults to the number
   * of examples of a single-table batch, ids.length / fields.
   */
  alptStepSize(
    ids: Uint32Array,
    rowGrads: Float32Array,
    batchSize = ids.length / this.shape.fields.length,
  ): void {
    const pending = this.pending;
    if (pending === undefined) throw new Error('alpt: alptStepSize without alptFirstPass');
    if (pending.ids.length !== ids.length || pending.ids.some((id, i) => id !== ids[i]))
      throw new Error('alpt: alptStepSize needs the ids of its alptFirstPass');
    this.pending = undefined;
    const D = this.shape.dim;
    const { rows, updated } = pending;
    const { rows: gradRows, grads } = sumDuplicates(ids, rowGrads, D);
    // sumDuplicates orders rows by first occurrence: the same order for the same ids.
    if (gradRows.length !== rows.length) throw new Error('alpt: row mismatch');
    const factor = 1 / Math.sqrt(batchSize * D * this.qmax);
    const stepGrads = new Float32Array(rows.length);
    for (let i = 0; i < rows.length; i += 1) {
      const step = this.steps[rows[i] as number] as number;
      let sum = 0;
      for (let j = 0; j < D; j += 1) {
        const v = (updated[i * D + j] as number) / step;
        sum += (grads[i * D + j] as number) * lsqGamma(v, this.qmin, this.qmax);
      }
      stepGrads[i] = sum * factor;
    }
    while (this.stepOptimizer.step < this.optimizer.step) this.stepOptimizer.nextStep();
    this.stepOptimizer.updateRows(this.stepSlot, rows, stepGrads, this.steps);
    for (let i = 0; i < rows.length; i += 1) {
      const row = rows[i] as number;
      if (!((this.steps[row] as number) >= MIN_STEP)) this.steps[row] = MIN_STEP;
      const step = this.steps[row] as number;
      const base = row * D;
      for (let j = 0; j < D; j += 1) {
        const v = (updated[i * D + j] as number) / step;
        this.q[base + j] = this.clampCode(stochasticRound(v, this.rounding));
      }
    }
  }

  /** One-pass approximation of the ALPT step: ∂L/∂ŵ ≈ `rowGrads` (see docs/methods/alpt.md). */
  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    this.alptFirstPass(ids, rowGrads);
    this.alptStepSize(ids, rowGrads);
  }

  parameters(): ParamView[] {
    return [{ name: 'scale', data: this.steps, rowLength: 1 }];
  }

  memoryBytes(): number {
    return this.q.byteLength + this.steps.byteLength;
  }

  toTable(): CompressedTable {
    return new AlptTable(this.shape, { ...this.params }, this.q.slice(), this.steps.slice());
  }
}

/** Type guard for the trainer's two-pass ALPT schedule. */
export function isAlptTrainable(t: TrainableEmbedding): t is AlptTrainable {
  return t instanceof AlptTrainable;
}

export function alptBytes(shape: TableShape, p: AlptParams): number {
  const n = totalRows(shape);
  return (n * shape.dim * p.bits) / 8 + n * 4;
}

/** b/32 word per value + one word per row (δ). */
export function alptPaperWords(shape: TableShape, p: AlptParams): number {
  const n = totalRows(shape);
  return (n * shape.dim * p.bits) / 32 + n;
}

function loadAlpt(content: ArtifactContent): AlptTable {
  const p = artifactParams(content, params);
  const n = totalRows(content.shape);
  const codes =
    p.bits === 8
      ? section(content, 'codes', 'i8', n * content.shape.dim)
      : section(content, 'codes', 'i16', n * content.shape.dim);
  return new AlptTable(content.shape, p, codes, section(content, 'scale', 'f32', n));
}

export const alpt: TrainableMethod<AlptParams> = {
  kind: 'trainable',
  id: 'alpt',
  family: 'row-codec',
  taxonomy: { scope: 'intra-feature', subClass: 'quantization' },
  title: 'Low-precision codes with a learned step size per row (ALPT)',
  paper:
    'Li et al., "Adaptive Low-Precision Training for Embeddings in Click-Through Rate Prediction", AAAI 2023',
  params,
  // cr is not used (ratio b/32 + 1/D by construction): no paramsForBudget.
  estimateBytes: alptBytes,
  paperWords: alptPaperWords,
  createTrainable: (shape, p, options) => new AlptTrainable(shape, p, options),
  loadTable: loadAlpt,
};

// `pep`: PEP, learnable soft thresholds, then a lottery-ticket retrain (docs/methods/pep.md).
// Stage 'search': e = sign(v)·max(|v| − σ(s), 0) with v = E[x] and s the entry's threshold
// parameter; E, S and the dense model train together, S with a weight decay λ·s (the original
// PEP's, which is what moves the thresholds off their flat start: docs/methods/pep.md#pitfalls);
// the stage ends when the prune ratio reaches P = 1 − density. Stage 'retrain': the mask of the
// kept search state (at most k entries), E re-initialised from the run's seed (the same values as
// the search's start) and trained under the fixed mask. Serving in every stage: the k largest
// |effective weights| as the prune codec's CSR/COO table (./sparse-serving.ts).
import { z } from 'zod';
import { checkIds, sumDuplicates } from '../core/ids';
import type { ArtifactContent } from '../core/artifact';
import type { ParamGradient, ParamView, TrainOptions } from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { SpecError } from '../core/errors';
import { defaultInitBound, Rng } from '../core/rng';
import { totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';
import type { StageContext, StagedMethod, StagedTrainable, StageSpec } from '../core/staged';
import { keptCount } from '../codecs/prune';
import {
  buildSparseTable,
  countNonZero,
  maskUnselected,
  loadSparseTable,
  selectLargest,
  sparseEstimateBytes,
  sparseParamShape,
  sparseParamsForBudget,
  sparsePaperWords,
  type SparseMethodTable,
} from './sparse-serving';

export const PEP_THRESHOLD_TYPES = ['feature_dimension', 'dimension', 'feature', 'global'] as const;
export type PepThresholdType = (typeof PEP_THRESHOLD_TYPES)[number];

const params = z
  .object({
    ...sparseParamShape,
    /** Shape of S: n×D ('feature_dimension'), D, n×1 ('feature') or one value ('global'). */
    thresholdType: z.enum(PEP_THRESHOLD_TYPES).default('feature_dimension'),
    /**
     * Initial s. 'auto': logit(b/100), b the initializer bound, so the soft threshold starts at
     * 1 % of the largest initial |v| (docs/methods/pep.md#pitfalls). The reference's −150 can be
     * given (σ'(−150) underflows in float32: the loss alone never moves it).
     */
    thresholdInit: z.union([z.literal('auto'), z.number().finite()]).default('auto'),
    /** Weight decay λ on S (λ·s added to its gradient, every entry, every step). */
    thresholdDecay: z.number().min(0).finite().default(1e-5),
  })
  .strict();
export type PepParams = z.infer<typeof params>;

const STAGES: readonly StageSpec[] = [
  {
    name: 'search',
    end: { kind: 'target' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'carry',
    // The reference keeps the best-AUC state, which may not meet the budget: keep one that does.
    keep: 'meets-budget',
  },
  {
    name: 'retrain',
    end: { kind: 'parts' },
    dense: 'train',
    // Lottery ticket: the dense model restarts from the run's initial weights, as the table.
    denseStart: 'reinit',
    optimizer: 'reset',
    keep: 'best-val',
  },
];

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** The initial threshold parameter for a shape. */
export function pepThresholdInit(shape: TableShape, p: PepParams): number {
  if (p.thresholdInit !== 'auto') return p.thresholdInit;
  const t = defaultInitBound(shape.fields) / 100;
  return Math.log(t / (1 - t));
}

export class PepTrainable implements StagedTrainable {
  readonly spec: string;
  private readonly rows: number;
  private readonly dim: number;
  /** Entries served: k = round(density·n·D). */
  private readonly k: number;
  private readonly seed: number;
  /** 0: search, 1: retrain. */
  private stage = 0;
  /** forward's top-k selection of the current state (stale after any parameter change). */
  private selectionFresh = false;
  private selectionKey = 0;
  private selectionLastTie = -1;
  private table: Float32Array;
  /** Search only (empty in retrain): S, thresholdRows × thresholdCols. */
  private thresholds: Float32Array;
  private readonly thresholdRows: number;
  private readonly thresholdCols: number;
  /** Retrain only (empty in search): 1 where an entry is trained and served. */
  private mask: Uint8Array;
  private optimizer: SparseOptimizer;
  private tableSlot: OptimizerSlot;
  private thresholdSlot: OptimizerSlot;

  constructor(
    readonly shape: TableShape,
    private readonly p: PepParams,
    options: TrainOptions,
  ) {
    this.spec = formatOne('pep', p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.k = keptCount(this.rows, this.dim, p.density);
    this.seed = options.seed;
    this.optimizer = options.optimizer;
    this.table = this.initialTable();
    const perFeature = p.thresholdType === 'feature_dimension' || p.thresholdType === 'feature';
    const perDim = p.thresholdType === 'feature_dimension' || p.thresholdType === 'dimension';
    this.thresholdRows = perFeature ? this.rows : 1;
    this.thresholdCols = perDim ? this.dim : 1;
    this.thresholds = new Float32Array(this.thresholdRows * this.thresholdCols).fill(
      pepThresholdInit(shape, p),
    );
    this.mask = new Uint8Array(0);
    this.tableSlot = this.optimizer.slot('table', this.rows, this.dim);
    this.thresholdSlot = this.optimizer.slot('thresholds', this.thresholdRows, this.thresholdCols);
  }

  /** The table at the run's start (search) and at the retrain's start (lottery ticket). */
  private initialTable(): Float32Array {
    const b = defaultInitBound(this.shape.fields);
    return new Rng(this.seed).fillUniform(new Float32Array(this.rows * this.dim), -b, b);
  }

  private thresholdIndex(row: number, j: number): number {
    return (
      (this.thresholdRows > 1 ? row * this.thresholdCols : 0) + (this.thresholdCols > 1 ? j : 0)
    );
  }

  /** Effective rows (training semantics) of `ids` into `out`. */
  trainForward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    for (let i = 0; i < ids.length; i += 1) this.effectiveRow(ids[i] as number, out, i * this.dim);
  }

  private effectiveRow(row: number, out: Float32Array, at: number): void {
    const dim = this.dim;
    const E = this.table;
    if (this.stage === 0) {
      const S = this.thresholds;
      for (let j = 0; j < dim; j += 1) {
        const v = E[row * dim + j] as number;
        const a = Math.abs(v) - sigmoid(S[this.thresholdIndex(row, j)] as number);
        out[at + j] = a > 0 ? (v > 0 ? a : -a) : 0;
      }
    } else {
      const M = this.mask;
      for (let j = 0; j < dim; j += 1)
        out[at + j] = M[row * dim + j] === 1 ? (E[row * dim + j] as number) + 0 : 0;
    }
  }

  /** The whole effective table W (n × D). */
  effectiveTable(): Float32Array {
    const W = new Float32Array(this.rows * this.dim);
    for (let r = 0; r < this.rows; r += 1) this.effectiveRow(r, W, r * this.dim);
    return W;
  }

  /** Serving semantics: the k largest |W| of the current state (exact selection). */
  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    // The selection runs over the whole table once per state, not once per call (validation
    // calls forward per batch); every change of the parameters marks it stale.
    if (!this.selectionFresh) {
      const sel = selectLargest(this.effectiveTable(), this.k);
      this.selectionKey = sel.key;
      this.selectionLastTie = sel.lastTie;
      this.selectionFresh = true;
    }
    for (let i = 0; i < ids.length; i += 1) this.effectiveRow(ids[i] as number, out, i * this.dim);
    maskUnselected(ids, this.dim, out, { key: this.selectionKey, lastTie: this.selectionLastTie });
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const dim = this.dim;
    const { rows, grads } = sumDuplicates(ids, rowGrads, dim);
    const dE = new Float32Array(grads.length);
    const E = this.table;
    if (this.stage === 1) {
      const M = this.mask;
      for (let i = 0; i < rows.length; i += 1) {
        const base = (rows[i] as number) * dim;
        for (let j = 0; j < dim; j += 1)
          dE[i * dim + j] = M[base + j] === 1 ? (grads[i * dim + j] as number) : 0;
      }
      return [{ name: 'table', rows, values: dE }];
    }
    const S = this.thresholds;
    const dS = new Float32Array(S.length);
    for (let i = 0; i < rows.length; i += 1) {
      const row = rows[i] as number;
      for (let j = 0; j < dim; j += 1) {
        const v = E[row * dim + j] as number;
        const si = this.thresholdIndex(row, j);
        const t = sigmoid(S[si] as number);
        if (Math.abs(v) <= t) continue; // pruned: e = 0 around here, no gradient
        const g = grads[i * dim + j] as number;
        dE[i * dim + j] = g;
        // e = sign(v)(|v| − σ(s)): de/ds = −sign(v)·σ(s)(1 − σ(s)).
        dS[si] = (dS[si] as number) - (v > 0 ? 1 : -1) * t * (1 - t) * g;
      }
    }
    return [
      { name: 'table', rows, values: dE },
      { name: 'thresholds', values: dS },
    ];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    this.selectionFresh = false;
    const [gE, gS] = this.gradients(ids, rowGrads) as [ParamGradient, ParamGradient | undefined];
    this.optimizer.updateRows(this.tableSlot, gE.rows as Uint32Array, gE.values, this.table);
    if (gS === undefined) return;
    // The decay is a loss term of every threshold (a dense parameter, as in the original PEP), so
    // every entry of S moves each step, not only the rows of the batch.
    const S = this.thresholds;
    const lambda = this.p.thresholdDecay;
    if (lambda > 0)
      for (let i = 0; i < S.length; i += 1)
        gS.values[i] = (gS.values[i] as number) + lambda * (S[i] as number);
    this.optimizer.updateDense(this.thresholdSlot, gS.values, S);
  }

  parameters(): ParamView[] {
    // Callers may write through the views (gradient checks).
    this.selectionFresh = false;
    const views: ParamView[] = [{ name: 'table', data: this.table, rowLength: this.dim }];
    if (this.stage === 0) views.push({ name: 'thresholds', data: this.thresholds });
    return views;
  }

  /** Non-zero effective entries (search: |v| > σ(s); retrain: the mask's entries). */
  activeEntries(): number {
    if (this.stage === 1) return countNonZero(this.effectiveTable());
    const dim = this.dim;
    let active = 0;
    for (let r = 0; r < this.rows; r += 1)
      for (let j = 0; j < dim; j += 1)
        if (
          Math.abs(this.table[r * dim + j] as number) >
          sigmoid(this.thresholds[this.thresholdIndex(r, j)] as number)
        )
          active += 1;
    return active;
  }

  /** Fraction of the n·D entries the soft threshold (or the mask) zeroes. */
  pruneRatio(): number {
    return 1 - this.activeEntries() / (this.rows * this.dim);
  }

  /** Search: the prune ratio has reached P = 1 − density (at most k entries are non-zero). */
  stageDone(): boolean {
    return this.meetsBudget();
  }

  /**
   * Whether the trained state itself fits the budget (at most k non-zero entries), so that the
   * served table equals it. The retrain's mask always does.
   */
  meetsBudget(): boolean {
    return this.stage === 1 || this.activeEntries() <= this.k;
  }

  enterStage(context: StageContext): void {
    this.selectionFresh = false;
    if (context.index !== 1 || context.stage.name !== 'retrain')
      throw new SpecError(`pep: no stage ${context.index} (${context.stage.name}) to enter`);
    // The mask of the kept search state: its non-zero entries, cut to the k largest when the
    // search stopped short of the target (so retraining trains exactly what will be served).
    const W = this.effectiveTable();
    const sel = selectLargest(W, this.k);
    const mask = new Uint8Array(W.length);
    const bits = new Uint32Array(W.buffer);
    let kept = 0;
    for (let i = 0; i < W.length; i += 1) {
      const key = (bits[i] as number) & 0x7fffffff;
      if (key !== 0 && (key > sel.key || (key === sel.key && i <= sel.lastTie))) {
        mask[i] = 1;
        kept += 1;
      }
    }
    const init = this.initialTable();
    for (let i = 0; i < init.length; i += 1) if (mask[i] === 0) init[i] = 0;
    this.table = init;
    this.mask = mask;
    this.thresholds = new Float32Array(0);
    this.stage = 1;
    this.optimizer = context.optimizer;
    this.tableSlot = this.optimizer.slot('table', this.rows, this.dim);
    this.thresholdSlot = this.optimizer.slot('thresholds', 0, 1);
    context.log(
      `pep: retrain under a mask of ${kept} of ${W.length} entries (served: ${this.k}), table re-initialised from seed ${this.seed}`,
    );
  }

  /** Serving form: bytes of the k-entry sparse table (the training form holds E, S or the mask). */
  memoryBytes(): number {
    return sparseEstimateBytes(this.shape, this.p);
  }

  toTable(): SparseMethodTable {
    return buildSparseTable('pep', this.shape, this.p, this.effectiveTable());
  }
}

export const pep: StagedMethod<PepParams> = {
  kind: 'trainable',
  id: 'pep',
  family: 'multi-stage',
  taxonomy: { scope: 'intra-feature', subClass: 'pruning' },
  title: 'PEP: learnable soft thresholds, lottery-ticket retrain, CSR/COO sparse table',
  paper: 'Liu et al., "Learnable Embedding Sizes for Recommender Systems" (PEP), ICLR 2021',
  params,
  estimateBytes: sparseEstimateBytes,
  paperWords: sparsePaperWords,
  paramsForBudget: (shape, budget, accounting) => {
    const defaults = params.parse({});
    return { ...defaults, ...sparseParamsForBudget(shape, budget, accounting) };
  },
  stages: () => STAGES,
  createTrainable: (shape, p, options) => new PepTrainable(shape, params.parse(p), options),
  loadTable: (content: ArtifactContent) => loadSparseTable(content, params),
};

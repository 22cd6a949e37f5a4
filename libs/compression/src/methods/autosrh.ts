// `autosrh`: AutoSrh, per-dimension saliency of frequency groups, then magnitude pruning
// (docs/methods/autosrh.md). e = E[x] ⊙ α[g(x)], g(x) the frequency group of the id (training
// counts, ./../core/frequency-groups.ts), α ∈ [0, 1]^{G×D}. Stages: 'warmup' (α = 1: a plain
// table), 'search' (the dense model frozen; training batches move E, validation batches move α by
// a per-group normalised SGD step with L1, clipped to [0, 1]), 'retrain' (α frozen; E and the
// dense model train). Serving in every stage: the k largest |E ⊙ α[g]| as the prune codec's
// CSR/COO table (./sparse-serving.ts); α and the groups are not needed at inference.
import { z } from 'zod';
import type { ArtifactContent } from '../core/artifact';
import { SpecError } from '../core/errors';
import { frequencyGroups } from '../core/frequency-groups';
import { checkIds, sumDuplicates } from '../core/ids';
import type { ParamGradient, ParamView, TrainOptions } from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';
import type { StageContext, StagedMethod, StagedTrainable, StageSpec } from '../core/staged';
import { keptCount } from '../codecs/prune';
import {
  buildSparseTable,
  maskUnselected,
  loadSparseTable,
  selectLargest,
  sparseEstimateBytes,
  sparseParamShape,
  sparseParamsForBudget,
  sparsePaperWords,
  type SparseMethodTable,
} from './sparse-serving';

const params = z
  .object({
    ...sparseParamShape,
    /** G, the number of frequency groups (the reference's nsplit). */
    groups: z.number().int().min(1).max(255).default(6),
    /** λ₁ of the L1 term on α (the reference's alpha_l1). */
    alphaL1: z.number().min(0).finite().default(1e-5),
    /** Learning rate of α's plain SGD step (the reference's alpha_lr). */
    alphaLr: z.number().gt(0).finite().default(1e-3),
  })
  .strict();
export type AutoSrhParams = z.infer<typeof params>;

const STAGES: readonly StageSpec[] = [
  {
    name: 'warmup',
    end: { kind: 'parts' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'carry',
    keep: 'best-val',
  },
  {
    name: 'search',
    end: { kind: 'parts' },
    // The reference trains only E (and α on validation batches) here: easy to miss.
    dense: 'frozen',
    denseStart: 'keep',
    // "Parameters only": the optimizer state of the warm-up is dropped.
    optimizer: 'reset',
    keep: 'best-val',
    validationStep: true,
  },
  {
    name: 'retrain',
    end: { kind: 'parts' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'reset',
    keep: 'meets-budget',
  },
];

/** ε of the per-group gradient normalisation ĝ = g / (mean_j |g_j| + ε). */
export const ALPHA_NORM_EPS = 1e-8;

export class AutoSrhTrainable implements StagedTrainable {
  readonly spec: string;
  private readonly rows: number;
  private readonly dim: number;
  private readonly k: number;
  /** 0 warmup, 1 search, 2 retrain. */
  private stage = 0;
  /** forward's top-k selection of the current state (stale after any parameter change). */
  private selectionFresh = false;
  private selectionKey = 0;
  private selectionLastTie = -1;
  private readonly table: Float32Array;
  /** α, groups × D, in [0, 1]; 1 until the search moves it. */
  private readonly alpha: Float32Array;
  /** Frequency group of every global id (0 = rarest). */
  private readonly group: Uint8Array;
  private optimizer: SparseOptimizer;
  private tableSlot: OptimizerSlot;

  constructor(
    readonly shape: TableShape,
    private readonly p: AutoSrhParams,
    options: TrainOptions,
  ) {
    this.spec = formatOne('autosrh', p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.k = keptCount(this.rows, this.dim, p.density);
    const counts = options.frequencies;
    if (counts === undefined)
      throw new SpecError('autosrh needs the training split id counts (TrainOptions.frequencies)');
    if (counts.length !== this.rows)
      throw new SpecError(`autosrh: ${counts.length} id counts for a table of ${this.rows} ids`);
    this.group = frequencyGroups(counts, p.groups);
    const b = defaultInitBound(shape.fields);
    this.table = new Rng(options.seed).fillUniform(new Float32Array(this.rows * this.dim), -b, b);
    this.alpha = new Float32Array(p.groups * this.dim).fill(1);
    this.optimizer = options.optimizer;
    this.tableSlot = this.optimizer.slot('table', this.rows, this.dim);
  }

  /** Training semantics: E[x] ⊙ α[g(x)] (no pruning). */
  trainForward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    for (let i = 0; i < ids.length; i += 1) this.effectiveRow(ids[i] as number, out, i * this.dim);
  }

  private effectiveRow(row: number, out: Float32Array, at: number): void {
    const dim = this.dim;
    const a = (this.group[row] as number) * dim;
    for (let j = 0; j < dim; j += 1)
      // + 0: a 0 saliency times a negative weight is −0; serve (and store) +0.
      out[at + j] = (this.table[row * dim + j] as number) * (this.alpha[a + j] as number) + 0;
  }

  /** W = E ⊙ α[g(row)], n × D. */
  effectiveTable(): Float32Array {
    const W = new Float32Array(this.rows * this.dim);
    for (let r = 0; r < this.rows; r += 1) this.effectiveRow(r, W, r * this.dim);
    return W;
  }

  /** Serving semantics: the k largest |W| (exact selection). */
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

  /** d(loss)/dE (rows of ids) and d(loss)/dα (dense) of trainForward. */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const dim = this.dim;
    const { rows, grads } = sumDuplicates(ids, rowGrads, dim);
    const dE = new Float32Array(grads.length);
    const dA = new Float32Array(this.alpha.length);
    for (let i = 0; i < rows.length; i += 1) {
      const row = rows[i] as number;
      const a = (this.group[row] as number) * dim;
      for (let j = 0; j < dim; j += 1) {
        const g = grads[i * dim + j] as number;
        dE[i * dim + j] = g * (this.alpha[a + j] as number);
        dA[a + j] = (dA[a + j] as number) + g * (this.table[row * dim + j] as number);
      }
    }
    return [
      { name: 'table', rows, values: dE },
      { name: 'alpha', values: dA },
    ];
  }

  /** Training batches move E only: α trains on validation batches (search) or is frozen. */
  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    this.selectionFresh = false;
    const [gE] = this.gradients(ids, rowGrads) as [ParamGradient];
    this.optimizer.updateRows(this.tableSlot, gE.rows as Uint32Array, gE.values, this.table);
  }

  /**
   * Search stage, one validation batch: g = d(loss + λ₁·Σ|α|)/dα; per group row
   * ĝ = g / (mean_j |g_j| + 1e-8); α ← clip(α − alphaLr·ĝ, 0, 1). The L1 term reaches every
   * group, also one absent from the batch (the reference's loss term).
   */
  validationStep(ids: Uint32Array, rowGrads: Float32Array): void {
    this.selectionFresh = false;
    if (this.stage !== 1) return;
    const dim = this.dim;
    const G = this.p.groups;
    const [, gA] = this.gradients(ids, rowGrads) as [ParamGradient, ParamGradient];
    const alpha = this.alpha;
    const g = Float64Array.from(gA.values);
    for (let i = 0; i < g.length; i += 1)
      g[i] = (g[i] as number) + this.p.alphaL1 * Math.sign(alpha[i] as number);
    for (let r = 0; r < G; r += 1) {
      let mean = 0;
      for (let j = 0; j < dim; j += 1) mean += Math.abs(g[r * dim + j] as number);
      mean /= dim;
      for (let j = 0; j < dim; j += 1) {
        const i = r * dim + j;
        const next =
          (alpha[i] as number) - (this.p.alphaLr * (g[i] as number)) / (mean + ALPHA_NORM_EPS);
        alpha[i] = Math.min(1, Math.max(0, next));
      }
    }
  }

  parameters(): ParamView[] {
    // Callers may write through the views (gradient checks).
    this.selectionFresh = false;
    return [
      { name: 'table', data: this.table, rowLength: this.dim },
      { name: 'alpha', data: this.alpha },
    ];
  }

  /** The saliencies (groups × D), for inspection and tests. */
  saliency(): Float32Array {
    return this.alpha.slice();
  }

  /** Frequency group of each id (a copy). */
  groups(): Uint8Array {
    return this.group.slice();
  }

  /**
   * Every state's serving table is the exact k-entry selection of its W (docs/methods/autosrh.md
   * #pitfalls), so every state meets the budget; 'meets-budget' then keeps the best validation
   * state (measured on that served form).
   */
  meetsBudget(): boolean {
    return true;
  }

  enterStage(context: StageContext): void {
    this.selectionFresh = false;
    const expected = STAGES[context.index];
    if (context.index < 1 || expected === undefined || context.stage.name !== expected.name)
      throw new SpecError(`autosrh: no stage ${context.index} (${context.stage.name}) to enter`);
    if (context.index === 1) this.alpha.fill(1);
    this.stage = context.index;
    this.optimizer = context.optimizer;
    this.tableSlot = this.optimizer.slot('table', this.rows, this.dim);
    if (context.index === 2)
      context.log(
        `autosrh: retrain with α frozen: ${Array.from(this.alpha, (a) => a.toFixed(3)).join(' ')}`,
      );
  }

  /** Serving form: bytes of the k-entry sparse table (training holds E, α and the groups). */
  memoryBytes(): number {
    return sparseEstimateBytes(this.shape, this.p);
  }

  toTable(): SparseMethodTable {
    return buildSparseTable('autosrh', this.shape, this.p, this.effectiveTable());
  }
}

export const autosrh: StagedMethod<AutoSrhParams> = {
  kind: 'trainable',
  id: 'autosrh',
  family: 'multi-stage',
  taxonomy: { scope: 'intra-feature', subClass: 'pruning' },
  title: 'AutoSrh: per-dimension saliency of frequency groups, magnitude pruning, CSR/COO table',
  paper:
    'Kong et al., "AutoSrh: An Embedding Dimensionality Search Framework for Tabular Data Prediction", TKDE 2022',
  usesFrequencies: true,
  params,
  estimateBytes: sparseEstimateBytes,
  paperWords: sparsePaperWords,
  paramsForBudget: (shape, budget, accounting) => ({
    ...params.parse({}),
    ...sparseParamsForBudget(shape, budget, accounting),
  }),
  stages: () => STAGES,
  createTrainable: (shape, p, options) => new AutoSrhTrainable(shape, params.parse(p), options),
  loadTable: (content: ArtifactContent) => loadSparseTable(content, params),
};

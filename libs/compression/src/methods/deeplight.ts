// `deeplight`: DeepLight's embedding pruning (docs/methods/deeplight.md; Deng et al., WSDM 2021).
// One fp32 table E (n × D) trained in two stages:
//   'warmup': plain full training, the best validation state kept;
//   'prune':  the dense model and its optimizer carry on, the table's own optimizer slots start
//             fresh; every `pruneEvery` table steps the entries with the smallest |w| are zeroed
//             to the target sparsity s_t = P·(1 − 0.99^{t/τ}), P = 1 − density (weights zeroed
//             between prune steps may grow back). τ scales the ramp to the stage's planned steps:
//             s_t is within 1e-3·P of P after `ramp` of them (docs/methods/deeplight.md#ramp).
//             The stage keeps the best validation state among the parts whose last prune step
//             reached the final target ('meets-budget').
// Serving in every stage: the k = round(density·n·D) largest |w| as the prune codec's CSR/COO
// table (./sparse-serving.ts). Exporting re-prunes to exactly k, so weights regrown after the
// last prune step never push the served density past the budget (the reference exports the
// checkpoint as it is).
import { z } from 'zod';
import type { ArtifactContent } from '../core/artifact';
import { SpecError } from '../core/errors';
import { checkIds, sumDuplicates } from '../core/ids';
import type { ParamGradient, ParamView, TrainOptions } from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';
import type { StageContext, StagedMethod, StagedTrainable, StageSpec } from '../core/staged';
import { keptCount } from '../codecs/prune';
import { gatherRows } from './full';
import {
  buildSparseTable,
  countNonZero,
  gatherSelected,
  loadSparseTable,
  selectLargest,
  sparseEstimateBytes,
  sparseParamShape,
  sparseParamsForBudget,
  sparsePaperWords,
  type SparseMethodTable,
} from './sparse-serving';

/** The reference's decay base and stop deviation of the sparsity ramp. */
export const DEEPLIGHT_DECAY = 0.99;
export const DEEPLIGHT_STOP_DEVIATION = 1e-3;
/** Ramp steps in units of τ until s_t is within the stop deviation of P: ln(1e-3)/ln(0.99). */
export const DEEPLIGHT_RAMP_UNITS = Math.log(DEEPLIGHT_STOP_DEVIATION) / Math.log(DEEPLIGHT_DECAY);

const params = z
  .object({
    ...sparseParamShape,
    /** Parts of the warm-up stage (0: the run's part budget, with early stopping). */
    warmupParts: z.number().int().min(0).default(0),
    /** Table steps between prune steps (the reference's 10). */
    pruneEvery: z.number().int().min(1).default(10),
    /**
     * Fraction of the prune stage's planned steps after which s_t is within 1e-3·P of P (the
     * reference's constant τ = 100 gets there only after ~68,700 steps).
     */
    ramp: z.number().gt(0).lte(1).default(0.5),
  })
  .strict();
export type DeepLightParams = z.infer<typeof params>;

function stagesOf(p: DeepLightParams): readonly StageSpec[] {
  return [
    {
      name: 'warmup',
      end: p.warmupParts > 0 ? { kind: 'parts', parts: p.warmupParts } : { kind: 'parts' },
      dense: 'train',
      denseStart: 'keep',
      optimizer: 'carry',
      keep: 'best-val',
    },
    {
      name: 'prune',
      end: { kind: 'parts' },
      dense: 'train',
      denseStart: 'keep',
      // The dense model's optimizer state carries over; the table's slots start fresh
      // (enterStage), as the reference's renamed table tensor.
      optimizer: 'carry',
      keep: 'meets-budget',
    },
  ];
}

/** τ of the ramp for a stage of `plannedSteps` steps (docs/methods/deeplight.md#ramp). */
export function deeplightTau(plannedSteps: number, ramp: number): number {
  return Math.max(1, plannedSteps) * (ramp / DEEPLIGHT_RAMP_UNITS);
}

/** Target sparsity after `t` prune-stage steps: P·(1 − 0.99^{t/τ}). */
export function deeplightTarget(P: number, t: number, tau: number): number {
  return P * (1 - Math.pow(DEEPLIGHT_DECAY, t / tau));
}

export class DeepLightTrainable implements StagedTrainable {
  readonly spec: string;
  private readonly rows: number;
  private readonly dim: number;
  /** Entries served: k = round(density·n·D); P = 1 − k/(n·D). */
  private readonly k: number;
  private readonly finalRate: number;
  /** 0: warm-up, 1: prune. */
  private stage = 0;
  private readonly table: Float32Array;
  private optimizer: SparseOptimizer;
  private slot: OptimizerSlot;
  /** Prune stage: table steps taken, the ramp's τ, the target of the last prune step. */
  private pruneSteps = 0;
  private tau = 1;
  private lastTarget = 0;
  /** The serving selection (k largest |w|) of the current table; recomputed after a change. */
  private selectionFresh = false;
  private selectionKey = 0;
  private selectionLastTie = -1;

  constructor(
    readonly shape: TableShape,
    private readonly p: DeepLightParams,
    options: TrainOptions,
  ) {
    this.spec = formatOne('deeplight', p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.k = keptCount(this.rows, this.dim, p.density);
    this.finalRate = 1 - this.k / (this.rows * this.dim);
    this.optimizer = options.optimizer;
    const b = defaultInitBound(shape.fields);
    this.table = new Rng(options.seed).fillUniform(new Float32Array(this.rows * this.dim), -b, b);
    this.slot = this.optimizer.slot('table', this.rows, this.dim);
  }

  /** Training rows: the table as it is (zeros where the last prune step cut). */
  trainForward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherRows(this.table, this.dim, ids, out);
  }

  /** Serving rows: the k largest |w| of the current table, the others 0 (what toTable stores). */
  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    if (!this.selectionFresh) {
      const sel = selectLargest(this.table, this.k);
      this.selectionKey = sel.key;
      this.selectionLastTie = sel.lastTie;
      this.selectionFresh = true;
    }
    gatherSelected(this.table, this.dim, ids, out, {
      key: this.selectionKey,
      lastTie: this.selectionLastTie,
    });
  }

  /** d(loss)/d(E) of trainForward: the row gradients, summed over duplicates. */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const { rows, grads } = sumDuplicates(ids, rowGrads, this.dim);
    return [{ name: 'table', rows, values: grads }];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const [g] = this.gradients(ids, rowGrads) as [ParamGradient];
    this.optimizer.updateRows(this.slot, g.rows as Uint32Array, g.values, this.table);
    this.selectionFresh = false;
    if (this.stage !== 1) return;
    // The prune op runs inside the training step, after the update.
    this.pruneSteps += 1;
    if (this.pruneSteps % this.p.pruneEvery === 0)
      this.pruneTo(deeplightTarget(this.finalRate, this.pruneSteps, this.tau));
  }

  /**
   * Zeroes all but the n·D − round(s·n·D) largest |w| (exact selection, ties to the first entries
   * in row-major order, as the serving table's).
   */
  private pruneTo(sparsity: number): void {
    const total = this.rows * this.dim;
    const keep = Math.max(this.k, total - Math.round(sparsity * total));
    const sel = selectLargest(this.table, keep);
    const W = this.table;
    const bits = new Uint32Array(W.buffer, W.byteOffset, W.length);
    for (let i = 0; i < W.length; i += 1) {
      const key = (bits[i] as number) & 0x7fffffff;
      if (!(key > sel.key || (key === sel.key && i <= sel.lastTie))) W[i] = 0;
    }
    this.lastTarget = sparsity;
    this.selectionFresh = false;
  }

  parameters(): ParamView[] {
    return [{ name: 'table', data: this.table, rowLength: this.dim }];
  }

  /** Non-zero entries of the training table (pruned entries are 0 until they regrow). */
  nonZero(): number {
    return countNonZero(this.table);
  }

  /** The target sparsity of the last prune step (0 before the first). */
  currentTarget(): number {
    return this.lastTarget;
  }

  /** Prune stage: the last prune step reached the final rate (within the stop deviation). */
  meetsBudget(): boolean {
    return this.stage === 1 && this.lastTarget >= this.finalRate * (1 - DEEPLIGHT_STOP_DEVIATION);
  }

  enterStage(context: StageContext): void {
    if (context.index !== 1 || context.stage.name !== 'prune')
      throw new SpecError(`deeplight: no stage ${context.index} (${context.stage.name}) to enter`);
    this.stage = 1;
    this.optimizer = context.optimizer;
    // The table's own optimizer state starts fresh; the optimizer's global step carries over.
    this.slot = this.optimizer.slot('table', this.rows, this.dim);
    this.pruneSteps = 0;
    this.lastTarget = 0;
    this.tau = deeplightTau(context.plannedSteps, this.p.ramp);
    const reachedAt = Math.ceil(this.tau * DEEPLIGHT_RAMP_UNITS);
    context.log(
      `deeplight: pruning to P = ${this.finalRate.toFixed(5)} (k = ${this.k} of ${this.rows * this.dim} entries) every ${this.p.pruneEvery} steps, τ = ${this.tau.toPrecision(4)}: within ${DEEPLIGHT_STOP_DEVIATION}·P of P after ${reachedAt} of ${context.plannedSteps} planned steps`,
    );
  }

  /** Serving form: bytes of the k-entry sparse table (the training form holds the fp32 table). */
  memoryBytes(): number {
    return sparseEstimateBytes(this.shape, this.p);
  }

  /** The k largest |w| as a CSR/COO table: regrown weights beyond k are re-pruned here. */
  toTable(): SparseMethodTable {
    return buildSparseTable('deeplight', this.shape, this.p, this.table);
  }
}

export const deeplight: StagedMethod<DeepLightParams> = {
  kind: 'trainable',
  id: 'deeplight',
  family: 'multi-stage',
  taxonomy: { scope: 'intra-feature', subClass: 'pruning' },
  title: 'DeepLight: warm-up, gradual magnitude pruning while training, CSR/COO sparse table',
  paper:
    'Deng et al., "DeepLight: Deep Lightweight Feature Interactions for Accelerating CTR ' +
    'Predictions in Ad Serving", WSDM 2021',
  params,
  estimateBytes: sparseEstimateBytes,
  paperWords: sparsePaperWords,
  paramsForBudget: (shape, budget, accounting) => {
    const defaults = params.parse({});
    return { ...defaults, ...sparseParamsForBudget(shape, budget, accounting) };
  },
  stages: (p) => stagesOf(params.parse(p)),
  createTrainable: (shape, p, options) => new DeepLightTrainable(shape, params.parse(p), options),
  loadTable: (content: ArtifactContent) => loadSparseTable(content, params),
};

// `autodim`: AutoDim, differentiable per-field dimension search (docs/methods/autodim.md; Zhao et
// al., WWW 2021). Two stages (core/staged.ts):
//  - 'search': for every candidate dim c a table E_c (n × c), per-field projections W_{c,f} and
//    biases b_{c,f}, a BatchNorm without affine parameters per candidate, and architecture
//    weights α (F × |C|). e_f = Σ_c p_{f,c}·BN_c(E_c[x]·W_{c,f} + b_{c,f}). `trainForward` draws
//    Gumbel noise (p = softmax((log_softmax(α_f) + g)/τ), seeded Rng) and uses batch statistics;
//    `forward` is inference: no noise, running statistics (the reference samples noise in
//    evaluation too; we do not). α trains only in `validationStep` (first order, plain SGD).
//  - 'retrain': d_f = argmax_c α_f; E'_f, W'_f, b'_f start as the slices of E_{d_f}, W_{d_f,f},
//    b_{d_f,f}; e = E'_f[x]·W'_f + b'_f; new optimizer slots.
// Every stage's arrays live in this object's own fields (checkpoints walk them, core/staged.ts).
import type { ArtifactContent } from '../core/artifact';
import { SpecError } from '../core/errors';
import { checkIds } from '../core/ids';
import type { CompressedTable, ParamGradient, ParamView, TrainOptions } from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { fieldOf, fieldOffsets, totalRows, validateShape, type TableShape } from '../core/shape';
import type { StageContext, StagedMethod, StagedTrainable, StageSpec } from '../core/staged';
import {
  alphaGradient,
  candidateBatch,
  candidateGradients,
  distinct,
  gumbel,
  mixtureWeights,
  type CandidateBatch,
} from './autodim-search';
import {
  AutodimRetrainTable,
  AutodimSearchTable,
  autodimCandidates,
  autodimParams,
  autodimSpec,
  BN_MOMENTUM,
  loadAutodimTable,
  retrainRow,
  searchFloats,
  searchRow,
  searchWords,
  type AutodimParams,
  type RetrainField,
  type SearchArrays,
} from './autodim-tables';

export { autodimCandidates, type AutodimParams } from './autodim-tables';
export { mixtureWeights } from './autodim-search';

const TAU_MIN = 0.01;

const SEARCH = 0;
const RETRAIN = 1;

export class AutodimTrainable implements StagedTrainable {
  readonly spec: string;
  private readonly rows: number;
  private readonly offsets: Float64Array;
  private optimizer: SparseOptimizer;
  /** 0 search, 1 retrain (a number: checkpoints restore strings only when they already agree). */
  private stageIndex = SEARCH;
  // Search stage.
  private cands: number[];
  private tables: Float32Array[];
  private projs: Float32Array[];
  private biases: Float32Array[];
  private means: Float32Array[];
  private vars: Float32Array[];
  /** Architecture weights α, F × |C|. */
  private alpha: Float32Array;
  private searchSlots: OptimizerSlot[];
  /** Samples (ids / F) seen by training forwards: τ's clock. */
  private samples = 0;
  private readonly noiseRng: Rng;
  /** Noisy weights drawn by the last trainForward, for the backward of the same ids. */
  private pendingMix: Float32Array = new Float32Array(0);
  private pendingIds: Uint32Array = new Uint32Array(0);
  private pending = false;
  // Retrain stage.
  private dims: Uint32Array = new Uint32Array(0);
  private fieldTables: Float32Array[] = [];
  private fieldProjs: Float32Array[] = [];
  private fieldBiases: Float32Array[] = [];
  /**
   * Slots of the retrain stage: named placeholders from the start, so that a retrain checkpoint
   * restores into a freshly built (search-form) object.
   */
  private retrainSlots: OptimizerSlot[];

  constructor(
    readonly shape: TableShape,
    private readonly p: AutodimParams,
    options: TrainOptions,
  ) {
    validateShape(shape);
    this.spec = autodimSpec(p);
    this.rows = totalRows(shape);
    this.offsets = fieldOffsets(shape);
    this.optimizer = options.optimizer;
    const F = shape.fields.length;
    const D = shape.dim;
    const rng = new Rng(options.seed);
    const b = defaultInitBound(shape.fields);
    this.cands = autodimCandidates(D);
    this.tables = this.cands.map((c) => rng.fillUniform(new Float32Array(this.rows * c), -b, b));
    this.projs = this.cands.map((c) => rng.fillUniform(new Float32Array(F * c * D), -b, b));
    this.biases = this.cands.map(() => new Float32Array(F * D));
    this.means = this.cands.map(() => new Float32Array(D));
    this.vars = this.cands.map(() => new Float32Array(D).fill(1));
    this.alpha = rng.fillUniform(new Float32Array(F * this.cands.length), -b, b);
    this.searchSlots = this.cands.flatMap((c, i) => [
      this.optimizer.slot(`c${i}.table`, this.rows, c),
      this.optimizer.slot(`c${i}.proj`, F, c * D),
      this.optimizer.slot(`c${i}.bias`, F, D),
    ]);
    this.noiseRng = new Rng((options.seed ^ 0x6a09e667) >>> 0);
    this.retrainSlots = shape.fields.flatMap((_, f) =>
      ['table', 'proj', 'bias'].map((what) => ({ name: `f${f}.${what}`, rowLength: 0 })),
    );
  }

  private get arrays(): SearchArrays {
    const { cands, tables, projs, biases, means, vars } = this;
    return { cands, tables, projs, biases, means, vars };
  }

  /** Current temperature τ = max(0.01, 1 − tauDecay·samples). */
  temperature(): number {
    return Math.max(TAU_MIN, 1 - this.p.tauDecay * this.samples);
  }

  /** Architecture weights α (F × |C|, live; inspection and tests). */
  architecture(): Float32Array {
    return this.alpha;
  }

  /** Per-field dims of the retrain stage (empty during the search). */
  fieldDims(): Uint32Array {
    return this.dims;
  }

  /** The noisy weights the last trainForward drew, until its backward (tests, inspection). */
  lastTrainMix(): Float32Array | undefined {
    return this.pending ? this.pendingMix : undefined;
  }

  /** Inference mixture weights at the current τ (no noise). */
  inferenceMix(): Float32Array {
    return mixtureWeights(this.alpha, this.cands.length, this.temperature());
  }

  /** Inference: no Gumbel noise, BatchNorm on running statistics; exactly what toTable() serves. */
  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    if (this.stageIndex === RETRAIN) {
      const fields = this.retrainFields();
      for (let i = 0; i < ids.length; i += 1) {
        const id = ids[i] as number;
        const f = fieldOf(this.offsets, id);
        retrainRow(fields[f] as RetrainField, D, id - (this.offsets[f] as number), out, i * D);
      }
      return;
    }
    const mix = this.inferenceMix();
    const acc = new Float64Array(D);
    const y = new Float64Array(D);
    const a = this.arrays;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      searchRow(a, mix, D, fieldOf(this.offsets, id), id, out, i * D, acc, y);
    }
  }

  /**
   * Training rows. Search: fresh Gumbel noise per field and candidate (advancing τ's clock by
   * ids/F samples) and batch statistics; the weights are kept for `backward` of the same ids.
   */
  trainForward(ids: Uint32Array, out: Float32Array): void {
    if (this.stageIndex === RETRAIN) return this.forward(ids, out);
    checkIds(ids, this.rows);
    const C = this.cands.length;
    const noise = new Float64Array(this.alpha.length);
    for (let k = 0; k < noise.length; k += 1) noise[k] = gumbel(this.noiseRng);
    const mix = mixtureWeights(this.alpha, C, this.temperature(), noise);
    this.samples += ids.length / this.shape.fields.length;
    this.trainForwardWith(ids, out, mix);
    this.pendingMix = mix;
    this.pendingIds = ids.slice();
    this.pending = true;
  }

  /** The search stage's training forward with given mixture weights (F × |C|; tests, tools). */
  trainForwardWith(ids: Uint32Array, out: Float32Array, mix: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const C = this.cands.length;
    const fields = this.fieldsOf(ids);
    const a = this.arrays;
    const batch = this.cands.map((_, ci) => candidateBatch(a, ids, fields, ci, D));
    for (let i = 0; i < ids.length; i += 1) {
      const f = fields[i] as number;
      for (let j = 0; j < D; j += 1) {
        let e = 0;
        for (let ci = 0; ci < C; ci += 1)
          e +=
            (mix[f * C + ci] as number) * ((batch[ci] as CandidateBatch).xhat[i * D + j] as number);
        out[i * D + j] = e;
      }
    }
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    if (this.stageIndex === RETRAIN) return this.retrainStep(ids, rowGrads, false);
    return this.searchStep(ids, rowGrads, this.mixFor(ids), false);
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    if (this.stageIndex === RETRAIN) {
      this.retrainStep(ids, rowGrads, true);
      return;
    }
    this.searchStep(ids, rowGrads, this.mixFor(ids), true);
    this.pending = false;
  }

  /** Gradients of the search stage's training forward with given weights (tests, tools). */
  gradientsWith(ids: Uint32Array, rowGrads: Float32Array, mix: Float32Array): ParamGradient[] {
    return this.searchStep(ids, rowGrads, mix, false);
  }

  /**
   * First-order architecture step: rowGrads = d(validation loss)/d(forward(ids)) (inference rows:
   * running statistics, no noise); α ← α − alphaLr·dL/dα. Nothing else changes. A no-op after the
   * search stage.
   */
  validationStep(ids: Uint32Array, rowGrads: Float32Array): void {
    checkIds(ids, this.rows);
    if (this.stageIndex !== SEARCH) return;
    const grad = alphaGradient(
      this.arrays,
      this.alpha,
      this.inferenceMix(),
      this.temperature(),
      ids,
      this.fieldsOf(ids),
      rowGrads,
      this.shape.dim,
    );
    for (let k = 0; k < this.alpha.length; k += 1)
      this.alpha[k] = (this.alpha[k] as number) - this.p.alphaLr * (grad[k] as number);
  }

  /** d_f = argmax_c α_f (first on ties), then the retrain form from the slices; new slots. */
  enterStage(context: StageContext): void {
    if (context.index !== RETRAIN || this.stageIndex !== SEARCH)
      throw new SpecError(
        `autodim: cannot enter stage ${context.index} (${context.stage.name}) from stage ${this.stageIndex}`,
      );
    const F = this.shape.fields.length;
    const D = this.shape.dim;
    const C = this.cands.length;
    this.optimizer = context.optimizer;
    this.dims = new Uint32Array(F);
    this.fieldTables = [];
    this.fieldProjs = [];
    this.fieldBiases = [];
    this.retrainSlots = [];
    this.shape.fields.forEach((n, f) => {
      let best = 0;
      for (let ci = 1; ci < C; ci += 1)
        if ((this.alpha[f * C + ci] as number) > (this.alpha[f * C + best] as number)) best = ci;
      const d = this.cands[best] as number;
      const off = this.offsets[f] as number;
      this.dims[f] = d;
      this.fieldTables.push((this.tables[best] as Float32Array).slice(off * d, (off + n) * d));
      this.fieldProjs.push((this.projs[best] as Float32Array).slice(f * d * D, (f + 1) * d * D));
      this.fieldBiases.push((this.biases[best] as Float32Array).slice(f * D, (f + 1) * D));
      this.retrainSlots.push(
        this.optimizer.slot(`f${f}.table`, n, d),
        this.optimizer.slot(`f${f}.proj`, d, D),
        this.optimizer.slot(`f${f}.bias`, 1, D),
      );
    });
    // The search arrays go (α stays, F × |C| floats, for inspection).
    this.tables = [];
    this.projs = [];
    this.biases = [];
    this.means = [];
    this.vars = [];
    this.searchSlots = [];
    this.pendingMix = new Float32Array(0);
    this.pendingIds = new Uint32Array(0);
    this.pending = false;
    this.stageIndex = RETRAIN;
    context.log(
      `autodim: searched dims ${Array.from(this.dims).join(',')}; ${this.memoryBytes()} bytes`,
    );
  }

  parameters(): ParamView[] {
    if (this.stageIndex === RETRAIN)
      return this.fieldTables.flatMap((table, f) => [
        { name: `f${f}.table`, data: table, rowLength: this.dims[f] as number },
        { name: `f${f}.proj`, data: this.fieldProjs[f] as Float32Array },
        { name: `f${f}.bias`, data: this.fieldBiases[f] as Float32Array },
      ]);
    return this.cands.flatMap((c, i) => [
      { name: `c${i}.table`, data: this.tables[i] as Float32Array, rowLength: c },
      { name: `c${i}.proj`, data: this.projs[i] as Float32Array },
      { name: `c${i}.bias`, data: this.biases[i] as Float32Array },
    ]);
  }

  /** Bytes of the current stage's serving form (search: every candidate; retrain: the result). */
  memoryBytes(): number {
    if (this.stageIndex === RETRAIN) return this.toTable().memoryBytes();
    return 4 * searchFloats(this.shape);
  }

  toTable(): CompressedTable {
    if (this.stageIndex === RETRAIN)
      return new AutodimRetrainTable(
        this.shape,
        this.p,
        this.dims.slice(),
        this.retrainFields().map((fd) => ({
          d: fd.d,
          table: fd.table.slice(),
          proj: fd.proj.slice(),
          bias: fd.bias.slice(),
        })),
      );
    const copy = (list: readonly Float32Array[]) => list.map((a) => a.slice());
    return new AutodimSearchTable(
      this.shape,
      this.p,
      {
        cands: [...this.cands],
        tables: copy(this.tables),
        projs: copy(this.projs),
        biases: copy(this.biases),
        means: copy(this.means),
        vars: copy(this.vars),
      },
      this.inferenceMix(),
    );
  }

  private retrainFields(): RetrainField[] {
    return this.fieldTables.map((table, f) => ({
      d: this.dims[f] as number,
      table,
      proj: this.fieldProjs[f] as Float32Array,
      bias: this.fieldBiases[f] as Float32Array,
    }));
  }

  /** The noisy weights of the last trainForward when `ids` are its ids, else inference weights. */
  private mixFor(ids: Uint32Array): Float32Array {
    const p = this.pendingIds;
    if (this.pending && p.length === ids.length && p.every((v, i) => v === ids[i]))
      return this.pendingMix;
    return this.inferenceMix();
  }

  private fieldsOf(ids: Uint32Array): Uint32Array {
    const fields = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i += 1) fields[i] = fieldOf(this.offsets, ids[i] as number);
    return fields;
  }

  /** Gradients of trainForwardWith(ids, ·, mix); applied, and running statistics advanced, if `apply`. */
  private searchStep(
    ids: Uint32Array,
    rowGrads: Float32Array,
    mix: Float32Array,
    apply: boolean,
  ): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const N = ids.length;
    const fields = this.fieldsOf(ids);
    const { rows, slotOf } = distinct(ids);
    const a = this.arrays;
    const result: ParamGradient[] = [];
    this.cands.forEach((_, ci) => {
      const g = candidateGradients(a, ids, fields, slotOf, rows.length, rowGrads, mix, ci, D);
      const gE = {
        name: `c${ci}.table`,
        rows: Uint32Array.from(rows),
        values: Float32Array.from(g.dE),
      };
      const gW = { name: `c${ci}.proj`, values: Float32Array.from(g.dW) };
      const gb = { name: `c${ci}.bias`, values: Float32Array.from(g.db) };
      if (!apply) {
        result.push(gE, gW, gb);
        return;
      }
      const slot = (k: number) => this.searchSlots[3 * ci + k] as OptimizerSlot;
      if (rows.length > 0)
        this.optimizer.updateRows(slot(0), gE.rows, gE.values, this.tables[ci] as Float32Array);
      this.optimizer.updateDense(slot(1), gW.values, this.projs[ci] as Float32Array);
      this.optimizer.updateDense(slot(2), gb.values, this.biases[ci] as Float32Array);
      // Running statistics (unbiased batch variance, as PyTorch); a single row has no estimate.
      if (N >= 2) {
        const rm = this.means[ci] as Float32Array;
        const rv = this.vars[ci] as Float32Array;
        for (let j = 0; j < D; j += 1) {
          rm[j] = (1 - BN_MOMENTUM) * (rm[j] as number) + BN_MOMENTUM * (g.batch.mean[j] as number);
          rv[j] =
            (1 - BN_MOMENTUM) * (rv[j] as number) +
            (BN_MOMENTUM * (g.batch.variance[j] as number) * N) / (N - 1);
        }
      }
    });
    return result;
  }

  /** dE'_f[x] = W'_f·g, dW'_f = Σ E'_f[x]ᵀ·g, db'_f = Σ g; every field's W', b' once per call. */
  private retrainStep(ids: Uint32Array, rowGrads: Float32Array, apply: boolean): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const F = this.shape.fields.length;
    const local = new Uint32Array(ids.length);
    const fields = this.fieldsOf(ids);
    for (let i = 0; i < ids.length; i += 1)
      local[i] = (ids[i] as number) - (this.offsets[fields[i] as number] as number);
    const result: ParamGradient[] = [];
    for (let f = 0; f < F; f += 1) {
      const d = this.dims[f] as number;
      const table = this.fieldTables[f] as Float32Array;
      const proj = this.fieldProjs[f] as Float32Array;
      const positions: number[] = [];
      for (let i = 0; i < ids.length; i += 1) if (fields[i] === f) positions.push(i);
      const { rows, slotOf } = distinct(Uint32Array.from(positions, (i) => local[i] as number));
      const dE = new Float64Array(rows.length * d);
      const dW = new Float64Array(d * D);
      const db = new Float64Array(D);
      positions.forEach((i, r) => {
        const src = (local[i] as number) * d;
        const dst = (slotOf[r] as number) * d;
        for (let j = 0; j < D; j += 1) db[j] = (db[j] as number) + (rowGrads[i * D + j] as number);
        for (let k = 0; k < d; k += 1) {
          const ek = table[src + k] as number;
          let s = 0;
          for (let j = 0; j < D; j += 1) {
            const g = rowGrads[i * D + j] as number;
            s += g * (proj[k * D + j] as number);
            dW[k * D + j] = (dW[k * D + j] as number) + ek * g;
          }
          dE[dst + k] = (dE[dst + k] as number) + s;
        }
      });
      const gE = {
        name: `f${f}.table`,
        rows: Uint32Array.from(rows),
        values: Float32Array.from(dE),
      };
      const gW = { name: `f${f}.proj`, values: Float32Array.from(dW) };
      const gb = { name: `f${f}.bias`, values: Float32Array.from(db) };
      if (!apply) {
        result.push(gE, gW, gb);
        continue;
      }
      const slot = (k: number) => this.retrainSlots[3 * f + k] as OptimizerSlot;
      if (rows.length > 0) this.optimizer.updateRows(slot(0), gE.rows, gE.values, table);
      this.optimizer.updateDense(slot(1), gW.values, proj);
      this.optimizer.updateDense(slot(2), gb.values, this.fieldBiases[f] as Float32Array);
    }
    return result;
  }
}

const STAGES: readonly StageSpec[] = [
  {
    name: 'search',
    end: { kind: 'parts' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'carry',
    keep: 'best-val',
    validationStep: true,
  },
  {
    name: 'retrain',
    end: { kind: 'parts' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'reset',
    keep: 'best-val',
  },
];

export const autodim: StagedMethod<AutodimParams> = {
  kind: 'trainable',
  id: 'autodim',
  family: 'multi-stage',
  taxonomy: { scope: 'intra-feature', subClass: 'dimension-reduction' },
  title:
    'AutoDim: per-field dims searched by Gumbel-softmax over candidate tables (validation-trained α), then retrained',
  paper:
    'Zhao et al., "AutoDim: Field-aware Embedding Dimension Search in Recommender Systems", WWW 2021',
  params: autodimParams,
  stages: () => STAGES,
  /** The search stage's bytes (the largest form; the retrain stage's dims are searched, not given). */
  estimateBytes: (shape, _p) => {
    validateShape(shape);
    return 4 * searchFloats(shape);
  },
  paperWords: (shape, _p) => {
    validateShape(shape);
    return searchWords(shape);
  },
  createTrainable: (shape, p, options) => new AutodimTrainable(shape, p, options),
  loadTable: (content: ArtifactContent) => loadAutodimTable(content),
};

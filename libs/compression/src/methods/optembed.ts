// `optembed`: OptEmbed, row pruning + evolutionary per-field dimension search
// (docs/methods/optembed.md; Lyu et al., CIKM 2022). Three stages (core/staged.ts):
//  - 'supernet': E (n × D), per-field thresholds t (init 0, plain SGD). Training rows:
//    e = step(‖v‖₁ − t_f)·M[k] ⊙ v with a random dimension mask k ~ UniformInt[0, D) per lookup
//    (seeded Rng, training only); inference rows e = step(‖v‖₁ − t_f)·v. The step's derivative is
//    the straight-through g(z) of the page; loss += α_reg·Σ_f exp(−t_f).
//  - 'search' (no training): enterStage prunes the rows with ‖E[x]‖₁ ≤ t_f (remap ρ, kept rows in
//    id order), runs the evolutionary search (optembed-evolution.ts) with one validation pass per
//    new candidate κ, and keeps the best κ: field f keeps its first κ_f + 1 columns, stored as
//    per-field tables of exactly that width.
//  - 'retrain': the same form trains with new optimizer slots (dropped columns do not exist, so
//    they get no gradient).
// Every stage's arrays live in this object's own fields (checkpoints walk them, core/staged.ts).
import type { ArtifactContent } from '../core/artifact';
import { SpecError } from '../core/errors';
import { checkIds } from '../core/ids';
import type { CompressedTable, ParamGradient, ParamView, TrainOptions } from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { fieldOf, fieldOffsets, totalRows, validateShape, type TableShape } from '../core/shape';
import type { StageContext, StagedMethod, StagedTrainable, StageSpec } from '../core/staged';
import { evolve } from './optembed-evolution';
import {
  keptLayout,
  loadOptembedTable,
  OptembedPrunedTable,
  optembedParams,
  optembedSpec,
  OptembedSupernetTable,
  prunedRow,
  supernetRow,
  type OptembedParams,
  type PrunedArrays,
} from './optembed-tables';

export type { OptembedParams } from './optembed-tables';

/**
 * The straight-through derivative of step(z): 2 − 4|z| for |z| ≤ 0.4, 0.4 for 0.4 < |z| ≤ 1,
 * 0 beyond.
 */
export function steDerivative(z: number): number {
  const a = Math.abs(z);
  if (a <= 0.4) return 2 - 4 * a;
  if (a <= 1) return 0.4;
  return 0;
}

const SUPERNET = 0;
const SEARCH = 1;
const RETRAIN = 2;

/** Distinct values of `ids` in first-seen order, and each position's slot among them. */
function distinct(ids: ArrayLike<number>): { rows: number[]; slotOf: Uint32Array } {
  const index = new Map<number, number>();
  const rows: number[] = [];
  const slotOf = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    let k = index.get(id);
    if (k === undefined) {
      k = rows.length;
      index.set(id, k);
      rows.push(id);
    }
    slotOf[i] = k;
  }
  return { rows, slotOf };
}

export class OptembedTrainable implements StagedTrainable {
  readonly spec: string;
  private readonly rows: number;
  private readonly offsets: Float64Array;
  private optimizer: SparseOptimizer;
  /** 0 supernet, 1 search (pruned form), 2 retrain (a number: checkpoints compare strings). */
  private stageIndex = SUPERNET;
  // Supernet.
  private table: Float32Array;
  private thresholds: Float32Array;
  private supernetSlots: OptimizerSlot[];
  private readonly maskRng: Rng;
  /** Dimension masks (k per lookup) of the last trainForward, for the backward of the same ids. */
  private pendingIds: Uint32Array = new Uint32Array(0);
  private pendingK: Uint32Array = new Uint32Array(0);
  private pending = false;
  // Pruned form (search, retrain).
  private remap: Int32Array = new Int32Array(0);
  private dims: Uint32Array = new Uint32Array(0);
  private fieldTables: Float32Array[] = [];
  private starts: Uint32Array = new Uint32Array(0);
  /** Named from the start, so that a pruned-form checkpoint restores into a fresh object. */
  private fieldSlots: OptimizerSlot[];
  /** Validation AUC of the κ the search kept (NaN before the search). */
  private searchedAuc = NaN;

  constructor(
    readonly shape: TableShape,
    private readonly p: OptembedParams,
    options: TrainOptions,
  ) {
    validateShape(shape);
    this.spec = optembedSpec(p);
    this.rows = totalRows(shape);
    this.offsets = fieldOffsets(shape);
    this.optimizer = options.optimizer;
    const b = defaultInitBound(shape.fields);
    this.table = new Rng(options.seed).fillUniform(new Float32Array(this.rows * shape.dim), -b, b);
    this.thresholds = new Float32Array(shape.fields.length);
    this.supernetSlots = [this.optimizer.slot('table', this.rows, shape.dim)];
    this.maskRng = new Rng((options.seed ^ 0x3c6ef372) >>> 0);
    this.fieldSlots = shape.fields.map((_, f) => ({ name: `f${f}.table`, rowLength: 0 }));
  }

  /** Per-field thresholds t (live; supernet stage; inspection and tests). */
  fieldThresholds(): Float32Array {
    return this.thresholds;
  }

  /** Kept columns d_f = κ_f + 1 (empty before the search). */
  keptColumns(): Uint32Array {
    return this.dims;
  }

  /** ρ (empty before the search). */
  rowRemap(): Int32Array {
    return this.remap;
  }

  /** The dimension masks (k per lookup) the last trainForward drew, until its backward. */
  lastMasks(): Uint32Array | undefined {
    return this.pending ? this.pendingK : undefined;
  }

  /** Inference rows: supernet e = step(‖v‖₁ − t_f)·v; pruned form E'_f[ρ(x)] zero-padded. */
  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    if (this.stageIndex === SUPERNET) {
      for (let i = 0; i < ids.length; i += 1) {
        const id = ids[i] as number;
        const f = fieldOf(this.offsets, id);
        supernetRow(this.table, this.thresholds, D, f, id, out, i * D);
      }
      return;
    }
    const a = this.pruned();
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      prunedRow(a, D, fieldOf(this.offsets, id), id, out, i * D);
    }
  }

  /** Supernet: a fresh dimension mask k ~ UniformInt[0, D) per lookup, kept for `backward`. */
  trainForward(ids: Uint32Array, out: Float32Array): void {
    if (this.stageIndex !== SUPERNET) return this.forward(ids, out);
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const ks = Uint32Array.from(ids, () => this.maskRng.int(0, D));
    this.forward(ids, out);
    for (let i = 0; i < ids.length; i += 1) out.fill(0, i * D + (ks[i] as number) + 1, (i + 1) * D);
    this.pendingIds = ids.slice();
    this.pendingK = ks;
    this.pending = true;
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    if (this.stageIndex !== SUPERNET) return this.prunedStep(ids, rowGrads, false);
    return this.supernetStep(ids, rowGrads, this.masksFor(ids), false);
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    if (this.stageIndex !== SUPERNET) {
      this.prunedStep(ids, rowGrads, true);
      return;
    }
    this.supernetStep(ids, rowGrads, this.masksFor(ids), true);
    this.pending = false;
  }

  /** Supernet gradients with given masks (k per lookup; tests and tools). */
  gradientsWith(ids: Uint32Array, rowGrads: Float32Array, ks: Uint32Array): ParamGradient[] {
    return this.supernetStep(ids, rowGrads, ks, false);
  }

  async enterStage(context: StageContext): Promise<void> {
    if (context.index === SEARCH && this.stageIndex === SUPERNET) return this.search(context);
    if (context.index === RETRAIN && this.stageIndex === SEARCH) {
      // 'reset': the retrain starts from the parameters only, with new slots.
      this.optimizer = context.optimizer;
      this.fieldSlots = this.newFieldSlots();
      this.stageIndex = RETRAIN;
      return;
    }
    throw new SpecError(
      `optembed: cannot enter stage ${context.index} (${context.stage.name}) from stage ${this.stageIndex}`,
    );
  }

  parameters(): ParamView[] {
    if (this.stageIndex === SUPERNET)
      return [
        { name: 'table', data: this.table, rowLength: this.shape.dim },
        { name: 'thresholds', data: this.thresholds },
      ];
    return this.fieldTables.map((data, f) => ({
      name: `f${f}.table`,
      data,
      rowLength: this.dims[f] as number,
    }));
  }

  memoryBytes(): number {
    return this.toTable().memoryBytes();
  }

  toTable(): CompressedTable {
    if (this.stageIndex === SUPERNET)
      return new OptembedSupernetTable(
        this.shape,
        this.p,
        this.table.slice(),
        this.thresholds.slice(),
      );
    return new OptembedPrunedTable(this.shape, this.p, {
      remap: this.remap.slice(),
      dims: this.dims.slice(),
      tables: this.fieldTables.map((t) => t.slice()),
      starts: this.starts.slice(),
    });
  }

  /** Prune, search κ on validation, then switch to the per-field kept-column form. */
  private async search(context: StageContext): Promise<void> {
    const D = this.shape.dim;
    const F = this.shape.fields.length;
    // ρ: rows with ‖E[x]‖₁ − t_f > 0 stay, in id order.
    const remap = new Int32Array(this.rows).fill(-1);
    let kept = 0;
    for (let f = 0; f < F; f += 1) {
      for (let id = this.offsets[f] as number; id < (this.offsets[f + 1] as number); id += 1) {
        // The same test (and float64 sum order) as supernetRow.
        let l1 = 0;
        for (let j = 0; j < D; j += 1) l1 += Math.abs(this.table[id * D + j] as number);
        if (l1 - (this.thresholds[f] as number) > 0) {
          remap[id] = kept;
          kept += 1;
        }
      }
    }
    const pruned = new Float32Array(kept * D);
    for (let id = 0; id < this.rows; id += 1) {
      const r = remap[id] as number;
      if (r >= 0) pruned.set(this.table.subarray(id * D, (id + 1) * D), r * D);
    }
    const { starts, counts } = keptLayout(remap, this.offsets);
    context.log(
      `optembed: kept ${kept} of ${this.rows} rows (${(kept / this.rows).toPrecision(4)}); per field ${Array.from(counts).join(',')}`,
    );
    const widths = new Uint32Array(F);
    const lookupFor = (kappa: Uint32Array) => (ids: Uint32Array, out: Float32Array) => {
      checkIds(ids, this.rows);
      for (let i = 0; i < ids.length; i += 1) {
        const id = ids[i] as number;
        const r = remap[id] as number;
        out.fill(0, i * D, (i + 1) * D);
        if (r < 0) continue;
        const d = (kappa[fieldOf(this.offsets, id)] as number) + 1;
        for (let j = 0; j < d; j += 1) out[i * D + j] = pruned[r * D + j] as number;
      }
    };
    const rng = new Rng((context.seed ^ 0x5be0cd19 ^ (context.index << 8)) >>> 0);
    const result = await evolve(
      { fields: F, dim: D, ...this.p },
      rng,
      async (kappa) => (await context.evaluate(lookupFor(kappa))).auc,
      (line) => context.log(line),
    );
    result.best.forEach((k, f) => (widths[f] = k + 1));
    const tables = this.shape.fields.map((_, f) => {
      const d = widths[f] as number;
      const t = new Float32Array((counts[f] as number) * d);
      for (let r = 0; r < (counts[f] as number); r += 1) {
        const src = ((starts[f] as number) + r) * D;
        for (let j = 0; j < d; j += 1) t[r * d + j] = pruned[src + j] as number;
      }
      return t;
    });
    context.log(
      `optembed: kept columns ${Array.from(widths).join(',')} (validation AUC ${result.score.toFixed(5)}, ${result.evaluations} validation passes)`,
    );
    // Switch form: the supernet arrays go.
    this.remap = remap;
    this.dims = widths;
    this.fieldTables = tables;
    this.starts = starts;
    this.searchedAuc = result.score;
    this.table = new Float32Array(0);
    this.thresholds = new Float32Array(0);
    this.supernetSlots = [];
    this.pendingIds = new Uint32Array(0);
    this.pendingK = new Uint32Array(0);
    this.pending = false;
    this.optimizer = context.optimizer;
    this.fieldSlots = this.newFieldSlots();
    this.stageIndex = SEARCH;
  }

  private newFieldSlots(): OptimizerSlot[] {
    return this.fieldTables.map((t, f) =>
      this.optimizer.slot(
        `f${f}.table`,
        t.length / (this.dims[f] as number),
        this.dims[f] as number,
      ),
    );
  }

  private pruned(): PrunedArrays {
    return { remap: this.remap, dims: this.dims, tables: this.fieldTables, starts: this.starts };
  }

  /** The masks of the last trainForward when `ids` are its ids, else none (k = D − 1: no mask). */
  private masksFor(ids: Uint32Array): Uint32Array {
    const p = this.pendingIds;
    if (this.pending && p.length === ids.length && p.every((v, i) => v === ids[i]))
      return this.pendingK;
    return new Uint32Array(ids.length).fill(this.shape.dim - 1);
  }

  /**
   * e_j = m·[j ≤ k]·v_j with m = step(z), z = ‖v‖₁ − t_f. With the straight-through s = g(z):
   * dv_j = m·[j ≤ k]·g_j + s·(Σ_{l ≤ k} g_l v_l)·sign(v_j), dt_f = −s·Σ_{l ≤ k} g_l v_l. `backward`
   * adds the regulariser's −α_reg·exp(−t_f) to dt and takes a plain SGD step on t.
   */
  private supernetStep(
    ids: Uint32Array,
    rowGrads: Float32Array,
    ks: Uint32Array,
    apply: boolean,
  ): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const F = this.shape.fields.length;
    const { rows, slotOf } = distinct(ids);
    const dE = new Float64Array(rows.length * D);
    const dt = new Float64Array(F);
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const f = fieldOf(this.offsets, id);
      const src = id * D;
      let l1 = 0;
      for (let j = 0; j < D; j += 1) l1 += Math.abs(this.table[src + j] as number);
      const z = l1 - (this.thresholds[f] as number);
      const m = z > 0 ? 1 : 0;
      const s = steDerivative(z);
      const k = ks[i] as number;
      let inner = 0;
      for (let j = 0; j <= k; j += 1)
        inner += (rowGrads[i * D + j] as number) * (this.table[src + j] as number);
      const dst = (slotOf[i] as number) * D;
      for (let j = 0; j < D; j += 1) {
        const v = this.table[src + j] as number;
        const direct = j <= k ? m * (rowGrads[i * D + j] as number) : 0;
        dE[dst + j] = (dE[dst + j] as number) + direct + s * inner * Math.sign(v);
      }
      dt[f] = (dt[f] as number) - s * inner;
    }
    const gE = { name: 'table', rows: Uint32Array.from(rows), values: Float32Array.from(dE) };
    const gt = { name: 'thresholds', values: Float32Array.from(dt) };
    if (!apply) return [gE, gt];
    if (rows.length > 0)
      this.optimizer.updateRows(
        this.supernetSlots[0] as OptimizerSlot,
        gE.rows,
        gE.values,
        this.table,
      );
    for (let f = 0; f < F; f += 1) {
      const t = this.thresholds[f] as number;
      const g = (dt[f] as number) - this.p.alphaReg * Math.exp(-t);
      this.thresholds[f] = t - this.p.threshLr * g;
    }
    return [];
  }

  /** Gradients of the kept columns of the kept rows (pruned rows have none). */
  private prunedStep(ids: Uint32Array, rowGrads: Float32Array, apply: boolean): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const F = this.shape.fields.length;
    const result: ParamGradient[] = [];
    const fields = Uint32Array.from(ids, (id) => fieldOf(this.offsets, id));
    for (let f = 0; f < F; f += 1) {
      const d = this.dims[f] as number;
      const positions: number[] = [];
      for (let i = 0; i < ids.length; i += 1)
        if (fields[i] === f && (this.remap[ids[i] as number] as number) >= 0) positions.push(i);
      const local = positions.map(
        (i) => (this.remap[ids[i] as number] as number) - (this.starts[f] as number),
      );
      const { rows, slotOf } = distinct(local);
      const values = new Float32Array(rows.length * d);
      positions.forEach((i, r) => {
        const dst = (slotOf[r] as number) * d;
        for (let j = 0; j < d; j += 1)
          values[dst + j] = (values[dst + j] as number) + (rowGrads[i * D + j] as number);
      });
      const g = { name: `f${f}.table`, rows: Uint32Array.from(rows), values };
      if (!apply) result.push(g);
      else if (rows.length > 0)
        this.optimizer.updateRows(
          this.fieldSlots[f] as OptimizerSlot,
          g.rows,
          values,
          this.fieldTables[f] as Float32Array,
        );
    }
    return result;
  }
}

const STAGES: readonly StageSpec[] = [
  {
    name: 'supernet',
    end: { kind: 'parts' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'carry',
    keep: 'best-val',
  },
  {
    name: 'search',
    end: { kind: 'none' },
    dense: 'frozen',
    denseStart: 'keep',
    optimizer: 'carry',
    keep: 'last',
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

/** The supernet stage's bytes: E and the F thresholds (the later forms are searched, not given). */
function estimateBytes(shape: TableShape, _p: OptembedParams): number {
  validateShape(shape);
  return 4 * (totalRows(shape) * shape.dim + shape.fields.length);
}

export const optembed: StagedMethod<OptembedParams> = {
  kind: 'trainable',
  id: 'optembed',
  family: 'multi-stage',
  taxonomy: { scope: 'intra-feature', subClass: 'dimension-reduction' },
  title:
    'OptEmbed: supernet with learned row thresholds, evolutionary per-field dim search, retrain of the pruned table',
  paper:
    'Lyu et al., "OptEmbed: Learning Optimal Embedding Table for Click-through Rate Prediction", CIKM 2022',
  params: optembedParams,
  stages: () => STAGES,
  estimateBytes,
  paperWords: (shape, _p) => {
    validateShape(shape);
    return totalRows(shape) * shape.dim;
  },
  createTrainable: (shape, p, options) => new OptembedTrainable(shape, p, options),
  loadTable: (content: ArtifactContent) => loadOptembedTable(content),
};

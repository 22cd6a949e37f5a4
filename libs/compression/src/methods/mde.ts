// `mde`: Mixed-Dimension Embeddings (docs/methods/mde.md, reference key `md`; Ginart et al., ISIT
// 2021). Field f keeps a table E_f (n_f × d_f) with d_f chosen by the α rule from the field
// cardinalities, and, when d_f < D, a projection P_f (d_f × D, no bias): e = E_f[x] · P_f. Training
// and serving run the same `mdeRow` code (same arithmetic order), so served rows are bit-identical.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent, artifactParams } from '../core/artifact';
import { bisect, checkBudget, type Accounting } from '../core/budget';
import { describeTable } from '../core/describe';
import { BudgetError } from '../core/errors';
import { checkIds } from '../core/ids';
import type {
  CompressedTable,
  ParamGradient,
  ParamView,
  TableDescription,
  TrainableEmbedding,
  TrainableMethod,
  TrainOptions,
} from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { fieldOf, fieldOffsets, totalRows, validateShape, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';

const params = z
  .object({
    /** Exponent α ∈ [0, 1]: d_f = D·(n_min / n_f)^α (0: every field keeps D). */
    alpha: z.number().min(0).max(1).default(0.1),
    /** Snap each d_f to the nearest power of two (the reference's round_dim). */
    roundDim: z.boolean().default(true),
  })
  .strict();
export type MdeParams = z.infer<typeof params>;

/** Python's round(): nearest integer, ties to even (the reference rounds with it). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Per-field dimensions (field order): λ = D·n_min^α, d_f = max(1, round(λ·n_f^(−α))), then with
 * roundDim d_f = 2^round(log2 d_f). We also cap d_f at D: for D not a power of two the snap can
 * exceed D (D = 12 → 16), which the reference lets through (a projection that grows the row).
 */
export function mdeDims(shape: TableShape, alpha: number, roundDim = true): number[] {
  const D = shape.dim;
  const nMin = Math.min(...shape.fields);
  const lambda = D * Math.pow(nMin, alpha);
  return shape.fields.map((n) => {
    let d = Math.max(1, roundHalfEven(lambda * Math.pow(n, -alpha)));
    if (roundDim) d = Math.pow(2, roundHalfEven(Math.log2(d)));
    return Math.min(d, D);
  });
}

/** Σ n_f·d_f + [d_f ≠ D]·d_f·D words (tables and projections). */
function wordsOf(shape: TableShape, dims: readonly number[]): number {
  let words = 0;
  shape.fields.forEach((n, f) => {
    const d = dims[f] as number;
    words += n * d + (d !== shape.dim ? d * shape.dim : 0);
  });
  return words;
}

/** Σ n_f·d_f: the reference's logged ("real") words, without projections. */
function tableWordsOf(shape: TableShape, dims: readonly number[]): number {
  let words = 0;
  shape.fields.forEach((n, f) => (words += n * (dims[f] as number)));
  return words;
}

function dimsOf(shape: TableShape, p: MdeParams): number[] {
  validateShape(shape);
  return mdeDims(shape, p.alpha, p.roundDim);
}

const estimateBytes = (shape: TableShape, p: MdeParams) => 4 * wordsOf(shape, dimsOf(shape, p));
const paperWords = (shape: TableShape, p: MdeParams) => wordsOf(shape, dimsOf(shape, p));

/**
 * The reference's α search (docs/methods/mde.md): bisect α ∈ [0, 1] (eps 1e-3) on
 * cr·n·D − Memory(α), Memory counting tables and projections. 'paper-words' then takes
 * α = left when the table-only ratio Σ n_f·d_f/(n·D) < cr·(1 + 1e-3), else right (so the
 * reference may pick a left that is over budget once projections count); 'bytes' always takes
 * right, which meets the budget in bytes. Throws BudgetError below the ~1/D floor (every d_f ≥ 1).
 */
export function mdeParamsForBudget(
  shape: TableShape,
  budget: number,
  accounting: Accounting = 'bytes',
): MdeParams {
  checkBudget(budget);
  validateShape(shape);
  const nD = totalRows(shape) * shape.dim;
  const memory = (alpha: number) => wordsOf(shape, mdeDims(shape, alpha, true));
  const g = (alpha: number) => budget * nD - memory(alpha);
  if (g(0) >= 0) return { alpha: 0, roundDim: true };
  if (g(1) <= 0) {
    throw new BudgetError(
      `mde: budget ${budget} is below the smallest reachable ratio ${(memory(1) / nD).toPrecision(4)} ` +
        `(every field keeps d_f ≥ 1, so about 1/D plus projections)`,
    );
  }
  const { left, right } = bisect(0, 1, g, 1e-3);
  if (accounting === 'bytes') return { alpha: right, roundDim: true };
  const tableOnly = tableWordsOf(shape, mdeDims(shape, left, true)) / nD;
  return { alpha: tableOnly < budget * (1 + 1e-3) ? left : right, roundDim: true };
}

/** One field: table (n × d) and, when d < D, projection (d × D). */
interface FieldData {
  d: number;
  table: Float32Array;
  proj: Float32Array | null;
}

/** e = E[x]·P (or E[x] when d = D) into out[at .. at + D). Shared by training and serving. */
function mdeRow(fd: FieldData, D: number, x: number, out: Float32Array, at: number): void {
  const { d, table, proj } = fd;
  const src = x * d;
  if (proj === null) {
    for (let j = 0; j < D; j += 1) out[at + j] = table[src + j] as number;
    return;
  }
  for (let j = 0; j < D; j += 1) {
    let s = 0;
    for (let k = 0; k < d; k += 1) s += (table[src + k] as number) * (proj[k * D + j] as number);
    out[at + j] = s;
  }
}

class MdeRows {
  readonly offsets: Float64Array;
  readonly rows: number;

  constructor(
    readonly shape: TableShape,
    readonly data: FieldData[],
  ) {
    this.offsets = fieldOffsets(shape);
    this.rows = totalRows(shape);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const f = fieldOf(this.offsets, id);
      mdeRow(this.data[f] as FieldData, D, id - (this.offsets[f] as number), out, i * D);
    }
  }

  bytes(): number {
    let bytes = 0;
    for (const fd of this.data) bytes += fd.table.byteLength + (fd.proj?.byteLength ?? 0);
    return bytes;
  }
}

function specOf(p: MdeParams): string {
  return formatOne('mde', { alpha: p.alpha, roundDim: p.roundDim });
}

export class MdeTable implements CompressedTable {
  readonly method = 'mde';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly compute: MdeRows;

  constructor(
    readonly shape: TableShape,
    private readonly params: MdeParams,
    data: FieldData[],
  ) {
    this.spec = specOf(params);
    this.compute = new MdeRows(shape, data);
    this.rows = this.compute.rows;
    this.dim = shape.dim;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    this.compute.lookup(ids, out);
  }

  memoryBytes(): number {
    return this.compute.bytes();
  }

  describe(): TableDescription {
    const dims = this.compute.data.map((fd) => fd.d);
    const tableOnly = tableWordsOf(this.shape, dims);
    const nD = this.rows * this.dim;
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      wordsOf(this.shape, dims),
      [
        `per-field dims ${dims.join(',')}`,
        `paper words include the projections (as the reference's budget search does); its logged ratio leaves them out: table-only ${tableOnly} words = ratio ${(tableOnly / nD).toPrecision(5)}`,
      ],
    );
  }

  encode(): Uint8Array {
    const sections = new Map<string, Float32Array>();
    this.compute.data.forEach((fd, f) => {
      sections.set(`f${f}.table`, fd.table);
      if (fd.proj !== null) sections.set(`f${f}.proj`, fd.proj);
    });
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections,
    });
  }
}

class MdeTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly compute: MdeRows;
  private readonly views: ParamView[] = [];
  private readonly slots: OptimizerSlot[] = [];
  /** Index in `views` of each field's table (its projection, if any, follows). */
  private readonly tableParam: number[] = [];

  constructor(
    readonly shape: TableShape,
    private readonly params: MdeParams,
    options: TrainOptions,
    private readonly optimizer: SparseOptimizer = options.optimizer,
  ) {
    this.spec = specOf(params);
    const dims = dimsOf(shape, params);
    const rng = new Rng(options.seed);
    const b = defaultInitBound(shape.fields);
    const D = shape.dim;
    const data = shape.fields.map((n, f): FieldData => {
      const d = dims[f] as number;
      const table = rng.fillUniform(new Float32Array(n * d), -b, b);
      const proj = d < D ? rng.fillUniform(new Float32Array(d * D), -b, b) : null;
      this.tableParam.push(this.views.length);
      this.views.push({ name: `f${f}.table`, data: table, rowLength: d });
      this.slots.push(optimizer.slot(`f${f}.table`, n, d));
      if (proj !== null) {
        this.views.push({ name: `f${f}.proj`, data: proj });
        this.slots.push(optimizer.slot(`f${f}.proj`, d, D));
      }
      return { d, table, proj };
    });
    this.compute = new MdeRows(shape, data);
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    this.compute.lookup(ids, out);
  }

  /** dE[x] = g·Pᵀ (summed over duplicates); dP = Σ_i E[x_i]ᵀ·g_i (dense, over the batch). */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    const c = this.compute;
    checkIds(ids, c.rows);
    const D = this.shape.dim;
    const F = c.data.length;
    const index = Array.from({ length: F }, () => new Map<number, number>());
    const order: number[][] = Array.from({ length: F }, () => []);
    const slotOf = new Uint32Array(ids.length);
    const fieldOfId = new Uint32Array(ids.length);
    const local = new Float64Array(ids.length);
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const f = fieldOf(c.offsets, id);
      const x = id - (c.offsets[f] as number);
      const m = index[f] as Map<number, number>;
      let k = m.get(x);
      if (k === undefined) {
        k = (order[f] as number[]).length;
        m.set(x, k);
        (order[f] as number[]).push(x);
      }
      slotOf[i] = k;
      fieldOfId[i] = f;
      local[i] = x;
    }
    const dE = c.data.map((fd, f) => new Float64Array((order[f] as number[]).length * fd.d));
    const dP = c.data.map((fd) => (fd.proj === null ? null : new Float64Array(fd.d * D)));
    for (let i = 0; i < ids.length; i += 1) {
      const f = fieldOfId[i] as number;
      const { d, table, proj } = c.data[f] as FieldData;
      const g0 = i * D;
      const e = dE[f] as Float64Array;
      const dst = (slotOf[i] as number) * d;
      if (proj === null) {
        for (let j = 0; j < D; j += 1)
          e[dst + j] = (e[dst + j] as number) + (rowGrads[g0 + j] as number);
        continue;
      }
      const p = dP[f] as Float64Array;
      const src = (local[i] as number) * d;
      for (let k = 0; k < d; k += 1) {
        const ek = table[src + k] as number;
        let s = 0;
        for (let j = 0; j < D; j += 1) {
          const g = rowGrads[g0 + j] as number;
          s += g * (proj[k * D + j] as number);
          p[k * D + j] = (p[k * D + j] as number) + ek * g;
        }
        e[dst + k] = (e[dst + k] as number) + s;
      }
    }
    const out: ParamGradient[] = [];
    c.data.forEach((fd, f) => {
      out.push({
        name: `f${f}.table`,
        rows: Uint32Array.from(order[f] as number[]),
        values: Float32Array.from(dE[f] as Float64Array),
      });
      const p = dP[f];
      if (fd.proj !== null && p !== null && p !== undefined)
        out.push({ name: `f${f}.proj`, values: Float32Array.from(p) });
    });
    return out;
  }

  /** Sparse row updates of the tables; every projection gets one dense update per call. */
  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const grads = this.gradients(ids, rowGrads);
    grads.forEach((g, k) => {
      const slot = this.slots[k] as OptimizerSlot;
      const data = (this.views[k] as ParamView).data;
      if (g.rows === undefined) this.optimizer.updateDense(slot, g.values, data);
      else if (g.rows.length > 0) this.optimizer.updateRows(slot, g.rows, g.values, data);
    });
  }

  parameters(): ParamView[] {
    return this.views;
  }

  memoryBytes(): number {
    return this.compute.bytes();
  }

  toTable(): CompressedTable {
    const data = this.compute.data.map((fd) => ({
      d: fd.d,
      table: fd.table.slice(),
      proj: fd.proj === null ? null : fd.proj.slice(),
    }));
    return new MdeTable(this.shape, this.params, data);
  }
}

function loadTable(content: ArtifactContent): CompressedTable {
  const p = artifactParams(content, params);
  const D = content.shape.dim;
  const dims = dimsOf(content.shape, p);
  const data = content.shape.fields.map((n, f): FieldData => {
    const d = dims[f] as number;
    return {
      d,
      table: section(content, `f${f}.table`, 'f32', n * d),
      proj: d < D ? section(content, `f${f}.proj`, 'f32', d * D) : null,
    };
  });
  return new MdeTable(content.shape, p, data);
}

export const mde: TrainableMethod<MdeParams> = {
  kind: 'trainable',
  id: 'mde',
  family: 'transform',
  taxonomy: { scope: 'intra-feature', subClass: 'dimension-reduction' },
  title: 'Mixed-dimension embeddings: per-field dims by cardinality (α rule) + d_f × D projections',
  paper:
    'Ginart et al., "Mixed Dimension Embeddings with Application to Memory-Efficient Recommendation Systems", ISIT 2021',
  params,
  estimateBytes,
  paperWords,
  paramsForBudget: mdeParamsForBudget,
  createTrainable: (shape, p, options) => new MdeTrainable(shape, p, options),
  loadTable,
};

// `qr` (reference key `compo`): compositional embeddings by the quotient–remainder trick
// (docs/methods/qr.md). One global collision count c; a field f worth compressing gets
// Q_f (⌈n_f/c⌉ × D) and R_f (c × D), and local id x reads e = Q_f[⌊x/c⌋] ⊙ R_f[x mod c]
// ("mul", default) or Q_f[⌊x/c⌋] + R_f[x mod c] ("sum"). Other fields keep a full n_f × D table.
//
// All tables live in one row-major buffer (`weights`, rows of D floats): field by field, Q_f then
// R_f (or the full table). The per-field layout is derived from the shape and c.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent } from '../core/artifact';
import { bisect, checkBudget, type Accounting } from '../core/budget';
import { describeTable } from '../core/describe';
import { BudgetError, SpecError } from '../core/errors';
import { checkIds, sumDuplicates } from '../core/ids';
import type {
  CompressedTable,
  ParamGradient,
  ParamView,
  TrainableEmbedding,
  TrainableMethod,
  TrainOptions,
} from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { formatOne } from '../core/spec';
import { fieldOf, fieldOffsets, fullBytes, totalRows, type TableShape } from '../core/shape';
import { storedParams } from './hash';

export interface QrParams {
  /** Global collision count c (R_f has c rows); c = 1 compresses nothing. */
  collisions: number;
  aggregator: 'mul' | 'sum';
}

const params = z
  .object({
    collisions: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32 - 1)
      .default(2),
    aggregator: z.enum(['mul', 'sum']).default('mul'),
  })
  .strict();

/** The reference's rule: field f is compressed iff n_f > c and n_f > ⌈n_f/c⌉ + c (threshold 0). */
export function qrCompresses(nf: number, c: number): boolean {
  return nf > c && nf > Math.ceil(nf / c) + c;
}

/** Rows of D floats a field takes under collision c. */
function fieldRows(nf: number, c: number): number {
  return qrCompresses(nf, c) ? Math.ceil(nf / c) + c : nf;
}

/** Total rows of D floats of the whole table under collision c. */
export function qrRows(shape: TableShape, c: number): number {
  let rows = 0;
  for (const nf of shape.fields) rows += fieldRows(nf, c);
  return rows;
}

/** Where each field's tables start in `weights` (in rows), derived from the shape and c. */
export interface QrLayout {
  readonly c: number;
  readonly dim: number;
  /** Global id offsets, F + 1 entries. */
  readonly offsets: Float64Array;
  readonly compressed: Uint8Array;
  /** First row of Q_f (or of the full table of an uncompressed field). */
  readonly qBase: Float64Array;
  /** First row of R_f (unused for uncompressed fields). */
  readonly rBase: Float64Array;
  /** Rows of `weights`. */
  readonly rows: number;
}

export function qrLayout(shape: TableShape, c: number): QrLayout {
  const F = shape.fields.length;
  const compressed = new Uint8Array(F);
  const qBase = new Float64Array(F);
  const rBase = new Float64Array(F);
  let row = 0;
  shape.fields.forEach((nf, f) => {
    qBase[f] = row;
    if (qrCompresses(nf, c)) {
      compressed[f] = 1;
      row += Math.ceil(nf / c);
      rBase[f] = row;
      row += c;
    } else {
      rBase[f] = row;
      row += nf;
    }
  });
  return { c, dim: shape.dim, offsets: fieldOffsets(shape), compressed, qBase, rBase, rows: row };
}

/** Rows of `weights` read for global id `id`: [q, r] for compressed fields, [full, -1] else. */
function rowsOf(layout: QrLayout, id: number): [number, number] {
  const f = fieldOf(layout.offsets, id);
  const local = id - (layout.offsets[f] as number);
  const q = layout.qBase[f] as number;
  if (layout.compressed[f] === 0) return [q + local, -1];
  const c = layout.c;
  const quotient = Math.floor(local / c);
  return [q + quotient, (layout.rBase[f] as number) + (local - quotient * c)];
}

/** The lookup both forms share (ids already checked): no allocation per id. */
function gatherQr(
  layout: QrLayout,
  weights: Float32Array,
  mul: boolean,
  ids: Uint32Array,
  out: Float32Array,
): void {
  const { c, dim, offsets, compressed, qBase, rBase } = layout;
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    const f = fieldOf(offsets, id);
    const local = id - (offsets[f] as number);
    const dst = i * dim;
    if (compressed[f] === 0) {
      const src = ((qBase[f] as number) + local) * dim;
      for (let j = 0; j < dim; j += 1) out[dst + j] = weights[src + j] as number;
      continue;
    }
    const quotient = Math.floor(local / c);
    const q = ((qBase[f] as number) + quotient) * dim;
    const r = ((rBase[f] as number) + (local - quotient * c)) * dim;
    if (mul) {
      for (let j = 0; j < dim; j += 1)
        out[dst + j] = (weights[q + j] as number) * (weights[r + j] as number);
    } else {
      for (let j = 0; j < dim; j += 1)
        out[dst + j] = (weights[q + j] as number) + (weights[r + j] as number);
    }
  }
}

function checkShape(shape: TableShape): void {
  if (totalRows(shape) >= 2 ** 32) throw new SpecError('qr: a table has fewer than 2^32 rows');
}

export class QrTable implements CompressedTable {
  readonly method = 'qr';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly layout: QrLayout;
  private readonly mul: boolean;

  constructor(
    readonly shape: TableShape,
    private readonly params: QrParams,
    private readonly weights: Float32Array,
  ) {
    this.spec = formatOne('qr', { ...params });
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.layout = qrLayout(shape, params.collisions);
    this.mul = params.aggregator === 'mul';
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherQr(this.layout, this.weights, this.mul, ids, out);
  }

  memoryBytes(): number {
    return this.weights.byteLength;
  }

  describe() {
    let kept = 0;
    for (const flag of this.layout.compressed) kept += flag;
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      this.weights.length,
      [
        `${kept} of ${this.shape.fields.length} fields compressed (c = ${this.layout.c}), the others full`,
        'per-field layout (offsets) is derived from the shape, like the shape itself not counted',
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections: new Map([['weights', this.weights]]),
    });
  }
}

class QrTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly rows: number;
  private readonly layout: QrLayout;
  private readonly mul: boolean;
  private readonly weights: Float32Array;
  private readonly slot: OptimizerSlot;
  private readonly optimizer: SparseOptimizer;

  constructor(
    readonly shape: TableShape,
    private readonly params: QrParams,
    options: TrainOptions,
  ) {
    checkShape(shape);
    this.spec = formatOne('qr', { ...params });
    this.rows = totalRows(shape);
    this.layout = qrLayout(shape, params.collisions);
    this.mul = params.aggregator === 'mul';
    const bound = defaultInitBound(shape.fields);
    this.weights = new Rng(options.seed).fillUniform(
      new Float32Array(this.layout.rows * shape.dim),
      -bound,
      bound,
    );
    this.optimizer = options.optimizer;
    this.slot = this.optimizer.slot('weights', this.layout.rows, shape.dim);
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherQr(this.layout, this.weights, this.mul, ids, out);
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const w = this.weights;
    // Every lookup contributes to one or two rows of `weights`; duplicates are summed after.
    const rows = new Uint32Array(2 * ids.length);
    const grads = new Float32Array(2 * ids.length * D);
    let k = 0;
    for (let i = 0; i < ids.length; i += 1) {
      const [q, r] = rowsOf(this.layout, ids[i] as number);
      const g = i * D;
      rows[k] = q;
      if (r < 0 || !this.mul) {
        for (let j = 0; j < D; j += 1) grads[k * D + j] = rowGrads[g + j] as number;
      } else {
        // d(q ⊙ r)/dq = r
        for (let j = 0; j < D; j += 1)
          grads[k * D + j] = (rowGrads[g + j] as number) * (w[r * D + j] as number);
      }
      k += 1;
      if (r < 0) continue;
      rows[k] = r;
      if (!this.mul) {
        for (let j = 0; j < D; j += 1) grads[k * D + j] = rowGrads[g + j] as number;
      } else {
        for (let j = 0; j < D; j += 1)
          grads[k * D + j] = (rowGrads[g + j] as number) * (w[q * D + j] as number);
      }
      k += 1;
    }
    const summed = sumDuplicates(rows.subarray(0, k), grads.subarray(0, k * D), D);
    return [{ name: 'weights', rows: summed.rows, values: summed.grads }];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    // Gradients of Q and R both come from the values before this update.
    const [g] = this.gradients(ids, rowGrads) as [ParamGradient];
    this.optimizer.updateRows(this.slot, g.rows as Uint32Array, g.values, this.weights);
  }

  parameters(): ParamView[] {
    return [{ name: 'weights', data: this.weights, rowLength: this.shape.dim }];
  }

  memoryBytes(): number {
    return this.weights.byteLength;
  }

  toTable(): CompressedTable {
    return new QrTable(this.shape, this.params, this.weights.slice());
  }
}

/** Reference memory model in rows for a real-valued c during the search: min(n_f, ⌈n_f/c⌉ + ⌈c⌉). */
function searchRows(shape: TableShape, c: number): number {
  let rows = 0;
  for (const nf of shape.fields) rows += Math.min(nf, Math.ceil(nf / c) + Math.ceil(c));
  return rows;
}

export const qr: TrainableMethod<QrParams> = {
  kind: 'trainable',
  id: 'qr',
  family: 'id-mapper',
  taxonomy: { scope: 'inter-feature', subClass: 'static-encoding' },
  title: 'Quotient-remainder compositional embedding (reference key "compo")',
  paper:
    'Shi et al., "Compositional Embeddings Using Complementary Partitions for Memory-Efficient Recommendation Systems", KDD 2020',
  params,
  estimateBytes: (shape, p) => qrRows(shape, p.collisions) * shape.dim * 4,
  paperWords: (shape, p) => qrRows(shape, p.collisions) * shape.dim,
  paramsForBudget(shape: TableShape, budget: number, accounting: Accounting = 'bytes'): QrParams {
    checkBudget(budget);
    const n = totalRows(shape);
    if (accounting === 'paper-words') {
      // Reference: bisect n·cr − Σ_f M_f(c) on c ∈ [1, √n] (eps 0.5), c = ⌈left⌉.
      if (budget >= 1) return { collisions: 1, aggregator: 'mul' };
      const { left } = bisect(1, Math.sqrt(n), (c) => n * budget - searchRows(shape, c));
      return { collisions: Math.ceil(left), aggregator: 'mul' };
    }
    // Bytes: the smallest c (the most memory) whose real table fits. Past √n + 1 every field's
    // ⌈n_f/c⌉ + c only grows, so the scan can stop there.
    const target = budget * fullBytes(shape);
    const last = Math.ceil(Math.sqrt(n)) + 1;
    for (let c = 1; c <= last; c += 1)
      if (qrRows(shape, c) * shape.dim * 4 <= target) return { collisions: c, aggregator: 'mul' };
    throw new BudgetError(`qr: no collision count meets budget ${budget} for this shape`);
  },
  createTrainable: (shape, p, options) => new QrTrainable(shape, p, options),
  loadTable(content: ArtifactContent) {
    const { params: p } = storedParams(content, params);
    const rows = qrRows(content.shape, p.collisions);
    const weights = section(content, 'weights', 'f32', rows * content.shape.dim);
    return new QrTable(content.shape, p, weights);
  },
};

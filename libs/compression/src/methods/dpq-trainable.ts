// The training form shared by `dpq` and `mgqe` (docs/methods/dpq.md#training): a query table
// Q (n × D, training only, lazily updated), per-part codebooks C (P·K × p, dense) and the code
// table B (n × P). A training step's forward (`trainForward`) cuts q = Q[x] into P parts, takes
// the nearest centroid of each part (vq mode: argmax of −‖q_i − C_{i,k}‖², ties → lowest k; an
// mgqe low-frequency id searches only the first kLow centroids), WRITES those codes into B and
// returns o = concat_i C[i, code_i]: the straight-through row q + stopgrad(o − q), whose value is
// o and whose gradient goes to q unchanged. `forward` (inference, what serving returns) is the
// gather of the STORED codes. The regulariser mean((o − stopgrad(q))²) (coefficient 1) moves only
// the centroids; its gradient is added inside `gradients`/`backward`, not by the dense model.
import { checkIds } from '../core/ids';
import type {
  CompressedTable,
  ParamGradient,
  ParamView,
  TrainableEmbedding,
  TrainOptions,
} from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { fieldOf, totalRows, type TableShape } from '../core/shape';
import {
  CodebookTable,
  gatherRows,
  newCodes,
  type CodebookGroup,
  type CodebookLayout,
  type CodebookTableInfo,
  type Codes,
  type GroupData,
} from './dpq-core';

/** Training state of one group. */
type TrainGroup =
  | {
      kind: 'quantized';
      codes: Codes;
      codebooks: Float32Array;
      /** Q rows of the group (rows × D): training only, never served. */
      query: Float32Array;
      /** Per local id: 1 searches all K centroids, 0 only the first kLow; null: all search K. */
      mask: Uint8Array | null;
      kLow: number;
      querySlot: OptimizerSlot;
      codebookSlot: OptimizerSlot;
    }
  | { kind: 'full'; table: Float32Array; tableSlot: OptimizerSlot };

export interface CodebookTrainableConfig {
  spec: string;
  layout: CodebookLayout;
  /** High-frequency flags of a quantized group (null: every id searches all K), and kLow. */
  search: (g: CodebookGroup) => { mask: Uint8Array | null; kLow: number };
  /** Serving-table info (paper words, notes) for `toTable`. */
  info: CodebookTableInfo;
}

/**
 * Index of the nearest of the first `kMax` centroids of one part to q[qAt .. qAt + p):
 * codebooks[cAt + k·p ..] is centroid k. Squared distances in f64; ties go to the lowest k (the
 * reference's argmax).
 */
function nearest(
  q: Float32Array,
  qAt: number,
  codebooks: Float32Array,
  cAt: number,
  p: number,
  kMax: number,
): number {
  let best = 0;
  let bestDist = Infinity;
  for (let k = 0; k < kMax; k += 1) {
    const c = cAt + k * p;
    let s = 0;
    for (let j = 0; j < p; j += 1) {
      const diff = (q[qAt + j] as number) - (codebooks[c + j] as number);
      s += diff * diff;
    }
    if (s < bestDist) {
      bestDist = s;
      best = k;
    }
  }
  return best;
}

export class CodebookTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly layout: CodebookLayout;
  private readonly groups: TrainGroup[];
  private readonly rows: number;
  private readonly info: CodebookTableInfo;

  constructor(
    readonly shape: TableShape,
    config: CodebookTrainableConfig,
    options: TrainOptions,
    private readonly optimizer: SparseOptimizer = options.optimizer,
  ) {
    this.spec = config.spec;
    this.layout = config.layout;
    this.info = config.info;
    this.rows = totalRows(shape);
    const rng = new Rng(options.seed);
    // The trainer initializer for Q, C and full tables (docs/methods/reference.md#initializer).
    const b = defaultInitBound(shape.fields);
    const { dim: D, parts: P } = this.layout;
    this.groups = this.layout.groups.map((g): TrainGroup => {
      if (!g.quantized) {
        return {
          kind: 'full',
          table: rng.fillUniform(new Float32Array(g.rows * D), -b, b),
          tableSlot: optimizer.slot(`${g.prefix}table`, g.rows, D),
        };
      }
      const { mask, kLow } = config.search(g);
      return {
        kind: 'quantized',
        // Ids never seen in training keep code 0 in every part (docs/methods/dpq.md#serving).
        codes: newCodes(g.K, g.rows * P),
        query: rng.fillUniform(new Float32Array(g.rows * D), -b, b),
        codebooks: rng.fillUniform(new Float32Array(g.K * D), -b, b),
        mask,
        kLow,
        querySlot: optimizer.slot(`${g.prefix}query`, g.rows, D),
        codebookSlot: optimizer.slot(`${g.prefix}codebooks`, g.K, D),
      };
    });
  }

  private groupOf(id: number): number {
    return this.groups.length === 1 ? 0 : fieldOf(this.layout.starts, id);
  }

  /** Centroids a local id may use. */
  private static allowed(t: TrainGroup & { kind: 'quantized' }, K: number, x: number): number {
    return t.mask === null || t.mask[x] === 1 ? K : t.kLow;
  }

  private data(): GroupData[] {
    return this.groups.map((t) =>
      t.kind === 'full' ? { table: t.table } : { codes: t.codes, codebooks: t.codebooks },
    );
  }

  /** Inference semantics: the centroids of the stored codes (what serving returns). */
  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherRows(this.layout, this.data(), ids, out);
  }

  /**
   * A training step's rows: the nearest allowed centroids of Q[x], whose codes are written into
   * B (any writer of a duplicate id wins: they write the same codes). The values equal `forward`
   * after the write; the gradient of these rows goes to Q (straight-through).
   */
  trainForward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const { dim: D, parts: P, partDim: p } = this.layout;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const gi = this.groupOf(id);
      const g = this.layout.groups[gi] as CodebookGroup;
      const t = this.groups[gi] as TrainGroup;
      const x = id - g.start;
      if (t.kind === 'full') {
        out.set(t.table.subarray(x * D, x * D + D), i * D);
        continue;
      }
      const kMax = CodebookTrainable.allowed(t, g.K, x);
      for (let part = 0; part < P; part += 1) {
        const code = nearest(t.query, x * D + part * p, t.codebooks, part * g.K * p, p, kMax);
        t.codes[x * P + part] = code;
        out.set(
          t.codebooks.subarray((part * g.K + code) * p, (part * g.K + code + 1) * p),
          i * D + part * p,
        );
      }
    }
  }

  /**
   * Per group, in group order: quantized → Q rows (the summed row gradients: straight-through)
   * and the dense codebook gradient of the regulariser, d/dC mean_{N_g·P·p}((o − q)²) with the
   * codes of the current Q (N_g: the group's lookups in this batch); full → its summed rows.
   */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const { dim: D, parts: P, partDim: p } = this.layout;
    const G = this.groups.length;
    const slotOf = Array.from({ length: G }, () => new Map<number, number>());
    const order: number[][] = Array.from({ length: G }, () => []);
    const count = new Float64Array(G);
    const groupOfId = new Uint32Array(ids.length);
    const slotOfId = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const gi = this.groupOf(id);
      const x = id - (this.layout.groups[gi] as CodebookGroup).start;
      const m = slotOf[gi] as Map<number, number>;
      let s = m.get(x);
      if (s === undefined) {
        s = (order[gi] as number[]).length;
        m.set(x, s);
        (order[gi] as number[]).push(x);
      }
      groupOfId[i] = gi;
      slotOfId[i] = s;
      count[gi] = (count[gi] as number) + 1;
    }
    const rowGrad = order.map((o) => new Float32Array(o.length * D));
    const codebookGrad = this.layout.groups.map((g) =>
      g.quantized ? new Float64Array(g.K * D) : null,
    );
    for (let i = 0; i < ids.length; i += 1) {
      const gi = groupOfId[i] as number;
      const rg = rowGrad[gi] as Float32Array;
      const dst = (slotOfId[i] as number) * D;
      for (let j = 0; j < D; j += 1)
        rg[dst + j] = (rg[dst + j] as number) + (rowGrads[i * D + j] as number);
      const t = this.groups[gi] as TrainGroup;
      if (t.kind === 'full') continue;
      const g = this.layout.groups[gi] as CodebookGroup;
      const dC = codebookGrad[gi] as Float64Array;
      const x = (order[gi] as number[])[slotOfId[i] as number] as number;
      const kMax = CodebookTrainable.allowed(t, g.K, x);
      const scale = 2 / ((count[gi] as number) * P * p);
      for (let part = 0; part < P; part += 1) {
        const qAt = x * D + part * p;
        const code = nearest(t.query, qAt, t.codebooks, part * g.K * p, p, kMax);
        const c = (part * g.K + code) * p;
        for (let j = 0; j < p; j += 1)
          dC[c + j] =
            (dC[c + j] as number) +
            scale * ((t.codebooks[c + j] as number) - (t.query[qAt + j] as number));
      }
    }
    const out: ParamGradient[] = [];
    this.layout.groups.forEach((g, gi) => {
      const rows = Uint32Array.from(order[gi] as number[]);
      if (!g.quantized) {
        out.push({ name: `${g.prefix}table`, rows, values: rowGrad[gi] as Float32Array });
        return;
      }
      out.push({ name: `${g.prefix}query`, rows, values: rowGrad[gi] as Float32Array });
      out.push({
        name: `${g.prefix}codebooks`,
        values: Float32Array.from(codebookGrad[gi] as Float64Array),
      });
    });
    return out;
  }

  /**
   * Lazy row updates of Q (and full tables); one dense update of a group's codebooks per call in
   * which the group has lookups (a group absent from the batch has no regulariser term).
   */
  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const grads = this.gradients(ids, rowGrads);
    let k = 0;
    for (const t of this.groups) {
      if (t.kind === 'full') {
        const g = grads[k] as ParamGradient & { rows: Uint32Array };
        k += 1;
        if (g.rows.length > 0) this.optimizer.updateRows(t.tableSlot, g.rows, g.values, t.table);
        continue;
      }
      const q = grads[k] as ParamGradient & { rows: Uint32Array };
      const c = grads[k + 1] as ParamGradient;
      k += 2;
      if (q.rows.length === 0) continue;
      this.optimizer.updateRows(t.querySlot, q.rows, q.values, t.query);
      this.optimizer.updateDense(t.codebookSlot, c.values, t.codebooks);
    }
  }

  parameters(): ParamView[] {
    const views: ParamView[] = [];
    this.layout.groups.forEach((g, gi) => {
      const t = this.groups[gi] as TrainGroup;
      if (t.kind === 'full') {
        views.push({ name: `${g.prefix}table`, data: t.table, rowLength: this.layout.dim });
        return;
      }
      views.push({ name: `${g.prefix}query`, data: t.query, rowLength: this.layout.dim });
      views.push({ name: `${g.prefix}codebooks`, data: t.codebooks });
    });
    return views;
  }

  /**
   * Bytes of the SERVED form (codes + codebooks + full fields), as `estimateBytes`: the query
   * table Q (training only) and the high-frequency flags are not part of the table that is kept
   * (docs/methods/dpq.md#layout-and-memory); `trainingOnlyBytes` counts them.
   */
  memoryBytes(): number {
    let bytes = 0;
    for (const t of this.groups)
      bytes += t.kind === 'full' ? t.table.byteLength : t.codes.byteLength + t.codebooks.byteLength;
    return bytes;
  }

  /** Bytes held only while training: Q and the high-frequency flags. */
  trainingOnlyBytes(): number {
    let bytes = 0;
    for (const t of this.groups)
      if (t.kind === 'quantized') bytes += t.query.byteLength + (t.mask?.byteLength ?? 0);
    return bytes;
  }

  toTable(): CompressedTable {
    const data = this.groups.map(
      (t): GroupData =>
        t.kind === 'full'
          ? { table: t.table.slice() }
          : { codes: t.codes.slice(), codebooks: t.codebooks.slice() },
    );
    return new CodebookTable(this.shape, this.layout, data, this.info);
  }
}

// `tt`: TT-Rec, tensor-train embeddings (docs/methods/tt.md; Yin et al., MLSys 2021).
// Per field, three cores with ranks (1, R, R, 1); the row of local id x is the product
//   A(dd0 × R) · B(R × dd1·R)  → AB viewed (dd0·dd1 × R),  then  AB · C(R × dd2)  → D values,
// where A = core0[i0], B = core1[i1], C = core2[i2] and (i0, i1, i2) is the little-endian
// mixed-radix split of x over (dn0, dn1, dn2). Fields where TT does not save memory, or with
// n_f ≤ threshold, keep a plain n_f × D table. Training's forward and serving run the same
// `TtRows.lookup` (the rows of a request batched through @embpress/kernels' groupedMatmul, f32
// sums; a serving table reads its cores pinned in the kernels' memory), so served rows are
// bit-identical to trained ones; `TtRows.row` (float64, one row at a time) is
// the reference the batched rows are tested against (docs/methods/tt.md, "Serving").
import { kernels, type PinnedBytes } from '@embpress/kernels';
import { z } from 'zod';
import { LazyPin } from '../codecs/kernel-tables';
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
    /** TT rank R (ranks are (1, R, R, 1)). */
    rank: z.number().int().min(1).max(65_535).default(16),
    /** Fields with n_f ≤ threshold are never compressed. */
    threshold: z.number().int().min(0).default(0),
    /**
     * Core init. `gaussian` (also when absent, so older specs keep their form): N(0, s²) with
     * s = (v / R²)^(1/6), so a generated row element (a sum of R² products of three core
     * entries) has the variance v of the trainer's uniform init of a full table, the TT-Rec
     * paper's "sampled Gaussian" idea. `hetu`: the
     * reference's reversed truncated normal, kept to reproduce it; its rows have a standard
     * deviation of ~13 at R = 17 on criteo-kaggle-10k and the DLRM does not learn from them
     * (docs/benchmarks.md). Training only: an artifact serves the same either way.
     */
    init: z.enum(['gaussian', 'hetu']).optional(),
  })
  .strict();
export type TtParams = z.infer<typeof params>;

type Triple = [number, number, number];

/**
 * Factorisation of the embedding dimension D into (dd0, dd1, dd2), dd0·dd1·dd2 = D.
 * Powers of two ≥ 8: start from [2,2,2] and double entries 2, 1, 0, 2, 1, 0, … until the product
 * is D. Otherwise: n1 = ⌈D^(1/3)⌉ lowered until it divides D, n2 = ⌈√(D/n1)⌉ lowered until it
 * divides D/n1, n3 = D/(n1·n2), sorted ascending. (The reference asserts D ≥ 8 for powers of two;
 * we send 1, 2 and 4 through the general rule: [1,1,1], [1,1,2], [1,2,2].)
 */
export function ttDimFactors(dim: number): Triple {
  const isPow2 = (dim & (dim - 1)) === 0;
  if (isPow2 && dim >= 8) {
    const f: Triple = [2, 2, 2];
    for (let k = 0; f[0] * f[1] * f[2] < dim; k += 1) {
      const at = 2 - (k % 3);
      f[at] = (f[at] as number) * 2;
    }
    return f;
  }
  let n1 = Math.ceil(Math.pow(dim, 1 / 3));
  while (dim % n1 !== 0) n1 -= 1;
  const rest = dim / n1;
  let n2 = Math.ceil(Math.sqrt(rest));
  while (rest % n2 !== 0) n2 -= 1;
  const f: Triple = [n1, n2, rest / n2];
  return f.sort((a, b) => a - b);
}

/**
 * Factorisation of a field's rows: a = ⌈n^(1/3)⌉, b = ⌈√(n/a)⌉, c = ⌈n/(a·b)⌉, returned as
 * (dn0, dn1, dn2) = (c, b, a); dn0·dn1·dn2 ≥ n. Uses `n ** (1/3)` like the reference (for perfect
 * cubes up to 3000³ it never lands above the root, in V8 as in CPython, so a = k for n = k³).
 */
export function ttRowFactors(n: number): Triple {
  const a = Math.ceil(Math.pow(n, 1 / 3));
  const b = Math.ceil(Math.sqrt(n / a));
  const c = Math.ceil(n / (a * b));
  return [c, b, a];
}

/** M_f(R) = (dn0·dd0 + dn1·dd1·R + dn2·dd2)·R words: the three cores of one field (R may be real). */
export function ttCoreWords(dn: Triple, dd: Triple, rank: number): number {
  return (dn[0] * dd[0] + dn[1] * dd[1] * rank + dn[2] * dd[2]) * rank;
}

interface FieldPlan {
  n: number;
  /** null: the field keeps a full n × D table. */
  dn: Triple | null;
}

interface Plan {
  dd: Triple;
  rank: number;
  fields: FieldPlan[];
  /** Lookup scratch (AB, dd0·dd1·R float64; not counted in bytes), when any field is TT. */
  scratchLength: number;
}

function plan(shape: TableShape, p: TtParams): Plan {
  validateShape(shape);
  const dd = ttDimFactors(shape.dim);
  const fields = shape.fields.map((n): FieldPlan => {
    const dn = ttRowFactors(n);
    const compress = n > p.threshold && ttCoreWords(dn, dd, p.rank) < n * shape.dim;
    return { n, dn: compress ? dn : null };
  });
  const any = fields.some((f) => f.dn !== null);
  return { dd, rank: p.rank, fields, scratchLength: any ? dd[0] * dd[1] * p.rank : 0 };
}

/** Row lengths of the three cores: dd0·R, R·dd1·R, R·dd2. */
function coreRowLengths(dd: Triple, rank: number): Triple {
  return [dd[0] * rank, rank * dd[1] * rank, rank * dd[2]];
}

/** Paper words of the table (real rank allowed, for the budget search). */
function wordsAt(shape: TableShape, rank: number, threshold: number): number {
  const dd = ttDimFactors(shape.dim);
  let words = 0;
  for (const n of shape.fields) {
    const full = n * shape.dim;
    words += n > threshold ? Math.min(full, ttCoreWords(ttRowFactors(n), dd, rank)) : full;
  }
  return words;
}

function estimateBytes(shape: TableShape, p: TtParams): number {
  const pl = plan(shape, p);
  let bytes = 0;
  const L = coreRowLengths(pl.dd, pl.rank);
  for (const f of pl.fields) {
    if (f.dn === null) bytes += 4 * f.n * shape.dim;
    else bytes += 4 * (f.dn[0] * L[0] + f.dn[1] * L[1] + f.dn[2] * L[2]);
  }
  return bytes;
}

function paperWords(shape: TableShape, p: TtParams): number {
  const pl = plan(shape, p);
  let words = 0;
  for (const f of pl.fields)
    words += f.dn === null ? f.n * shape.dim : ttCoreWords(f.dn, pl.dd, pl.rank);
  return words;
}

/**
 * The reference's rank search (docs/methods/tt.md): bisect R ∈ [0, 1000] (eps 0.5) on
 * memory(R) − budget, R = ⌊right⌋, minus 1 if still over. 'paper-words' counts M_f(R) words
 * (the spec's test vectors); 'bytes' counts our real bytes (4 per stored float: the same
 * optimum, as TT stores nothing but fp32 cores and tables).
 */
export function ttParamsForBudget(
  shape: TableShape,
  budget: number,
  accounting: Accounting = 'bytes',
): TtParams {
  checkBudget(budget);
  validateShape(shape);
  const threshold = 0;
  const n = totalRows(shape);
  const scale = accounting === 'paper-words' ? 1 : 4;
  const memory = (r: number) => scale * wordsAt(shape, r, threshold);
  const target = budget * n * shape.dim * scale;
  // Rank 1000 already fits (e.g. budget 1: no field gains from TT): the search has no root.
  if (memory(1000) <= target) return { rank: 1000, threshold };
  const { right } = bisect(0, 1000, (r) => memory(r) - target, 0.5);
  let rank = Math.floor(right);
  if (memory(rank) > target) rank -= 1;
  if (rank < 1) throw new BudgetError(`tt: budget ${budget} is below the memory of rank-1 cores`);
  return { rank, threshold };
}

/**
 * The reference's "reversed truncated normal" (Hetu): z ~ N(0, 1) conditioned on |z| ≥ 2, times
 * sigma. Hetu rejects draws with |z| < 2 (≈ 22 draws per value); we draw the same distribution
 * exactly with Marsaglia's tail method (x = √(4 − 2 ln u1), accepted when u2·x ≤ 2) and a random
 * sign, ~1.1 draws per value.
 */
export function fillReversedTruncatedNormal(
  rng: Rng,
  out: Float32Array,
  sigma: number,
): Float32Array {
  for (let i = 0; i < out.length; i += 1) {
    let x: number;
    do x = Math.sqrt(4 - 2 * Math.log(rng.nextOpenClosed()));
    while (rng.next() * x > 2);
    out[i] = (rng.nextU32() & 1) === 0 ? sigma * x : -sigma * x;
  }
  return out;
}

/**
 * s = (v / R²)^(1/6) with v = bound²/3, the variance of U(−bound, bound): a row element
 * Σ_{a,b} A[j0,a]·B[a,j1,b]·C[b,j2] of independent N(0, s²) entries then has variance R²·s⁶ = v.
 */
export function ttGaussianInitSigma(rank: number, bound: number): number {
  return Math.pow((bound * bound) / 3 / (rank * rank), 1 / 6);
}

/** σ = (√(dn0·dn1·dn2 / 3))^(−1/3), the reference's core init scale. */
export function ttInitSigma(dn: Triple): number {
  return Math.pow(Math.sqrt((dn[0] * dn[1] * dn[2]) / 3), -1 / 3);
}

/** One field's storage: three cores, or a full table. */
type FieldData = { cores: [Float32Array, Float32Array, Float32Array] } | { table: Float32Array };

/**
 * batchRows' workspaces per TtRows, in a WeakMap rather than own fields: the trainer checkpoints
 * a trainable field by field (libs/training/src/object-state.ts) and these are
 * megabytes of scratch.
 */
interface TtWork {
  /** Stage 1's product: each row's AB (dd0 × dd1·R = dd0·dd1 rows of R), in core-1 order. */
  ab: Float32Array;
  /** Stage 2's product: each row's D values, in core-2 order. */
  rows: Float32Array;
  /** Training only: the core-1 matrices a batch uses, side by side. */
  core1: Float32Array;
}
const WORK = new WeakMap<object, TtWork>();
const EMPTY = new Float32Array(0);

/**
 * A serving table's cores pinned in the process's kernels, per TT field, made on its first
 * lookup (codecs/kernel-tables.ts: a pin costs the cores' bytes a second time). In a WeakMap
 * like the workspaces; a trainable never pins (its cores change after every step).
 */
const PINS = new WeakMap<
  object,
  Array<[LazyPin<Float32Array>, LazyPin<Float32Array>, LazyPin<Float32Array>] | null>
>();

/** The row computation shared by training and serving (identical arithmetic). */
class TtRows {
  readonly offsets: Float64Array;
  readonly rows: number;
  private readonly L: Triple;
  /** AB of the row being computed (dd0·dd1 × R), float64. */
  readonly scratch: Float64Array;

  /** `pinCores`: a serving table's, whose cores never change (read in place by the kernels). */
  constructor(
    readonly shape: TableShape,
    readonly plan: Plan,
    readonly data: FieldData[],
    pinCores = false,
  ) {
    this.offsets = fieldOffsets(shape);
    this.rows = totalRows(shape);
    this.L = coreRowLengths(plan.dd, plan.rank);
    this.scratch = new Float64Array(plan.scratchLength);
    if (pinCores)
      PINS.set(
        this,
        data.map((d) =>
          'table' in d
            ? null
            : [new LazyPin(d.cores[0]), new LazyPin(d.cores[1]), new LazyPin(d.cores[2])],
        ),
      );
  }

  /** (i0, i1, i2): little-endian mixed-radix split of local id x over (dn0, dn1, dn2). */
  static split(x: number, dn: Triple): Triple {
    const y = Math.floor(x / dn[0]);
    return [x % dn[0], y % dn[1], Math.floor(y / dn[1])];
  }

  /** AB = A·B into `ab` (dd0 × dd1·R, i.e. dd0·dd1 × R), accumulated in float64. */
  product(c0: Float32Array, c1: Float32Array, i0: number, i1: number, ab: Float64Array): void {
    const dd0 = this.plan.dd[0];
    const R = this.plan.rank;
    const Q = this.L[1] / R; // dd1·R
    const a0 = i0 * this.L[0];
    const b0 = i1 * this.L[1];
    ab.fill(0);
    for (let j0 = 0; j0 < dd0; j0 += 1) {
      const abRow = j0 * Q;
      for (let r = 0; r < R; r += 1) {
        const a = c0[a0 + j0 * R + r] as number;
        const bRow = b0 + r * Q;
        for (let q = 0; q < Q; q += 1)
          ab[abRow + q] = (ab[abRow + q] as number) + a * (c1[bRow + q] as number);
      }
    }
  }

  /** Row of local id x of field f into out[at .. at + D). Allocates nothing. */
  row(f: number, x: number, out: Float32Array, at: number): void {
    const d = this.data[f] as FieldData;
    const D = this.shape.dim;
    if ('table' in d) {
      const src = x * D;
      for (let j = 0; j < D; j += 1) out[at + j] = d.table[src + j] as number;
      return;
    }
    const dn = (this.plan.fields[f] as FieldPlan).dn as Triple;
    const y = Math.floor(x / dn[0]);
    const i2 = Math.floor(y / dn[1]);
    const c2 = d.cores[2];
    const ab = this.scratch;
    this.product(d.cores[0], d.cores[1], x % dn[0], y % dn[1], ab);
    const R = this.plan.rank;
    const dd2 = this.plan.dd[2];
    const P = this.plan.dd[0] * this.plan.dd[1];
    const cBase = i2 * this.L[2];
    for (let p = 0; p < P; p += 1) {
      for (let j2 = 0; j2 < dd2; j2 += 1) {
        let s = 0;
        for (let r = 0; r < R; r += 1)
          s += (ab[p * R + r] as number) * (c2[cBase + r * dd2 + j2] as number);
        out[at + p * dd2 + j2] = s;
      }
    }
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    // Full fields copy their rows; TT fields collect theirs and compute them batched per field.
    const byField: number[][] = this.plan.fields.map(() => []);
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const f = fieldOf(this.offsets, id);
      const d = this.data[f] as FieldData;
      if ('table' in d) this.row(f, id - (this.offsets[f] as number), out, i * D);
      else (byField[f] as number[]).push(i);
    }
    byField.forEach((positions, f) => {
      if (positions.length > 0) this.batchRows(f, ids, positions, out);
    });
  }

  /** A growing workspace of batchRows (lookups are synchronous: one set per table suffices). */
  private workspace(name: keyof TtWork, length: number): Float32Array {
    let work = WORK.get(this);
    if (work === undefined) {
      work = { ab: EMPTY, rows: EMPTY, core1: EMPTY };
      WORK.set(this, work);
    }
    if (work[name].length < length) work[name] = new Float32Array(length);
    return work[name].subarray(0, length);
  }

  /**
   * The rows of one TT field's ids (at `positions` of `ids`) into `out`, in two groupedMatmul
   * calls (libs/kernels/README.md): stage 1 stacks the rows that share a core-1 slice i1, each
   * row's A = core0[i0] (dd0 rows of R, gathered in place), times B = core1[i1] (R × dd1·R) → AB;
   * stage 2 stacks the rows that share a core-2 slice i2, each row's AB viewed as dd0·dd1 rows of
   * R, times C = core2[i2] (R × dd2) → the row's D values. Every element is an f32 sum over the
   * rank in order (the kernels' matmul), where row() sums in float64; the grouping changes no bit.
   */
  private batchRows(f: number, ids: Uint32Array, positions: number[], out: Float32Array): void {
    const k = kernels();
    const d = this.data[f] as { cores: [Float32Array, Float32Array, Float32Array] };
    const dn = (this.plan.fields[f] as FieldPlan).dn as Triple;
    const R = this.plan.rank;
    const [dd0, dd1, dd2] = this.plan.dd;
    const L1 = this.L[1];
    const Q = dd1 * R;
    const P = dd0 * dd1;
    const D = this.shape.dim;
    const n = positions.length;
    const base = this.offsets[f] as number;
    const i0 = new Uint32Array(n);
    const i1 = new Uint32Array(n);
    const i2 = new Uint32Array(n);
    for (let r = 0; r < n; r += 1) {
      const x = (ids[positions[r] as number] as number) - base;
      const y = Math.floor(x / dn[0]);
      i0[r] = x % dn[0];
      i1[r] = y % dn[1];
      i2[r] = Math.floor(y / dn[1]);
    }
    const pins = PINS.get(this)?.[f];
    // Stage 1, grouped by i1: rows of core0 (as dn0·dd0 rows of R) · core1's matrices (R × Q).
    const byI1 = groupBy(i1, dn[1]);
    const aRows = new Uint32Array(n * dd0);
    for (let s = 0; s < n; s += 1) {
      const first = (i0[byI1.order[s] as number] as number) * dd0;
      for (let j0 = 0; j0 < dd0; j0 += 1) aRows[s * dd0 + j0] = first + j0;
    }
    const groups1 = runs(byI1.starts, dd0);
    let core1: Float32Array | PinnedBytes;
    if (pins !== null && pins !== undefined) core1 = pins[1].get();
    else {
      // Training: nothing is pinned (the cores change every step), and a whole core 1 can be
      // megabytes: only the matrices this batch uses go to the kernels, renumbered in order.
      core1 = this.workspace('core1', (groups1.length / 2) * L1);
      for (let g = 0; g < groups1.length; g += 2) {
        const at = (groups1[g] as number) * L1;
        core1.set(d.cores[1].subarray(at, at + L1), (g / 2) * L1);
        groups1[g] = g / 2;
      }
    }
    const ab = k.groupedMatmul(pins?.[0].get() ?? d.cores[0], aRows, core1, groups1, R, Q, {
      out: this.workspace('ab', n * P * R),
    });
    // Stage 2, grouped by i2: rows of AB (as n·P rows of R) · core2's matrices (R × dd2).
    const byI2 = groupBy(i2, dn[2]);
    // Where each row's AB is (its rank in the i1 order).
    const rankInI1 = new Uint32Array(n);
    for (let s = 0; s < n; s += 1) rankInI1[byI1.order[s] as number] = s;
    const abRows = new Uint32Array(n * P);
    for (let s = 0; s < n; s += 1) {
      const first = (rankInI1[byI2.order[s] as number] as number) * P;
      for (let p = 0; p < P; p += 1) abRows[s * P + p] = first + p;
    }
    const rows = k.groupedMatmul(
      ab,
      abRows,
      pins?.[2].get() ?? d.cores[2],
      runs(byI2.starts, P),
      R,
      dd2,
      {
        out: this.workspace('rows', n * D),
      },
    );
    for (let s = 0; s < n; s += 1) {
      const src = s * D;
      const dst = (positions[byI2.order[s] as number] as number) * D;
      for (let j = 0; j < D; j += 1) out[dst + j] = rows[src + j] as number;
    }
  }

  rowLengths(): Triple {
    return this.L;
  }
}

/**
 * Stable counting sort of rows by key (< keys): `order` lists the rows key by key, rows of key g
 * are order[starts[g] .. starts[g + 1]).
 */
function groupBy(key: Uint32Array, keys: number): { order: Uint32Array; starts: Uint32Array } {
  const starts = new Uint32Array(keys + 1);
  for (let r = 0; r < key.length; r += 1) {
    const g = key[r] as number;
    starts[g + 1] = (starts[g + 1] as number) + 1;
  }
  for (let g = 0; g < keys; g += 1)
    starts[g + 1] = (starts[g + 1] as number) + (starts[g] as number);
  const next = starts.slice(0, keys);
  const order = new Uint32Array(key.length);
  for (let r = 0; r < key.length; r += 1) {
    const g = key[r] as number;
    order[next[g] as number] = r;
    next[g] = (next[g] as number) + 1;
  }
  return { order, starts };
}

/** groupedMatmul's [matrix, count] pairs of groupBy's non-empty keys, `per` product rows a row. */
function runs(starts: Uint32Array, per: number): Uint32Array {
  let used = 0;
  for (let g = 0; g + 1 < starts.length; g += 1)
    if ((starts[g + 1] as number) > (starts[g] as number)) used += 1;
  const pairs = new Uint32Array(2 * used);
  let at = 0;
  for (let g = 0; g + 1 < starts.length; g += 1) {
    const count = (starts[g + 1] as number) - (starts[g] as number);
    if (count === 0) continue;
    pairs[at] = g;
    pairs[at + 1] = count * per;
    at += 2;
  }
  return pairs;
}

function sectionsOf(data: FieldData[]): Map<string, Float32Array> {
  const sections = new Map<string, Float32Array>();
  data.forEach((d, f) => {
    if ('table' in d) sections.set(`f${f}.table`, d.table);
    else d.cores.forEach((c, k) => sections.set(`f${f}.core${k}`, c));
  });
  return sections;
}

function specOf(p: TtParams): string {
  return formatOne('tt', { rank: p.rank, threshold: p.threshold, init: p.init });
}

export class TtTable implements CompressedTable {
  readonly method = 'tt';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly compute: TtRows;

  constructor(
    readonly shape: TableShape,
    private readonly params: TtParams,
    data: FieldData[],
  ) {
    this.spec = specOf(params);
    this.compute = new TtRows(shape, plan(shape, params), data, true);
    this.rows = this.compute.rows;
    this.dim = shape.dim;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    this.compute.lookup(ids, out);
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const d of this.compute.data)
      if ('table' in d) bytes += d.table.byteLength;
      else for (const c of d.cores) bytes += c.byteLength;
    return bytes;
  }

  describe(): TableDescription {
    const pl = this.compute.plan;
    const kept = pl.fields.filter((f) => f.dn === null).length;
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      paperWords(this.shape, this.params),
      [
        `rank ${pl.rank}, dim factors ${pl.dd.join('×')}; ${pl.fields.length - kept} of ${pl.fields.length} fields as TT cores, ${kept} kept as full tables`,
        `bytes count the stored fp32 cores and full tables (= 4 × paper words); the ${this.compute.scratch.byteLength}-byte float64 lookup scratch (AB) and the field offsets are not counted`,
        `lookup cost: dd0·dd1·R² + D·R = ${pl.dd[0] * pl.dd[1] * pl.rank * pl.rank + this.dim * pl.rank} multiply-adds per TT row`,
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections: sectionsOf(this.compute.data),
    });
  }
}

class TtTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly compute: TtRows;
  private readonly views: ParamView[] = [];
  private readonly slots: OptimizerSlot[] = [];
  /** Index in `views` of the first parameter of each field. */
  private readonly firstParam: number[] = [];

  constructor(
    readonly shape: TableShape,
    private readonly params: TtParams,
    options: TrainOptions,
    private readonly optimizer: SparseOptimizer = options.optimizer,
  ) {
    this.spec = specOf(params);
    const pl = plan(shape, params);
    const rng = new Rng(options.seed);
    const bound = defaultInitBound(shape.fields);
    const L = coreRowLengths(pl.dd, pl.rank);
    const gaussianSigma = ttGaussianInitSigma(pl.rank, bound);
    const data = pl.fields.map((fp, f): FieldData => {
      this.firstParam.push(this.views.length);
      if (fp.dn === null) {
        const table = rng.fillUniform(new Float32Array(fp.n * shape.dim), -bound, bound);
        this.views.push({ name: `f${f}.table`, data: table, rowLength: shape.dim });
        return { table };
      }
      const dn = fp.dn;
      const cores = [0, 1, 2].map((k) => {
        const core = new Float32Array((dn[k] as number) * (L[k] as number));
        if (params.init === 'hetu') return fillReversedTruncatedNormal(rng, core, ttInitSigma(dn));
        for (let i = 0; i < core.length; i += 1) core[i] = gaussianSigma * rng.normal();
        return core;
      }) as [Float32Array, Float32Array, Float32Array];
      cores.forEach((c, k) =>
        this.views.push({ name: `f${f}.core${k}`, data: c, rowLength: L[k] as number }),
      );
      return { cores };
    });
    for (const v of this.views)
      this.slots.push(
        optimizer.slot(v.name, v.data.length / (v.rowLength as number), v.rowLength as number),
      );
    this.compute = new TtRows(shape, pl, data);
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    this.compute.lookup(ids, out);
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    const c = this.compute;
    checkIds(ids, c.rows);
    const D = this.shape.dim;
    const pl = c.plan;
    const R = pl.rank;
    const [dd0, dd1, dd2] = pl.dd;
    const L = c.rowLengths();
    const Q = dd1 * R;
    const P = dd0 * dd1;
    // Pass 1: distinct rows per parameter, first-seen order (the "indexed slices").
    const index = this.views.map(() => new Map<number, number>());
    const order: number[][] = this.views.map(() => []);
    const register = (param: number, row: number): number => {
      const m = index[param] as Map<number, number>;
      let k = m.get(row);
      if (k === undefined) {
        k = (order[param] as number[]).length;
        m.set(row, k);
        (order[param] as number[]).push(row);
      }
      return k;
    };
    // Per id: [param, slot] pairs of the rows it touches (1 for a full field, 3 for TT).
    const where = new Int32Array(ids.length * 6);
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const f = fieldOf(c.offsets, id);
      const x = id - (c.offsets[f] as number);
      const base = this.firstParam[f] as number;
      const dn = (pl.fields[f] as FieldPlan).dn;
      if (dn === null) {
        where[i * 6] = base;
        where[i * 6 + 1] = register(base, x);
        where[i * 6 + 2] = -1;
      } else {
        const split = TtRows.split(x, dn);
        for (let k = 0; k < 3; k += 1) {
          where[i * 6 + 2 * k] = base + k;
          where[i * 6 + 2 * k + 1] = register(base + k, split[k] as number);
        }
      }
    }
    const acc = this.views.map(
      (v, p) => new Float64Array((order[p] as number[]).length * (v.rowLength as number)),
    );
    // Pass 2: chain rule per id. With G = dL/de viewed (dd0·dd1 × dd2):
    //   dC = ABᵀ·G,  dAB = G·Cᵀ (viewed dd0 × dd1·R),  dA = dAB·Bᵀ,  dB = Aᵀ·dAB.
    const ab = new Float64Array(pl.scratchLength);
    const dab = new Float64Array(pl.scratchLength);
    for (let i = 0; i < ids.length; i += 1) {
      const g0 = i * D;
      if ((where[i * 6 + 2] as number) === -1) {
        const p = where[i * 6] as number;
        const dst = (where[i * 6 + 1] as number) * D;
        const a = acc[p] as Float64Array;
        for (let j = 0; j < D; j += 1)
          a[dst + j] = (a[dst + j] as number) + (rowGrads[g0 + j] as number);
        continue;
      }
      const p0 = where[i * 6] as number;
      const id = ids[i] as number;
      const f = fieldOf(c.offsets, id);
      const x = id - (c.offsets[f] as number);
      const dn = (pl.fields[f] as FieldPlan).dn as Triple;
      const [i0, i1, i2] = TtRows.split(x, dn);
      const c0 = (this.views[p0] as ParamView).data;
      const c1 = (this.views[p0 + 1] as ParamView).data;
      const c2 = (this.views[p0 + 2] as ParamView).data;
      c.product(c0, c1, i0, i1, ab);
      const aBase = i0 * L[0];
      const bBase = i1 * L[1];
      const cBase = i2 * L[2];
      const dA = acc[p0] as Float64Array;
      const dB = acc[p0 + 1] as Float64Array;
      const dC = acc[p0 + 2] as Float64Array;
      const sA = (where[i * 6 + 1] as number) * L[0];
      const sB = (where[i * 6 + 3] as number) * L[1];
      const sC = (where[i * 6 + 5] as number) * L[2];
      for (let p = 0; p < P; p += 1) {
        for (let r = 0; r < R; r += 1) {
          let s = 0;
          const abv = ab[p * R + r] as number;
          for (let j2 = 0; j2 < dd2; j2 += 1) {
            const g = rowGrads[g0 + p * dd2 + j2] as number;
            s += g * (c2[cBase + r * dd2 + j2] as number);
            dC[sC + r * dd2 + j2] = (dC[sC + r * dd2 + j2] as number) + abv * g;
          }
          dab[p * R + r] = s;
        }
      }
      for (let j0 = 0; j0 < dd0; j0 += 1) {
        for (let r = 0; r < R; r += 1) {
          const a = c0[aBase + j0 * R + r] as number;
          let s = 0;
          for (let q = 0; q < Q; q += 1) {
            const d = dab[j0 * Q + q] as number;
            s += d * (c1[bBase + r * Q + q] as number);
            dB[sB + r * Q + q] = (dB[sB + r * Q + q] as number) + a * d;
          }
          dA[sA + j0 * R + r] = (dA[sA + j0 * R + r] as number) + s;
        }
      }
    }
    return this.views.map((v, p) => ({
      name: v.name,
      rows: Uint32Array.from(order[p] as number[]),
      values: Float32Array.from(acc[p] as Float64Array),
    }));
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const grads = this.gradients(ids, rowGrads);
    grads.forEach((g, p) => {
      const rows = g.rows as Uint32Array;
      if (rows.length > 0)
        this.optimizer.updateRows(
          this.slots[p] as OptimizerSlot,
          rows,
          g.values,
          (this.views[p] as ParamView).data,
        );
    });
  }

  parameters(): ParamView[] {
    return this.views;
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const v of this.views) bytes += v.data.byteLength;
    return bytes;
  }

  toTable(): CompressedTable {
    const data = this.compute.data.map(
      (d): FieldData =>
        'table' in d
          ? { table: d.table.slice() }
          : { cores: d.cores.map((c) => c.slice()) as [Float32Array, Float32Array, Float32Array] },
    );
    return new TtTable(this.shape, this.params, data);
  }
}

function loadTable(content: ArtifactContent): CompressedTable {
  const p = artifactParams(content, params);
  const pl = plan(content.shape, p);
  const L = coreRowLengths(pl.dd, pl.rank);
  const data = pl.fields.map((fp, f): FieldData => {
    if (fp.dn === null)
      return { table: section(content, `f${f}.table`, 'f32', fp.n * content.shape.dim) };
    const dn = fp.dn;
    return {
      cores: [0, 1, 2].map((k) =>
        section(content, `f${f}.core${k}`, 'f32', (dn[k] as number) * (L[k] as number)),
      ) as [Float32Array, Float32Array, Float32Array],
    };
  });
  return new TtTable(content.shape, p, data);
}

export const tt: TrainableMethod<TtParams> = {
  kind: 'trainable',
  id: 'tt',
  family: 'generator',
  taxonomy: { scope: 'inter-feature', subClass: 'static-encoding' },
  title: 'TT-Rec: per-field tensor-train cores (ranks 1,R,R,1), rows generated by 2 small matmuls',
  paper:
    'Yin et al., "TT-Rec: Tensor Train Compression for Deep Learning Recommendation Model Embeddings", MLSys 2021',
  params,
  estimateBytes,
  paperWords,
  paramsForBudget: ttParamsForBudget,
  createTrainable: (shape, p, options) => new TtTrainable(shape, p, options),
  loadTable,
};

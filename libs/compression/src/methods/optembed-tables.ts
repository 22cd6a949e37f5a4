// `optembed` serving forms and the row code they share with training (docs/methods/optembed.md).
//  - supernet: E (n × D) and per-field thresholds t; e = step(‖E[x]‖₁ − t_f)·E[x] (inference: no
//    dimension mask);
//  - pruned (search and retrain stages): row remap ρ (i32 per id, −1 = pruned, kept rows in id
//    order), kept columns d_f = κ_f + 1 per field, and per-field tables of the kept rows with ONLY
//    their d_f columns; e = E'_f[ρ(x)] padded with zeros to D (zero for a pruned row).
// The artifact's params carry `form` ('supernet' | 'pruned') besides the method's params.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent, type TypedArray } from '../core/artifact';
import { describeTable } from '../core/describe';
import { ArtifactError } from '../core/errors';
import { checkIds } from '../core/ids';
import type { CompressedTable, TableDescription } from '../core/method';
import { fieldOf, fieldOffsets, fullBytes, totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';

export const optembedParams = z
  .object({
    /** α_reg of the threshold regulariser α_reg·Σ_f exp(−t_f). */
    alphaReg: z.number().min(0).finite().default(1e-5),
    /** Plain-SGD learning rate of the thresholds t. */
    threshLr: z.number().min(0).finite().default(1e-4),
    /** Evolution: candidates kept unchanged per generation. */
    keep: z.number().int().min(0).max(10_000).default(0),
    /** Evolution: mutated copies of the best per generation. */
    mutations: z.number().int().min(0).max(10_000).default(10),
    /** Evolution: crossover children per generation. */
    crossovers: z.number().int().min(0).max(10_000).default(10),
    /** Evolution: per-field probability that a mutation redraws the entry. */
    mutationProb: z.number().min(0).max(1).default(0.1),
    /** Evolution: generations (the reference runs 30; each costs one validation pass per new κ). */
    generations: z.number().int().min(1).max(10_000).default(10),
  })
  .strict()
  .refine((p) => p.keep + p.mutations + p.crossovers >= 1, {
    message: 'the population (keep + mutations + crossovers) needs at least one candidate',
  });
export type OptembedParams = z.infer<typeof optembedParams>;

export const optembedSpec = (p: OptembedParams) => formatOne('optembed', p);

/** Supernet inference row: E[id] if ‖E[id]‖₁ > t_f, else zeros. */
export function supernetRow(
  table: Float32Array,
  thresholds: Float32Array,
  D: number,
  f: number,
  id: number,
  out: Float32Array,
  at: number,
): void {
  const src = id * D;
  let l1 = 0;
  for (let j = 0; j < D; j += 1) l1 += Math.abs(table[src + j] as number);
  const keep = l1 - (thresholds[f] as number) > 0;
  for (let j = 0; j < D; j += 1) out[at + j] = keep ? (table[src + j] as number) : 0;
}

export interface PrunedArrays {
  /** ρ: kept-row index of each global id (kept rows in id order), −1 for a pruned row. */
  readonly remap: Int32Array;
  /** Kept columns d_f = κ_f + 1 per field. */
  readonly dims: Uint32Array;
  /** Field f's kept rows × d_f. */
  readonly tables: readonly Float32Array[];
  /** ρ of field f's first kept row (derived from ρ; not stored in the artifact). */
  readonly starts: Uint32Array;
}

/** starts[f] = number of kept rows in the fields before f, and per-field kept counts. */
export function keptLayout(
  remap: Int32Array,
  offsets: Float64Array,
): { starts: Uint32Array; counts: Uint32Array } {
  const F = offsets.length - 1;
  const starts = new Uint32Array(F);
  const counts = new Uint32Array(F);
  let kept = 0;
  for (let f = 0; f < F; f += 1) {
    starts[f] = kept;
    for (let id = offsets[f] as number; id < (offsets[f + 1] as number); id += 1)
      if ((remap[id] as number) >= 0) kept += 1;
    counts[f] = kept - (starts[f] as number);
  }
  return { starts, counts };
}

export function prunedRow(
  a: PrunedArrays,
  D: number,
  f: number,
  id: number,
  out: Float32Array,
  at: number,
): void {
  const r = a.remap[id] as number;
  if (r < 0) {
    out.fill(0, at, at + D);
    return;
  }
  const d = a.dims[f] as number;
  const table = a.tables[f] as Float32Array;
  const src = (r - (a.starts[f] as number)) * d;
  for (let j = 0; j < d; j += 1) out[at + j] = table[src + j] as number;
  out.fill(0, at + d, at + D);
}

function ratioNote(shape: TableShape, bytes: number): string {
  return `ratio reached ${(bytes / fullBytes(shape)).toPrecision(4)} of the fp32 table (cr is not used: the pruned rows and searched columns decide it)`;
}

const bytesOf = (arrays: Iterable<TypedArray>) => {
  let bytes = 0;
  for (const a of arrays) bytes += a.byteLength;
  return bytes;
};

/** Supernet-stage serving table: the threshold-masked full table, as `forward`. */
export class OptembedSupernetTable implements CompressedTable {
  readonly method = 'optembed';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly offsets: Float64Array;

  constructor(
    readonly shape: TableShape,
    private readonly p: OptembedParams,
    private readonly table: Float32Array,
    private readonly thresholds: Float32Array,
  ) {
    this.spec = optembedSpec(p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.offsets = fieldOffsets(shape);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.dim;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      supernetRow(this.table, this.thresholds, D, fieldOf(this.offsets, id), id, out, i * D);
    }
  }

  memoryBytes(): number {
    return this.table.byteLength + this.thresholds.byteLength;
  }

  describe(): TableDescription {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      this.rows * this.dim,
      [
        'supernet form: the full table and F thresholds (rows with ‖v‖₁ ≤ t_f serve zeros)',
        ratioNote(this.shape, this.memoryBytes()),
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.p, form: 'supernet' },
      shape: this.shape,
      sections: new Map<string, TypedArray>([
        ['table', this.table],
        ['thresholds', this.thresholds],
      ]),
    });
  }
}

/** Pruned serving table (search and retrain stages): remap + per-field kept columns. */
export class OptembedPrunedTable implements CompressedTable {
  readonly method = 'optembed';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly offsets: Float64Array;

  constructor(
    readonly shape: TableShape,
    private readonly p: OptembedParams,
    private readonly arrays: PrunedArrays,
  ) {
    this.spec = optembedSpec(p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.offsets = fieldOffsets(shape);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.dim;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      prunedRow(this.arrays, D, fieldOf(this.offsets, id), id, out, i * D);
    }
  }

  private sections(): Map<string, TypedArray> {
    const s = new Map<string, TypedArray>([
      ['remap', this.arrays.remap],
      ['dims', this.arrays.dims],
    ]);
    this.arrays.tables.forEach((t, f) => s.set(`f${f}.table`, t));
    return s;
  }

  memoryBytes(): number {
    return bytesOf(this.sections().values());
  }

  describe(): TableDescription {
    const { tables, dims } = this.arrays;
    let words = 0;
    let kept = 0;
    tables.forEach((t, f) => {
      words += t.length;
      kept += t.length / (dims[f] as number);
    });
    return describeTable(this.method, this.spec, this.shape, this.memoryBytes(), words, [
      `kept rows ${kept} of ${this.rows} (${(kept / this.rows).toPrecision(4)}); kept columns per field ${Array.from(dims).join(',')}`,
      'bytes count the i32 remap (4 per id) and the F dims; paper words Σ_f n′_f·(κ_f + 1), the reference leaves the remap out (and stores all D columns)',
      ratioNote(this.shape, this.memoryBytes()),
    ]);
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.p, form: 'pruned' },
      shape: this.shape,
      sections: this.sections(),
    });
  }
}

const artifactSchema = optembedParams
  .innerType()
  .extend({ form: z.enum(['supernet', 'pruned']) })
  .strict();

export function loadOptembedTable(content: ArtifactContent): CompressedTable {
  const parsed = artifactSchema.safeParse(content.params);
  const checked = parsed.success ? optembedParams.safeParse(stripForm(parsed.data)) : parsed;
  if (!parsed.success || !checked.success)
    throw new ArtifactError(
      'malformed',
      `optembed: bad params ${JSON.stringify(content.params).slice(0, 200)}`,
    );
  const p = checked.data as OptembedParams;
  const shape = content.shape;
  const n = totalRows(shape);
  const F = shape.fields.length;
  const D = shape.dim;
  if (parsed.data.form === 'supernet')
    return new OptembedSupernetTable(
      shape,
      p,
      section(content, 'table', 'f32', n * D),
      section(content, 'thresholds', 'f32', F),
    );
  const remap = section(content, 'remap', 'i32', n);
  const dims = section(content, 'dims', 'u32', F);
  // ρ must be the rank of each kept id (kept rows in id order): anything else is not ours.
  let next = 0;
  for (let id = 0; id < n; id += 1) {
    const r = remap[id] as number;
    if (r === -1) continue;
    if (r !== next)
      throw new ArtifactError('malformed', `optembed: remap of id ${id} is ${r}, expected ${next}`);
    next += 1;
  }
  const { starts, counts } = keptLayout(remap, fieldOffsets(shape));
  const tables = shape.fields.map((_, f) => {
    const d = dims[f] as number;
    if (d < 1 || d > D)
      throw new ArtifactError('malformed', `optembed: field ${f} keeps ${d} of ${D} columns`);
    return section(content, `f${f}.table`, 'f32', (counts[f] as number) * d);
  });
  return new OptembedPrunedTable(shape, p, { remap, dims, tables, starts });
}

function stripForm<T extends { form: string }>(v: T): Omit<T, 'form'> {
  const { form: _form, ...rest } = v;
  return rest;
}

// `autodim` serving forms and the row code they share with training (docs/methods/autodim.md).
// Two forms, one per stage, each serving exactly what the trainable's `forward` returns in that
// stage (same functions, same arithmetic order: bit-identical):
//  - search: every candidate table E_c (n × c), per-field projections W_c (F × c × D) and biases
//    b_c (F × D), BatchNorm running statistics per candidate, and the mixture weights
//    p = softmax(log_softmax(α_f)/τ) (no Gumbel noise: inference) as of the snapshot;
//  - retrain: per-field dims d_f, E'_f (n_f × d_f), W'_f (d_f × D), b'_f (D).
// The artifact's params carry `form` ('search' | 'retrain') besides the method's params.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent, type TypedArray } from '../core/artifact';
import { describeTable } from '../core/describe';
import { ArtifactError } from '../core/errors';
import { checkIds } from '../core/ids';
import type { CompressedTable, TableDescription } from '../core/method';
import { fieldOf, fieldOffsets, fullBytes, totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';

/** BatchNorm ε and running-statistics momentum (docs/methods/reference.md#lookups-and-updates). */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export const autodimParams = z
  .object({
    /** Plain-SGD learning rate of the architecture weights α (validation batches). */
    alphaLr: z.number().positive().finite().default(1e-3),
    /** τ = max(0.01, 1 − tauDecay·samples seen by training forwards); reference 5e-5/2000. */
    tauDecay: z.number().min(0).finite().default(2.5e-8),
  })
  .strict();
export type AutodimParams = z.infer<typeof autodimParams>;

export const autodimSpec = (p: AutodimParams) => formatOne('autodim', p);

/** Candidate dims: 2, 4, 8, … below D, then D itself (D = 16 → 2, 4, 8, 16; D = 12 → 2, 4, 8, 12). */
export function autodimCandidates(dim: number): number[] {
  const out: number[] = [];
  for (let c = 2; c < dim; c *= 2) out.push(c);
  out.push(dim);
  return out;
}

/** Arrays of the search stage (candidate i has dim cands[i]). */
export interface SearchArrays {
  readonly cands: readonly number[];
  /** E_c, n × c. */
  readonly tables: readonly Float32Array[];
  /** W_c, F × c × D (field f's c × D block at f·c·D). */
  readonly projs: readonly Float32Array[];
  /** b_c, F × D. */
  readonly biases: readonly Float32Array[];
  /** BatchNorm running mean and variance of candidate c, D each. */
  readonly means: readonly Float32Array[];
  readonly vars: readonly Float32Array[];
}

/** Floats of the search form: Σ_c (n·c + F·c·D + F·D + 2·D) + F·|C| (mixture weights or α). */
export function searchFloats(shape: TableShape): number {
  const n = totalRows(shape);
  const F = shape.fields.length;
  const D = shape.dim;
  const cands = autodimCandidates(D);
  let floats = F * cands.length;
  for (const c of cands) floats += n * c + F * c * D + F * D + 2 * D;
  return floats;
}

/** The reference's words of the search form (no BN statistics). */
export function searchWords(shape: TableShape): number {
  return searchFloats(shape) - 2 * shape.dim * autodimCandidates(shape.dim).length;
}

/**
 * Candidate ci's inference output for global id `id` of field f into y (D float64s):
 * y = (z − μ_c)/√(σ²_c + ε), z = E_c[id]·W_{c,f} + b_{c,f}.
 */
export function candidateRow(
  a: SearchArrays,
  ci: number,
  D: number,
  f: number,
  id: number,
  y: Float64Array,
): void {
  const c = a.cands[ci] as number;
  const E = a.tables[ci] as Float32Array;
  const W = a.projs[ci] as Float32Array;
  const b = a.biases[ci] as Float32Array;
  const mean = a.means[ci] as Float32Array;
  const variance = a.vars[ci] as Float32Array;
  const src = id * c;
  const w0 = f * c * D;
  for (let j = 0; j < D; j += 1) {
    let z = b[f * D + j] as number;
    for (let k = 0; k < c; k += 1) z += (E[src + k] as number) * (W[w0 + k * D + j] as number);
    y[j] = (z - (mean[j] as number)) / Math.sqrt((variance[j] as number) + BN_EPS);
  }
}

/**
 * Inference row of global id `id` (field f) in the search form, into out[at .. at + D):
 * e = Σ_c p_{f,c}·y_c (candidateRow). `acc` and `y` are D float64s each.
 */
export function searchRow(
  a: SearchArrays,
  mix: Float32Array,
  D: number,
  f: number,
  id: number,
  out: Float32Array,
  at: number,
  acc: Float64Array,
  y: Float64Array,
): void {
  const C = a.cands.length;
  acc.fill(0);
  for (let ci = 0; ci < C; ci += 1) {
    candidateRow(a, ci, D, f, id, y);
    const p = mix[f * C + ci] as number;
    for (let j = 0; j < D; j += 1) acc[j] = (acc[j] as number) + p * (y[j] as number);
  }
  for (let j = 0; j < D; j += 1) out[at + j] = acc[j] as number;
}

/** One field of the retrain form: e = E'[x]·W' + b' (always projected, no BN). */
export interface RetrainField {
  readonly d: number;
  readonly table: Float32Array;
  readonly proj: Float32Array;
  readonly bias: Float32Array;
}

export function retrainRow(
  fd: RetrainField,
  D: number,
  x: number,
  out: Float32Array,
  at: number,
): void {
  const { d, table, proj, bias } = fd;
  const src = x * d;
  for (let j = 0; j < D; j += 1) {
    let s = bias[j] as number;
    for (let k = 0; k < d; k += 1) s += (table[src + k] as number) * (proj[k * D + j] as number);
    out[at + j] = s;
  }
}

/** Floats of the retrain form for dims d_f: Σ_f (n_f·d_f + d_f·D + D); plus F u32 dims. */
export function retrainBytes(shape: TableShape, dims: ArrayLike<number>): number {
  let floats = 0;
  shape.fields.forEach((n, f) => {
    const d = dims[f] as number;
    floats += n * d + d * shape.dim + shape.dim;
  });
  return 4 * floats + 4 * shape.fields.length;
}

const bytesOf = (arrays: Iterable<TypedArray>) => {
  let bytes = 0;
  for (const a of arrays) bytes += a.byteLength;
  return bytes;
};

function searchSections(a: SearchArrays, mix: Float32Array): Map<string, TypedArray> {
  const s = new Map<string, TypedArray>();
  a.cands.forEach((_, i) => {
    s.set(`c${i}.table`, a.tables[i] as Float32Array);
    s.set(`c${i}.proj`, a.projs[i] as Float32Array);
    s.set(`c${i}.bias`, a.biases[i] as Float32Array);
    s.set(`c${i}.mean`, a.means[i] as Float32Array);
    s.set(`c${i}.var`, a.vars[i] as Float32Array);
  });
  s.set('mix', mix);
  return s;
}

function ratioNote(shape: TableShape, bytes: number): string {
  return `ratio reached ${(bytes / fullBytes(shape)).toPrecision(4)} of the fp32 table (cr is not used: the searched dims decide it)`;
}

/** Search-stage serving table: the candidate mixture with running statistics, as `forward`. */
export class AutodimSearchTable implements CompressedTable {
  readonly method = 'autodim';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly offsets: Float64Array;
  private readonly acc: Float64Array;
  private readonly y: Float64Array;

  constructor(
    readonly shape: TableShape,
    private readonly p: AutodimParams,
    private readonly arrays: SearchArrays,
    /** p_{f,c}, F × |C|. */
    private readonly mix: Float32Array,
  ) {
    this.spec = autodimSpec(p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.offsets = fieldOffsets(shape);
    this.acc = new Float64Array(shape.dim);
    this.y = new Float64Array(shape.dim);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.dim;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      searchRow(
        this.arrays,
        this.mix,
        D,
        fieldOf(this.offsets, id),
        id,
        out,
        i * D,
        this.acc,
        this.y,
      );
    }
  }

  memoryBytes(): number {
    return bytesOf(searchSections(this.arrays, this.mix).values());
  }

  describe(): TableDescription {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      searchWords(this.shape),
      [
        `search form: candidates ${this.arrays.cands.join(',')}, every candidate table held (the retrain stage keeps one dim per field)`,
        'bytes count the BatchNorm running statistics (2·D per candidate) and the F × |C| mixture weights; paper words count α instead and no BN statistics',
        ratioNote(this.shape, this.memoryBytes()),
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.p, form: 'search' },
      shape: this.shape,
      sections: searchSections(this.arrays, this.mix),
    });
  }
}

/** Retrain-stage (final) serving table: per-field dims, tables, projections and biases. */
export class AutodimRetrainTable implements CompressedTable {
  readonly method = 'autodim';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly offsets: Float64Array;

  constructor(
    readonly shape: TableShape,
    private readonly p: AutodimParams,
    private readonly dims: Uint32Array,
    private readonly fields: readonly RetrainField[],
  ) {
    this.spec = autodimSpec(p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.offsets = fieldOffsets(shape);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.dim;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const f = fieldOf(this.offsets, id);
      retrainRow(this.fields[f] as RetrainField, D, id - (this.offsets[f] as number), out, i * D);
    }
  }

  private sections(): Map<string, TypedArray> {
    const s = new Map<string, TypedArray>([['dims', this.dims]]);
    this.fields.forEach((fd, f) => {
      s.set(`f${f}.table`, fd.table);
      s.set(`f${f}.proj`, fd.proj);
      s.set(`f${f}.bias`, fd.bias);
    });
    return s;
  }

  memoryBytes(): number {
    return bytesOf(this.sections().values());
  }

  describe(): TableDescription {
    const words = retrainBytes(this.shape, this.dims) / 4 - this.shape.fields.length;
    return describeTable(this.method, this.spec, this.shape, this.memoryBytes(), words, [
      `per-field dims ${Array.from(this.dims).join(',')} (argmax of the searched α)`,
      'paper words Σ_f (n_f·d_f + d_f·D + D); bytes also count the F dims (u32)',
      ratioNote(this.shape, this.memoryBytes()),
    ]);
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.p, form: 'retrain' },
      shape: this.shape,
      sections: this.sections(),
    });
  }
}

const artifactSchema = autodimParams.extend({ form: z.enum(['search', 'retrain']) }).strict();

function checkStats(content: ArtifactContent, name: string, a: Float32Array, variance: boolean) {
  for (const v of a)
    if (!Number.isFinite(v) || (variance && v < 0))
      throw new ArtifactError('malformed', `autodim: section "${name}" holds ${v}`);
}

export function loadAutodimTable(content: ArtifactContent): CompressedTable {
  const parsed = artifactSchema.safeParse(content.params);
  if (!parsed.success)
    throw new ArtifactError(
      'malformed',
      `autodim: bad params ${JSON.stringify(content.params).slice(0, 200)}`,
    );
  const { form, ...p } = parsed.data;
  const shape = content.shape;
  const n = totalRows(shape);
  const F = shape.fields.length;
  const D = shape.dim;
  const cands = autodimCandidates(D);
  if (form === 'search') {
    const f32 = (name: string, length: number) => section(content, name, 'f32', length);
    const arrays: SearchArrays = {
      cands,
      tables: cands.map((c, i) => f32(`c${i}.table`, n * c)),
      projs: cands.map((c, i) => f32(`c${i}.proj`, F * c * D)),
      biases: cands.map((_, i) => f32(`c${i}.bias`, F * D)),
      means: cands.map((_, i) => f32(`c${i}.mean`, D)),
      vars: cands.map((_, i) => f32(`c${i}.var`, D)),
    };
    arrays.means.forEach((m, i) => checkStats(content, `c${i}.mean`, m, false));
    arrays.vars.forEach((v, i) => checkStats(content, `c${i}.var`, v, true));
    return new AutodimSearchTable(shape, p, arrays, f32('mix', F * cands.length));
  }
  const dims = section(content, 'dims', 'u32', F);
  const fields = shape.fields.map((nf, f): RetrainField => {
    const d = dims[f] as number;
    if (!cands.includes(d))
      throw new ArtifactError('malformed', `autodim: field ${f}: dim ${d} is not a candidate`);
    return {
      d,
      table: section(content, `f${f}.table`, 'f32', nf * d),
      proj: section(content, `f${f}.proj`, 'f32', d * D),
      bias: section(content, `f${f}.bias`, 'f32', D),
    };
  });
  return new AutodimRetrainTable(shape, p, dims, fields);
}

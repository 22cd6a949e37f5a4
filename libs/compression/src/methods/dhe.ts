// `dhe`: Deep Hash Embedding (docs/methods/dhe.md; Kang et al., KDD 2021). No table for a
// compressed field: k fixed hash functions encode a local id into k numbers, a per-field MLP
// decodes them. Fields too small to profit (n_f·D ≤ threshold' = max(M(h), thr·D)) keep a full fp32
// table.
//
// Train/serve split (docs/methods/dhe.md):
//  - `forward` is inference: BatchNorm with running statistics, folded into the Linear layers,
//    through the same code as the serving table (so serving equals forward exactly): the ids of
//    a request run through the MLP in chunks of up to 1024, each layer one @embpress/kernels
//    matmul (f32 sums, bias added) followed by Mish (docs/methods/dhe.md, "Serving");
//  - `trainForward` is the training forward (BatchNorm over the lookups of each field in the
//    batch); `gradients` is ITS gradient and `backward` applies it, then advances the running
//    statistics (momentum 0.1).
import { kernels } from '@embpress/kernels';
import { z } from 'zod';
import {
  section,
  writeArtifact,
  type ArtifactContent,
  type TypedArray,
  artifactParams,
} from '../core/artifact';
import { bisect, checkBudget, type Accounting } from '../core/budget';
import { describeTable } from '../core/describe';
import { ArtifactError, BudgetError } from '../core/errors';
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
import { fieldOf, fieldOffsets, fullBytes, totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';
import {
  allocFolded,
  DheMlp,
  foldedFloats,
  LINEAR_LAYERS,
  mish,
  mlpDims,
  mlpParamNames,
  type FoldedMlp,
} from './dhe-mlp';

/** Size of the prime pool p_j is drawn from: the first PRIME_POOL primes ≥ m (primes.npy stand-in). */
export const PRIME_POOL = 4096;
/**
 * Ids run through the serving MLP this many at a time: each layer is one kernel matmul of
 * CHUNK × width, large enough that the kernels' 4 × 8 tiles and per-call copies amortize.
 */
const CHUNK = 1024;
const MAX_BUCKETS = 2 ** 31;

const params = z
  .object({
    /** MLP width h (the reference derives it from the budget: paramsForBudget). */
    hidden: z.number().int().min(1).max(65_536).default(512),
    /** k, the number of hash functions (MLP input width). */
    hashes: z.number().int().min(1).max(65_536).default(1024),
    /** m, the hash range. */
    buckets: z.number().int().min(2).max(MAX_BUCKETS).default(1_000_000),
    encoding: z.enum(['uniform', 'normal']).default('uniform'),
    /** thr: fields with n_f ≤ thr are never compressed. */
    threshold: z.number().int().min(0).default(0),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.encoding === 'normal' && p.hashes % 2 !== 0)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['hashes'],
        message: 'encoding=normal pairs hash values (Box–Muller): hashes must be even',
      });
  });
export type DheParams = z.infer<typeof params>;

// ---------------------------------------------------------------------------------------------
// Sizing

/**
 * The reference's words per DHE field (docs/methods/dhe.md):
 * M(h) = (k+1)h + 4h(h+1) + (D+1)h + 10h.
 */
export function dheWords(hashes: number, hidden: number, dim: number): number {
  return (hashes + 1) * hidden + 4 * hidden * (hidden + 1) + (dim + 1) * hidden + 10 * hidden;
}

/** threshold' = max(M(h), thr·D): a field uses DHE iff n_f·D > threshold'. */
export function dheThreshold(shape: TableShape, p: DheParams): number {
  return Math.max(dheWords(p.hashes, p.hidden, shape.dim), p.threshold * shape.dim);
}

/** Which fields use DHE (true) or keep a full table (false). */
export function dheFields(shape: TableShape, p: DheParams): boolean[] {
  const t = dheThreshold(shape, p);
  return shape.fields.map((n) => n * shape.dim > t);
}

const primeCache = new Map<number, Uint32Array>();

function smallPrimes(limit: number): number[] {
  const composite = new Uint8Array(limit + 1);
  const primes: number[] = [];
  for (let q = 2; q <= limit; q += 1) {
    if (composite[q] === 1) continue;
    primes.push(q);
    for (let v = q * q; v <= limit; v += q) composite[v] = 1;
  }
  return primes;
}

/** The first `PRIME_POOL` primes ≥ m, ascending (segmented sieve; deterministic, cached). */
export function primesFrom(m: number): Uint32Array {
  const cached = primeCache.get(m);
  if (cached !== undefined) return cached;
  const found = new Uint32Array(PRIME_POOL);
  let count = 0;
  const width = 1 << 16;
  for (let lo = Math.max(2, m); count < PRIME_POOL; lo += width) {
    const hi = lo + width;
    const composite = new Uint8Array(width);
    for (const q of smallPrimes(Math.floor(Math.sqrt(hi)))) {
      for (let v = Math.max(q * q, Math.ceil(lo / q) * q); v < hi; v += q) composite[v - lo] = 1;
    }
    for (let v = lo; v < hi && count < PRIME_POOL; v += 1) {
      if (composite[v - lo] === 0) {
        found[count] = v;
        count += 1;
      }
    }
  }
  primeCache.set(m, found);
  return found;
}

type IntArray = Uint16Array | Uint32Array;
type IntDType = 'u16' | 'u32';

/** Narrowest exact unsigned type for values ≤ max. */
function intType(max: number): IntDType {
  return max < 65_536 ? 'u16' : 'u32';
}
const intBytes = (t: IntDType) => (t === 'u16' ? 2 : 4);
const newInts = (t: IntDType, length: number): IntArray =>
  t === 'u16' ? new Uint16Array(length) : new Uint32Array(length);

/** Types of the stored a_j, b_j (< m) and p_j (primes of the pool). */
function hashTypes(m: number): { ab: IntDType; p: IntDType } {
  const pool = primesFrom(m);
  return { ab: intType(m - 1), p: intType(pool[pool.length - 1] as number) };
}

/** Bytes of one DHE field in serving form: hash constants + folded MLP. */
function dheFieldBytes(shape: TableShape, p: DheParams, hidden = p.hidden): number {
  const t = hashTypes(p.buckets);
  return (
    p.hashes * (2 * intBytes(t.ab) + intBytes(t.p)) + 4 * foldedFloats(p.hashes, hidden, shape.dim)
  );
}

/** Serving bytes for a (possibly fractional, for the budget search) width h. */
function bytesFor(shape: TableShape, p: DheParams, hidden: number): number {
  const t = Math.max(dheWords(p.hashes, hidden, shape.dim), p.threshold * shape.dim);
  let bytes = 0;
  for (const n of shape.fields)
    bytes += n * shape.dim > t ? dheFieldBytes(shape, p, hidden) : n * shape.dim * 4;
  return bytes;
}

function estimateBytes(shape: TableShape, p: DheParams): number {
  return bytesFor(shape, p, p.hidden);
}

/** The reference's accounting: each DHE field charged threshold' words, full fields n_f·D. */
function paperWords(shape: TableShape, p: DheParams): number {
  const t = dheThreshold(shape, p);
  let words = 0;
  for (const n of shape.fields) words += n * shape.dim > t ? t : n * shape.dim;
  return words;
}

/**
 * Budget solver (docs/methods/dhe.md): bisect h ∈ [1, √(n·D)] (eps 0.5) on Σ_f cost_f(h) − budget;
 * h = ⌊right⌋, minus 1 if over. Paper words: fields with n_f > thr cost min(n_f·D, M(h)) (the reference rule,
 * reproducing its test vectors); bytes: the exact serving bytes of the table h would build (the
 * decrement is repeated while still over, as bytes are not exactly monotone in h).
 */
function paramsForBudget(
  shape: TableShape,
  budget: number,
  accounting: Accounting = 'bytes',
): DheParams {
  checkBudget(budget);
  const base = params.parse({});
  const nD = totalRows(shape) * shape.dim;
  const cost =
    accounting === 'paper-words'
      ? (h: number) => {
          const M = dheWords(base.hashes, h, shape.dim);
          let words = 0;
          for (const n of shape.fields)
            words += n > base.threshold ? Math.min(n * shape.dim, M) : n * shape.dim;
          return words - budget * nD;
        }
      : (h: number) => bytesFor(shape, base, h) - budget * fullBytes(shape);
  const top = Math.sqrt(nD);
  // At h = √(n·D) every field is full (M(h) > 4·n·D): a budget of 1 is met there.
  if (cost(top) <= 0) return { ...base, hidden: Math.max(1, Math.floor(top)) };
  let right: number;
  try {
    right = bisect(1, top, cost).right;
  } catch (err) {
    if (err instanceof BudgetError)
      throw new BudgetError(
        `dhe: budget ${budget} is below the smallest DHE table (h = 1) on this shape`,
      );
    throw err;
  }
  let h = Math.floor(right);
  if (cost(h) > 0) h -= 1;
  if (accounting === 'bytes') while (h >= 1 && cost(h) > 0) h -= 1;
  if (h < 1) throw new BudgetError(`dhe: budget ${budget} is below the smallest DHE table`);
  return { ...base, hidden: h };
}

// ---------------------------------------------------------------------------------------------
// Hashing and encoding

/**
 * h = ((a·x + b) mod p) mod m, EXACT (the reference's GPU kernel overflows int32 here). `direct`:
 * a·x + b < 2^53 is exact in a double; otherwise x is split in 16-bit halves (every term < 2^50).
 */
export function dheHash(
  a: number,
  b: number,
  p: number,
  m: number,
  x: number,
  direct: boolean,
): number {
  let r: number;
  if (direct) {
    r = (a * x + b) % p;
  } else {
    const xh = Math.floor(x / 65_536);
    const xl = x - xh * 65_536;
    r = (((a * xh) % p) * 65_536 + a * xl + b) % p;
  }
  return r % m;
}

/** Whether a·x + b stays below 2^53 for every a, b < m and x < rows. */
function directHash(m: number, rows: number): boolean {
  return (m - 1) * rows <= Number.MAX_SAFE_INTEGER;
}

interface DheHashes {
  readonly a: IntArray;
  readonly b: IntArray;
  readonly p: IntArray;
}

/** The k encodings of local id `x` into out[at .. at+k). */
function encodeId(
  hashes: DheHashes,
  m: number,
  normal: boolean,
  direct: boolean,
  x: number,
  out: Float64Array | Float32Array,
  at: number,
): void {
  const { a, b, p } = hashes;
  const k = a.length;
  const top = m - 1;
  if (!normal) {
    for (let j = 0; j < k; j += 1) {
      const h = dheHash(a[j] as number, b[j] as number, p[j] as number, m, x, direct);
      out[at + j] = (2 * h) / top - 1;
    }
    return;
  }
  for (let j = 0; j < k; j += 2) {
    const u = dheHash(a[j] as number, b[j] as number, p[j] as number, m, x, direct) / top;
    const w =
      dheHash(a[j + 1] as number, b[j + 1] as number, p[j + 1] as number, m, x, direct) / top;
    const r = Math.sqrt(-2 * Math.log(Math.max(u, 1e-12)));
    out[at + j] = r * Math.cos(2 * Math.PI * w);
    out[at + j + 1] = r * Math.sin(2 * Math.PI * w);
  }
}

/** Encodes local ids `x` (Float64Array of k values each), exported for tests and tooling. */
export function dheEncode(
  hashes: DheHashes,
  p: Pick<DheParams, 'buckets' | 'encoding'>,
  rows: number,
  x: number,
): Float64Array {
  const out = new Float64Array(hashes.a.length);
  encodeId(hashes, p.buckets, p.encoding === 'normal', directHash(p.buckets, rows), x, out, 0);
  return out;
}

/** Hash constants of field after field, drawn in sequence from one Rng: a (k), b (k), p (k). */
function drawHashes(rng: Rng, p: DheParams): DheHashes {
  const t = hashTypes(p.buckets);
  const pool = primesFrom(p.buckets);
  const k = p.hashes;
  const a = newInts(t.ab, k);
  const b = newInts(t.ab, k);
  const primes = newInts(t.p, k);
  for (let j = 0; j < k; j += 1) a[j] = rng.int(1, p.buckets);
  for (let j = 0; j < k; j += 1) b[j] = rng.int(1, p.buckets);
  for (let j = 0; j < k; j += 1) primes[j] = pool[rng.int(0, pool.length)] as number;
  return { a, b, p: primes };
}

// ---------------------------------------------------------------------------------------------
// Serving

interface DhePart {
  readonly field: number;
  readonly offset: number;
  readonly rows: number;
  readonly direct: boolean;
  readonly hashes: DheHashes;
  readonly folded: FoldedMlp;
}

/**
 * An engine's lookup workspace (CHUNK ids; lookups are synchronous, so one per engine suffices)
 * and each part's folded weights transposed to in × out (the kernels' B). Kept in a WeakMap, off
 * the engine's own fields: the trainer checkpoints a trainable field by field
 * (libs/training/src/object-state.ts), and these are caches (megabytes, and a Map).
 */
interface EngineScratch {
  enc: Float32Array;
  tmpA: Float32Array;
  tmpB: Float32Array;
  chunkOut: Float32Array;
  transposed: Map<DhePart, Float32Array[]>;
}
const SCRATCH = new WeakMap<DheEngine, EngineScratch>();

/** The lookup shared by the serving table and the trainable's (inference) forward. */
class DheEngine {
  readonly rows: number;
  private readonly offsets: Float64Array;
  private readonly hasFull: boolean;
  private readonly normal: boolean;
  private readonly positions = new Uint32Array(CHUNK);

  constructor(
    readonly shape: TableShape,
    readonly p: DheParams,
    /** Full table of each field, or undefined for DHE fields. */
    readonly full: readonly (Float32Array | undefined)[],
    readonly dhe: readonly DhePart[],
  ) {
    this.rows = totalRows(shape);
    this.offsets = fieldOffsets(shape);
    this.hasFull = full.some((t) => t !== undefined);
    this.normal = p.encoding === 'normal';
  }

  lookup(ids: Uint32Array, out: Float32Array, only?: readonly boolean[]): void {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    if (this.hasFull) {
      for (let i = 0; i < ids.length; i += 1) {
        const id = ids[i] as number;
        const f = fieldOf(this.offsets, id);
        const table = this.full[f];
        if (table === undefined) continue;
        const src = (id - (this.offsets[f] as number)) * D;
        const dst = i * D;
        for (let j = 0; j < D; j += 1) out[dst + j] = table[src + j] as number;
      }
    }
    for (const part of this.dhe) {
      if (only !== undefined && only[part.field] !== true) continue;
      this.lookupField(part, ids, out);
    }
  }

  private lookupField(part: DhePart, ids: Uint32Array, out: Float32Array): void {
    const k = this.p.hashes;
    const { enc } = this.scratch();
    const lo = part.offset;
    const hi = lo + part.rows;
    let count = 0;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      if (id < lo || id >= hi) continue;
      this.positions[count] = i;
      encodeId(part.hashes, this.p.buckets, this.normal, part.direct, id - lo, enc, count * k);
      count += 1;
      if (count === CHUNK) {
        this.flush(part, count, out);
        count = 0;
      }
    }
    if (count > 0) this.flush(part, count, out);
  }

  private scratch(): EngineScratch {
    let scratch = SCRATCH.get(this);
    if (scratch === undefined) {
      scratch = {
        enc: new Float32Array(CHUNK * this.p.hashes),
        tmpA: new Float32Array(CHUNK * this.p.hidden),
        tmpB: new Float32Array(CHUNK * this.p.hidden),
        chunkOut: new Float32Array(CHUNK * this.shape.dim),
        transposed: new Map(),
      };
      SCRATCH.set(this, scratch);
    }
    return scratch;
  }

  /** Forgets `part`'s transposed weights: its folded weights changed (the trainable refolds). */
  invalidate(part: DhePart): void {
    SCRATCH.get(this)?.transposed.delete(part);
  }

  private weightsOf(part: DhePart): Float32Array[] {
    const cache = this.scratch().transposed;
    let mats = cache.get(part);
    if (mats === undefined) {
      const dims = mlpDims(this.p.hashes, this.p.hidden, this.shape.dim);
      mats = part.folded.weights.map((w, l) => {
        const inDim = dims[l] as number;
        const outDim = dims[l + 1] as number;
        const t = new Float32Array(inDim * outDim);
        for (let o = 0; o < outDim; o += 1)
          for (let i = 0; i < inDim; i += 1) t[i * outDim + o] = w[o * inDim + i] as number;
        return t;
      });
      cache.set(part, mats);
    }
    return mats;
  }

  /**
   * The folded MLP on `count` encoded ids: per layer one kernel matmul (x·Wᵀ + b, f32 sums over
   * the layer's input in order), Mish in float64 rounded to f32, then the rows to their places.
   */
  private flush(part: DhePart, count: number, out: Float32Array): void {
    const k = kernels();
    const D = this.shape.dim;
    const h = this.p.hidden;
    const mats = this.weightsOf(part);
    const { enc, tmpA, tmpB, chunkOut } = this.scratch();
    let src = enc.subarray(0, count * this.p.hashes);
    let inDim = this.p.hashes;
    let dst = tmpA;
    for (let l = 0; l < LINEAR_LAYERS - 1; l += 1) {
      const y = dst.subarray(0, count * h);
      k.matmul(src, mats[l] as Float32Array, count, inDim, h, {
        bias: part.folded.biases[l] as Float32Array,
        out: y,
      });
      for (let i = 0; i < y.length; i += 1) y[i] = mish(y[i] as number);
      src = y;
      dst = dst === tmpA ? tmpB : tmpA;
      inDim = h;
    }
    const rows = chunkOut.subarray(0, count * D);
    k.matmul(src, mats[LINEAR_LAYERS - 1] as Float32Array, count, h, D, {
      bias: part.folded.biases[LINEAR_LAYERS - 1] as Float32Array,
      out: rows,
    });
    for (let r = 0; r < count; r += 1)
      out.set(rows.subarray(r * D, (r + 1) * D), (this.positions[r] as number) * D);
  }
}

function sectionName(field: number, what: string): string {
  return `field${field}.${what}`;
}

export class DheTable implements CompressedTable {
  readonly method = 'dhe';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly engine: DheEngine;

  constructor(
    readonly shape: TableShape,
    private readonly p: DheParams,
    private readonly full: readonly (Float32Array | undefined)[],
    private readonly dhe: readonly DhePart[],
  ) {
    this.spec = formatOne('dhe', p);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.engine = new DheEngine(shape, p, full, dhe);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    this.engine.lookup(ids, out);
  }

  private buffers(): Map<string, TypedArray> {
    const sections = new Map<string, TypedArray>();
    let next = 0;
    this.full.forEach((table, f) => {
      if (table !== undefined) {
        sections.set(sectionName(f, 'table'), table);
        return;
      }
      const part = this.dhe[next] as DhePart;
      next += 1;
      sections.set(sectionName(f, 'hash.a'), part.hashes.a);
      sections.set(sectionName(f, 'hash.b'), part.hashes.b);
      sections.set(sectionName(f, 'hash.p'), part.hashes.p);
      for (let l = 0; l < LINEAR_LAYERS; l += 1) {
        sections.set(sectionName(f, `w${l}`), part.folded.weights[l] as Float32Array);
        sections.set(sectionName(f, `b${l}`), part.folded.biases[l] as Float32Array);
      }
    });
    return sections;
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const array of this.buffers().values()) bytes += array.byteLength;
    return bytes;
  }

  describe() {
    const compressed = this.dhe.length;
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      paperWords(this.shape, this.p),
      [
        `${compressed} of ${this.shape.fields.length} fields use DHE (n_f·D > threshold' = ${dheThreshold(this.shape, this.p)} words); the others are full fp32 tables`,
        `bytes count the hash constants (3·k per DHE field as ${hashTypes(this.p.buckets).ab}/${hashTypes(this.p.buckets).p}) that the paper leaves out`,
        "bytes count the serving MLP with BatchNorm folded into the Linear layers ((k+1)h + 4(h+1)h + (h+1)D floats per field); the paper charges each DHE field threshold' = max(M(h), thr·D) words, M(h) counting 10h BN words and h last-layer biases",
        `a lookup workspace of ${CHUNK} ids (k + 2h + D floats each) and the transposed weights the kernels read (as many floats as the MLP) are not counted`,
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.p },
      shape: this.shape,
      sections: this.buffers(),
    });
  }
}

function loadTable(content: ArtifactContent): CompressedTable {
  const p = artifactParams(content, params);
  const shape = content.shape;
  const D = shape.dim;
  const offsets = fieldOffsets(shape);
  const types = hashTypes(p.buckets);
  const dims = mlpDims(p.hashes, p.hidden, D);
  const full: (Float32Array | undefined)[] = [];
  const dhe: DhePart[] = [];
  dheFields(shape, p).forEach((isDhe, f) => {
    const n = shape.fields[f] as number;
    if (!isDhe) {
      full.push(section(content, sectionName(f, 'table'), 'f32', n * D));
      return;
    }
    full.push(undefined);
    const ints = (what: string, t: IntDType): IntArray =>
      t === 'u16'
        ? section(content, sectionName(f, what), 'u16', p.hashes)
        : section(content, sectionName(f, what), 'u32', p.hashes);
    const hashes = {
      a: ints('hash.a', types.ab),
      b: ints('hash.b', types.ab),
      p: ints('hash.p', types.p),
    };
    for (let j = 0; j < p.hashes; j += 1) {
      const a = hashes.a[j] as number;
      const b = hashes.b[j] as number;
      if (a < 1 || a >= p.buckets || b < 1 || b >= p.buckets || (hashes.p[j] as number) < p.buckets)
        throw new ArtifactError('malformed', `dhe: field ${f}: hash constants out of range`);
    }
    const weights: Float32Array[] = [];
    const biases: Float32Array[] = [];
    for (let l = 0; l < LINEAR_LAYERS; l += 1) {
      const out = dims[l + 1] as number;
      weights.push(section(content, sectionName(f, `w${l}`), 'f32', (dims[l] as number) * out));
      biases.push(section(content, sectionName(f, `b${l}`), 'f32', out));
    }
    dhe.push({
      field: f,
      offset: offsets[f] as number,
      rows: n,
      direct: directHash(p.buckets, n),
      hashes,
      folded: { weights, biases },
    });
  });
  return new DheTable(shape, p, full, dhe);
}

// ---------------------------------------------------------------------------------------------
// Training

interface DheModule {
  readonly part: DhePart;
  readonly mlp: DheMlp;
  readonly names: string[];
  readonly slots: OptimizerSlot[];
}

export class DheTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly rows: number;
  private readonly offsets: Float64Array;
  private readonly full: (Float32Array | undefined)[] = [];
  private readonly fullSlots: (OptimizerSlot | undefined)[] = [];
  /** DHE module of each field (undefined for full fields). */
  private readonly modules: (DheModule | undefined)[] = [];
  private readonly engine: DheEngine;
  private readonly present: boolean[];
  private readonly normal: boolean;
  // Training workspace (grown per batch).
  private enc = new Float64Array(0);
  private outBuf = new Float64Array(0);

  constructor(
    readonly shape: TableShape,
    private readonly p: DheParams,
    options: TrainOptions,
    private readonly optimizer: SparseOptimizer = options.optimizer,
  ) {
    this.spec = formatOne('dhe', p);
    this.rows = totalRows(shape);
    this.offsets = fieldOffsets(shape);
    this.normal = p.encoding === 'normal';
    const D = shape.dim;
    const layout = dheFields(shape, p);
    const rng = new Rng(options.seed);
    // Hash constants first, field after field, from one stream: every field gets its own hashes.
    const hashes = layout.map((isDhe) => (isDhe ? drawHashes(rng, p) : undefined));
    const bound = defaultInitBound(shape.fields);
    const parts: DhePart[] = [];
    layout.forEach((isDhe, f) => {
      const n = shape.fields[f] as number;
      if (!isDhe) {
        this.full.push(rng.fillUniform(new Float32Array(n * D), -bound, bound));
        this.fullSlots.push(optimizer.slot(sectionName(f, 'table'), n, D));
        this.modules.push(undefined);
        return;
      }
      const mlp = new DheMlp(p.hashes, p.hidden, D, rng, bound);
      const part: DhePart = {
        field: f,
        offset: this.offsets[f] as number,
        rows: n,
        direct: directHash(p.buckets, n),
        hashes: hashes[f] as DheHashes,
        folded: allocFolded(p.hashes, p.hidden, D),
      };
      const names = mlpParamNames(`field${f}`);
      const slots = mlp
        .params()
        .map((data, i) => optimizer.slot(names[i] as string, 1, data.length));
      this.full.push(undefined);
      this.fullSlots.push(undefined);
      this.modules.push({ part, mlp, names, slots });
      parts.push(part);
    });
    this.engine = new DheEngine(shape, p, this.full, parts);
    this.present = layout.map(() => false);
  }

  /** Inference forward (running statistics), exactly what the serving table returns. */
  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    // Fold the current parameters of the DHE fields this batch touches.
    this.present.fill(false);
    for (let i = 0; i < ids.length; i += 1)
      this.present[fieldOf(this.offsets, ids[i] as number)] = true;
    this.modules.forEach((m, f) => {
      if (m !== undefined && this.present[f] === true) {
        m.mlp.foldInto(m.part.folded);
        this.engine.invalidate(m.part);
      }
    });
    this.engine.lookup(ids, out, this.present);
  }

  /**
   * Training forward: each DHE field's BatchNorm uses the statistics of that field's lookups in
   * `ids` (duplicates included, as the reference's batch). `gradients` differentiates this.
   */
  trainForward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const groups = this.group(ids);
    this.modules.forEach((m, f) => {
      const positions = groups[f] as Uint32Array;
      if (positions.length === 0) return;
      if (m === undefined) {
        const table = this.full[f] as Float32Array;
        const offset = this.offsets[f] as number;
        for (const i of positions) {
          const src = ((ids[i] as number) - offset) * D;
          for (let j = 0; j < D; j += 1) out[i * D + j] = table[src + j] as number;
        }
        return;
      }
      const y = this.runTrain(m, ids, positions);
      positions.forEach((i, r) => {
        for (let j = 0; j < D; j += 1) out[i * D + j] = y[r * D + j] as number;
      });
    });
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    return this.step(ids, rowGrads, false);
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    this.step(ids, rowGrads, true);
  }

  /** Gradients of trainForward per field present in `ids`; applied (and BN stats advanced) if `apply`. */
  private step(ids: Uint32Array, rowGrads: Float32Array, apply: boolean): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const groups = this.group(ids);
    const result: ParamGradient[] = [];
    this.modules.forEach((m, f) => {
      const positions = groups[f] as Uint32Array;
      if (positions.length === 0) return;
      if (m === undefined) {
        const offset = this.offsets[f] as number;
        const local = new Uint32Array(positions.length);
        const g = new Float32Array(positions.length * D);
        positions.forEach((i, r) => {
          local[r] = (ids[i] as number) - offset;
          g.set(rowGrads.subarray(i * D, (i + 1) * D), r * D);
        });
        const { rows, grads } = sumDuplicates(local, g, D);
        if (apply)
          this.optimizer.updateRows(
            this.fullSlots[f] as OptimizerSlot,
            rows,
            grads,
            this.full[f] as Float32Array,
          );
        else result.push({ name: sectionName(f, 'table'), rows, values: grads });
        return;
      }
      this.runTrain(m, ids, positions);
      const dOut = this.outBuf; // n × D, reused: trainBackward reads the incoming gradient here
      positions.forEach((i, r) => {
        for (let j = 0; j < D; j += 1) dOut[r * D + j] = rowGrads[i * D + j] as number;
      });
      m.mlp.trainBackward(dOut);
      const values = m.mlp.params();
      m.mlp.grads.forEach((grad, k) => {
        if (apply)
          this.optimizer.updateDense(m.slots[k] as OptimizerSlot, grad, values[k] as Float32Array);
        else result.push({ name: m.names[k] as string, values: grad.slice() });
      });
      if (apply) m.mlp.updateRunningStats();
    });
    return result;
  }

  /** Positions of `ids` per field (first-seen order within a field). */
  private group(ids: Uint32Array): Uint32Array[] {
    const F = this.shape.fields.length;
    const field = new Uint32Array(ids.length);
    const counts = new Uint32Array(F);
    for (let i = 0; i < ids.length; i += 1) {
      const f = fieldOf(this.offsets, ids[i] as number);
      field[i] = f;
      counts[f] = (counts[f] as number) + 1;
    }
    const groups = Array.from({ length: F }, (_, f) => new Uint32Array(counts[f] as number));
    counts.fill(0);
    for (let i = 0; i < ids.length; i += 1) {
      const f = field[i] as number;
      (groups[f] as Uint32Array)[counts[f] as number] = i;
      counts[f] = (counts[f] as number) + 1;
    }
    return groups;
  }

  /** Batch-statistics forward of one DHE field's lookups; the output is in `outBuf` (n × D). */
  private runTrain(m: DheModule, ids: Uint32Array, positions: Uint32Array): Float64Array {
    const k = this.p.hashes;
    const n = positions.length;
    if (this.enc.length < n * k) this.enc = new Float64Array(n * k);
    if (this.outBuf.length < n * this.shape.dim) this.outBuf = new Float64Array(n * this.shape.dim);
    positions.forEach((i, r) =>
      encodeId(
        m.part.hashes,
        this.p.buckets,
        this.normal,
        m.part.direct,
        (ids[i] as number) - m.part.offset,
        this.enc,
        r * k,
      ),
    );
    m.mlp.trainForward(this.enc, n, this.outBuf);
    return this.outBuf;
  }

  parameters(): ParamView[] {
    const views: ParamView[] = [];
    this.modules.forEach((m, f) => {
      if (m === undefined) {
        views.push({
          name: sectionName(f, 'table'),
          data: this.full[f] as Float32Array,
          rowLength: this.shape.dim,
        });
        return;
      }
      m.mlp.params().forEach((data, k) => views.push({ name: m.names[k] as string, data }));
    });
    return views;
  }

  /** BatchNorm running statistics of field f's layer l (inspection and tests). */
  runningStats(field: number, layer: number): { mean: Float32Array; variance: Float32Array } {
    const m = this.modules[field];
    if (m === undefined) throw new Error(`field ${field} is not a DHE field`);
    return {
      mean: m.mlp.runningMean[layer] as Float32Array,
      variance: m.mlp.runningVar[layer] as Float32Array,
    };
  }

  /** Hash constants of DHE field f (inspection and tests). */
  hashes(field: number): DheHashes {
    const m = this.modules[field];
    if (m === undefined) throw new Error(`field ${field} is not a DHE field`);
    return m.part.hashes;
  }

  /**
   * Bytes of the serving form this trainable produces (what the budget refers to; the contract
   * equates it with estimateBytes). Training additionally holds the unfolded BatchNorm (scale,
   * shift, running mean and variance: 20·h floats per DHE field) and the optimizer state.
   */
  memoryBytes(): number {
    return estimateBytes(this.shape, this.p);
  }

  toTable(): CompressedTable {
    const parts: DhePart[] = [];
    const full = this.full.map((t) => t?.slice());
    this.modules.forEach((m) => {
      if (m === undefined) return;
      const folded = allocFolded(this.p.hashes, this.p.hidden, this.shape.dim);
      m.mlp.foldInto(folded);
      const h = m.part.hashes;
      parts.push({ ...m.part, hashes: { a: h.a.slice(), b: h.b.slice(), p: h.p.slice() }, folded });
    });
    return new DheTable(this.shape, this.p, full, parts);
  }
}

export const dhe: TrainableMethod<DheParams> = {
  kind: 'trainable',
  id: 'dhe',
  family: 'generator',
  taxonomy: { scope: 'inter-feature', subClass: 'static-encoding' },
  title: 'Deep Hash Embedding: k hashes decoded by a per-field MLP, no table',
  paper: 'Kang et al., Learning to Embed Categorical Features without Embedding Tables, KDD 2021',
  params,
  estimateBytes,
  paperWords,
  paramsForBudget,
  createTrainable: (shape, p, options) => new DheTrainable(shape, p, options),
  loadTable,
};

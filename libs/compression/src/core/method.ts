// The contracts every method implements (DESIGN.md §3). A method is an entry of the registry:
//  - `kind: 'trainable'`: trained from scratch in compressed form (createTrainable), e.g. qr, tt;
//  - `kind: 'codec'`: applied to an already trained fp32 table (compress), e.g. rowwise-int8, pq.
// The union is discriminated by `kind`, so a caller never meets a method that throws "unsupported".
// `family` and `taxonomy` place the method in the paper's classification (for listings and docs).
import type { z } from 'zod';
import type { ArtifactContent } from './artifact';
import type { Accounting } from './budget';
import type { SparseOptimizer } from './optim';
import type { TableShape } from './shape';

export type Family = 'row-codec' | 'id-mapper' | 'generator' | 'transform' | 'multi-stage';

export interface Taxonomy {
  /** Inter-feature: features share storage. Intra-feature: each keeps its own, smaller, vector. */
  scope: 'baseline' | 'inter-feature' | 'intra-feature';
  subClass:
    | 'none'
    | 'static-encoding'
    | 'dynamic-encoding'
    | 'dimension-reduction'
    | 'pruning'
    | 'quantization';
}

export interface TableDescription {
  method: string;
  spec: string;
  rows: number;
  dim: number;
  /** Bytes actually held (what the budget refers to). */
  memoryBytes: number;
  bytesPerRow: number;
  /** Full fp32 bytes / memoryBytes. */
  compressionRatio: number;
  /** The paper's accounting in 32-bit words (what its test vectors and figures count). */
  paperWords: number;
  /** What our bytes count that the paper's words leave out, and similar remarks. */
  notes: string[];
}

export type Metric = 'inner-product' | 'l2';

/** Per-call search settings; codecs ignore what does not apply to them. */
export interface SearchOptions {
  /** Inverted-file tables: coarse lists to scan (undefined or 0: the table's default). */
  nprobe?: number;
}

export interface SearchHits {
  /** k ids per query, best first (query-major). */
  ids: Uint32Array;
  /** Inner product (higher is better) or squared L2 distance (lower is better). */
  scores: Float32Array;
}

/** Rows encoded in a table's own compressed form for the wire, decoded by the client. */
export interface WireCodes {
  /** Codec spec the client needs to decode (e.g. "rowwise-int8"). */
  codec: string;
  /** Bytes of `count` rows in the codec's wire layout. */
  encode(ids: Uint32Array): Uint8Array;
}

/** The serving form of a table: read-only, safe to share between concurrent requests. */
export interface CompressedTable {
  readonly method: string;
  readonly spec: string;
  readonly shape: TableShape;
  readonly rows: number;
  readonly dim: number;
  /** Rows of `ids` (global ids) into `out` (ids.length × dim). Throws IdOutOfRangeError. */
  lookup(ids: Uint32Array, out: Float32Array): void;
  /** Bytes held, measured from the real buffers. */
  memoryBytes(): number;
  describe(): TableDescription;
  /** Artifact v1 bytes of this table. */
  encode(): Uint8Array;
  /** Present when rows can travel compressed (client-side decode). */
  readonly wire?: WireCodes;
  /** Present for tables that support top-k search on their codes. */
  search?(queries: Float32Array, k: number, metric: Metric, options?: SearchOptions): SearchHits;
}

/** A named parameter array of a trainable table, for gradient checks and inspection. */
export interface ParamView {
  name: string;
  data: Float32Array;
  /** Row length for row-structured (sparsely updated) parameters; undefined for dense ones. */
  rowLength?: number;
}

/** Gradient of one parameter: sparse (rows given, rows.length × rowLength) or dense. */
export interface ParamGradient {
  name: string;
  rows?: Uint32Array;
  values: Float32Array;
}

/** The training form of a table. */
export interface TrainableEmbedding {
  readonly spec: string;
  readonly shape: TableShape;
  /** Rows of `ids` (global ids) into `out` (ids.length × dim), inference semantics (what serving returns). */
  forward(ids: Uint32Array, out: Float32Array): void;
  /**
   * Rows for a training step when they differ from `forward` (BatchNorm on batch statistics in
   * DHE): engines feed the model these rows during training, then call `backward` with their
   * gradient. Absent: training uses `forward`.
   */
  trainForward?(ids: Uint32Array, out: Float32Array): void;
  /** d(loss)/d(parameters) given d(loss)/d(rows of ids) = rowGrads; changes nothing. */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[];
  /** Applies one optimizer update from d(loss)/d(rows); only touched rows change. */
  backward(ids: Uint32Array, rowGrads: Float32Array): void;
  /** Trainable parameters (for gradient checks). Quantized methods expose their fp view. */
  parameters(): ParamView[];
  memoryBytes(): number;
  /** The serving form (a snapshot; later training does not change it). */
  toTable(): CompressedTable;
}

export interface TrainOptions {
  seed: number;
  optimizer: SparseOptimizer;
  /**
   * Training-split occurrence counts per global id (docs/methods/reference.md#frequencies):
   * given to methods with `usesFrequencies` (mgqe, adapt, autosrh), which refuse to build without
   * them.
   */
  frequencies?: Uint32Array;
}

export interface CompressOptions {
  seed: number;
}

interface MethodBase<P extends object> {
  readonly id: string;
  readonly family: Family;
  readonly taxonomy: Taxonomy;
  /** One line for listings. */
  readonly title: string;
  /** The paper the method comes from. */
  readonly paper: string;
  /** Needs the training split's id counts (TrainOptions.frequencies) to build its table. */
  readonly usesFrequencies?: boolean;
  /** Parameters with defaults; parses spec-string values. */
  readonly params: z.ZodType<P, z.ZodTypeDef, unknown>;
  /** Bytes the table will hold; pure, and exactly memoryBytes() of the built table. */
  estimateBytes(shape: TableShape, params: P): number;
  /** The paper's 32-bit word count for the same table. */
  paperWords(shape: TableShape, params: P): number;
  /** Parameters meeting `budget` (fraction of the full fp32 table) when the method is budget-driven. */
  paramsForBudget?(shape: TableShape, budget: number, accounting?: Accounting): P;
  /** Rebuilds the serving table from a verified artifact. */
  loadTable(content: ArtifactContent): CompressedTable;
}

export interface TrainableMethod<P extends object = object> extends MethodBase<P> {
  readonly kind: 'trainable';
  createTrainable(shape: TableShape, params: P, options: TrainOptions): TrainableEmbedding;
}

export interface CodecMethod<P extends object = object> extends MethodBase<P> {
  readonly kind: 'codec';
  /** Compresses a trained fp32 table (rows × dim, row-major). */
  compress(
    table: Float32Array,
    shape: TableShape,
    params: P,
    options: CompressOptions,
  ): CompressedTable;
}

export type Method<P extends object = object> = TrainableMethod<P> | CodecMethod<P>;

/** Which implementation runs the kernels. */
export type KernelImpl = 'wasm' | 'scalar';

/** Inner product (`<q, x>`) or squared Euclidean distance (`‖q − x‖²`). */
export type Metric = 'ip' | 'l2';

/**
 * Bytes copied once into one Kernels instance's memory (`Kernels.pin`), to be scanned or gathered
 * many times without a copy per call. Valid only with the instance that made it; `dispose()`
 * returns its memory (a pin that is garbage collected is freed too).
 */
export interface PinnedBytes {
  readonly impl: KernelImpl;
  readonly byteLength: number;
  dispose(): void;
}

export interface ScoreOptions {
  /** First row to score (default 0). */
  start?: number;
  /** Rows to score (default: all rows from `start`). */
  count?: number;
  /**
   * Several row ranges instead of start/count: [start, count] pairs, scored in order into one
   * output (an IVF search's probed lists in one call: the query is prepared once).
   */
  ranges?: Uint32Array;
  /** Where the scores go (length = count, or the ranges' total); a new array when absent. */
  out?: Float32Array;
}

export interface MatmulOptions {
  /** Added to every row of the product (length n); pinned when it is reused across calls. */
  bias?: Float32Array | PinnedBytes;
  /** max(0, ·) after the bias (NaN and −0 give +0). */
  relu?: boolean;
  /** Where C goes (length m·n); a new array when absent. */
  out?: Float32Array;
}

export interface TopKResult {
  /** Positions of the best scores, best first; equal scores in increasing position. */
  indices: Uint32Array;
  scores: Float32Array;
}

/**
 * The hot loops. Plain typed arrays in, typed arrays out; `out` arguments, when given, must have
 * exactly the result's length and are returned. Every method gives the same bits in both
 * implementations (README.md, "Results").
 */
export interface Kernels {
  readonly impl: KernelImpl;

  /** Copies `data`'s bytes into this instance's memory for repeated scans and gathers. */
  pin(data: ArrayBufferView): PinnedBytes;

  /**
   * DLRM dot interaction: z is [batch, n, dim] row-major; returns [batch, n(n−1)/2], the dot
   * products of pairs (1,0), (2,0), (2,1), (3,0)... (libs/models/src/interaction.ts).
   */
  dotInteraction(
    z: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out?: Float32Array,
  ): Float32Array;

  /** Its backward: dz_i = Σ_{j≠i} dy_{ij} z_j; returns [batch, n, dim]. */
  dotInteractionBackward(
    z: Float32Array,
    dy: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out?: Float32Array,
  ): Float32Array;

  /** One query (dim = query.length) against contiguous fp32 rows. */
  scoreF32(
    metric: Metric,
    query: Float32Array,
    rows: Float32Array | PinnedBytes,
    options?: ScoreOptions,
  ): Float32Array;

  /** One query against fp16 rows (IEEE half bits, as libs/compression's fp16 table holds them). */
  scoreFp16(
    metric: Metric,
    query: Float32Array,
    rows: Uint16Array | PinnedBytes,
    options?: ScoreOptions,
  ): Float32Array;

  /**
   * One query against rowwise-int8 fused rows (dim codes, fp16 scale, fp16 bias; layout of
   * libs/compression/src/codecs/rowwise.ts). ip = scale·(q·c) + bias·Σq, l2 on the decoded row.
   */
  scoreRowwiseInt8(
    metric: Metric,
    query: Float32Array,
    rows: Uint8Array | PinnedBytes,
    options?: ScoreOptions,
  ): Float32Array;

  /** Rows `ids` of an fp16 table, decoded: [ids.length, dim]. */
  gatherFp16(
    table: Uint16Array | PinnedBytes,
    dim: number,
    ids: Uint32Array,
    out?: Float32Array,
  ): Float32Array;

  /** Rows `ids` of a rowwise-int8/int4 table (fused rows), decoded: [ids.length, dim]. */
  gatherRowwise(
    table: Uint8Array | PinnedBytes,
    dim: number,
    bits: 4 | 8,
    ids: Uint32Array,
    out?: Float32Array,
  ): Float32Array;

  /**
   * C[m, n] = A[m, k]·B[k, n] (+ bias) (then ReLU), all row-major. B (a layer's weights, say) may
   * be pinned: then it is not copied into the kernels' memory on every call.
   */
  matmul(
    a: Float32Array,
    b: Float32Array | PinnedBytes,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Float32Array;

  /**
   * Many small products in one call, their rows gathered: A is a table of k-float rows, B a table
   * of k × n matrices, and `groups` ([matrix, count] pairs) splits the rows of C into runs, in
   * order: row i of a run is A[rows[i]]·B[matrix] (+ bias, then ReLU, as matmul). Returns
   * [rows.length, n], each run with the bits of matmul over its gathered rows. A and B may be
   * pinned (tables of small matrices read in place: TT cores, libs/compression's tt.ts). k, n ≥ 1.
   */
  groupedMatmul(
    a: Float32Array | PinnedBytes,
    rows: Uint32Array,
    b: Float32Array | PinnedBytes,
    groups: Uint32Array,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Float32Array;

  /** The min(k, scores.length) largest scores, best first, ties by lower position. */
  topK(scores: Float32Array, k: number): TopKResult;
}

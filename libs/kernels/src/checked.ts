// Argument checks shared by both implementations: the wasm kernels read raw memory, so a length
// or an id that is off would read another table's bytes instead of failing. Every public method
// checks here, then calls the implementation's `run*` with sizes that are known to fit.
import type {
  KernelImpl,
  Kernels,
  MatmulOptions,
  Metric,
  PinnedBytes,
  ScoreOptions,
  TopKResult,
} from './types';

/** A table argument: a typed array or bytes pinned in the implementation's memory. */
export type TableArg = ArrayBufferView | PinnedBytes;

const MAX_I32 = 0x7fffffff;

const NO_PAIRS = new Uint32Array(0);
const ONE_PAIR = new Uint32Array(2);

/**
 * The rows a score call covers, checked, as [start, count] pairs, each non-empty and inside the
 * table: the caller's own `ranges` when they already are (no copy: an IVF search calls this per
 * query, and the allocations showed in its tail), else a new array without the empty pairs.
 */
function scorePairs(options: ScoreOptions, total: number): Uint32Array {
  if (options.ranges === undefined) {
    const start = options.start ?? 0;
    const count = options.count ?? total - start;
    checkRows(start, count, total);
    if (count === 0) return NO_PAIRS;
    // Reused: runScore reads the pairs synchronously and keeps no reference to them.
    ONE_PAIR[0] = start;
    ONE_PAIR[1] = count;
    return ONE_PAIR;
  }
  if (options.start !== undefined || options.count !== undefined)
    throw new RangeError('kernels: give ranges or start/count, not both');
  const ranges = options.ranges;
  if (!(ranges instanceof Uint32Array) || ranges.length % 2 !== 0)
    throw new RangeError('kernels: ranges must be a Uint32Array of [start, count] pairs');
  let empty = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    checkRows(ranges[i] as number, ranges[i + 1] as number, total);
    if (ranges[i + 1] === 0) empty += 1;
  }
  if (empty === 0) return ranges;
  const pairs = new Uint32Array(ranges.length - 2 * empty);
  for (let i = 0, o = 0; i < ranges.length; i += 2) {
    if (ranges[i + 1] === 0) continue;
    pairs[o] = ranges[i] as number;
    pairs[o + 1] = ranges[i + 1] as number;
    o += 2;
  }
  return pairs;
}

/** Rows [start, start + count) lie in a table of `total` rows. */
function checkRows(start: number, count: number, total: number): void {
  size('start', start, 0);
  size('count', count, 0);
  if (start + count > total)
    throw new RangeError(`kernels: rows [${start}, ${start + count}) of a ${total}-row table`);
}

/** Rows of the [start, count] pairs. */
function pairRows(pairs: Uint32Array): number {
  let rows = 0;
  for (let i = 1; i < pairs.length; i += 2) rows += pairs[i] as number;
  return rows;
}

export abstract class CheckedKernels implements Kernels {
  abstract readonly impl: KernelImpl;
  abstract pin(data: ArrayBufferView): PinnedBytes;

  protected abstract runDotInteraction(
    z: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out: Float32Array,
  ): void;
  protected abstract runDotInteractionBackward(
    z: Float32Array,
    dy: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out: Float32Array,
  ): void;
  protected abstract runScore(
    kind: 'f32' | 'fp16' | 'int8',
    metric: Metric,
    query: Float32Array,
    rows: TableArg,
    rowBytes: number,
    /**
     * [start, count] pairs, each non-empty and inside the table (read during the call, never
     * kept); `out` holds their rows' scores in order.
     */
    ranges: Uint32Array,
    out: Float32Array,
  ): void;
  protected abstract runGather(
    kind: 'fp16' | 'int8' | 'int4',
    table: TableArg,
    stride: number,
    dim: number,
    ids: Uint32Array,
    out: Float32Array,
  ): void;
  protected abstract runMatmul(
    a: Float32Array,
    b: TableArg,
    m: number,
    k: number,
    n: number,
    bias: TableArg | undefined,
    relu: boolean,
    out: Float32Array,
  ): void;
  protected abstract runGroupedMatmul(
    a: TableArg,
    rows: Uint32Array,
    b: TableArg,
    /** [matrix, count] pairs, each matrix inside B, the counts adding up to rows.length. */
    groups: Uint32Array,
    k: number,
    n: number,
    bias: TableArg | undefined,
    relu: boolean,
    out: Float32Array,
  ): void;
  protected abstract runTopK(scores: Float32Array, k: number, out: TopKResult): void;

  dotInteraction(
    z: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out?: Float32Array,
  ): Float32Array {
    size('batch', batch, 0);
    size('n', n, 1);
    size('dim', dim, 1);
    expectLength('z', z, batch * n * dim);
    const result = output(out, (batch * n * (n - 1)) / 2);
    if (result.length > 0) this.runDotInteraction(z, batch, n, dim, result);
    return result;
  }

  dotInteractionBackward(
    z: Float32Array,
    dy: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out?: Float32Array,
  ): Float32Array {
    size('batch', batch, 0);
    size('n', n, 1);
    size('dim', dim, 1);
    expectLength('z', z, batch * n * dim);
    expectLength('dy', dy, (batch * n * (n - 1)) / 2);
    const result = output(out, batch * n * dim);
    if (result.length > 0) this.runDotInteractionBackward(z, dy, batch, n, dim, result);
    return result;
  }

  scoreF32(
    metric: Metric,
    query: Float32Array,
    rows: Float32Array | PinnedBytes,
    options?: ScoreOptions,
  ): Float32Array {
    isA(rows, Float32Array);
    return this.score('f32', metric, query, rows, query.length * 4, options);
  }

  scoreFp16(
    metric: Metric,
    query: Float32Array,
    rows: Uint16Array | PinnedBytes,
    options?: ScoreOptions,
  ): Float32Array {
    isA(rows, Uint16Array);
    return this.score('fp16', metric, query, rows, query.length * 2, options);
  }

  scoreRowwiseInt8(
    metric: Metric,
    query: Float32Array,
    rows: Uint8Array | PinnedBytes,
    options?: ScoreOptions,
  ): Float32Array {
    isA(rows, Uint8Array);
    return this.score('int8', metric, query, rows, query.length + 4, options);
  }

  private score(
    kind: 'f32' | 'fp16' | 'int8',
    metric: Metric,
    query: Float32Array,
    rows: TableArg,
    rowBytes: number,
    options: ScoreOptions = {},
  ): Float32Array {
    if (metric !== 'ip' && metric !== 'l2')
      throw new RangeError(`kernels: metric must be 'ip' or 'l2', got ${String(metric)}`);
    size('query length', query.length, 1);
    const total = tableRows(rows, rowBytes);
    const pairs = scorePairs(options, total);
    const result = output(options.out, pairRows(pairs));
    if (pairs.length > 0) this.runScore(kind, metric, query, rows, rowBytes, pairs, result);
    return result;
  }

  gatherFp16(
    table: Uint16Array | PinnedBytes,
    dim: number,
    ids: Uint32Array,
    out?: Float32Array,
  ): Float32Array {
    size('dim', dim, 1);
    isA(table, Uint16Array);
    return this.gather('fp16', table, dim * 2, dim, ids, out);
  }

  gatherRowwise(
    table: Uint8Array | PinnedBytes,
    dim: number,
    bits: 4 | 8,
    ids: Uint32Array,
    out?: Float32Array,
  ): Float32Array {
    size('dim', dim, 1);
    if (bits !== 4 && bits !== 8)
      throw new RangeError(`kernels: rowwise bits must be 4 or 8, got ${String(bits)}`);
    isA(table, Uint8Array);
    const stride = (bits === 8 ? dim : Math.ceil(dim / 2)) + 4;
    return this.gather(bits === 8 ? 'int8' : 'int4', table, stride, dim, ids, out);
  }

  private gather(
    kind: 'fp16' | 'int8' | 'int4',
    table: TableArg,
    stride: number,
    dim: number,
    ids: Uint32Array,
    out: Float32Array | undefined,
  ): Float32Array {
    if (!(ids instanceof Uint32Array)) throw new TypeError('kernels: ids must be a Uint32Array');
    const rows = tableRows(table, stride);
    for (let i = 0; i < ids.length; i += 1)
      if ((ids[i] as number) >= rows)
        throw new RangeError(`kernels: id ${ids[i]} at ${i} is outside the ${rows}-row table`);
    const result = output(out, ids.length * dim);
    if (ids.length > 0) this.runGather(kind, table, stride, dim, ids, result);
    return result;
  }

  matmul(
    a: Float32Array,
    b: Float32Array | PinnedBytes,
    m: number,
    k: number,
    n: number,
    options: MatmulOptions = {},
  ): Float32Array {
    size('m', m, 0);
    size('k', k, 0);
    size('n', n, 0);
    expectLength('a', a, m * k);
    isA(b, Float32Array);
    expectFloats('b', b, k * n);
    if (options.bias !== undefined) {
      isA(options.bias, Float32Array);
      expectFloats('bias', options.bias, n);
    }
    const result = output(options.out, m * n);
    if (result.length > 0)
      this.runMatmul(a, b, m, k, n, options.bias, options.relu === true, result);
    return result;
  }

  groupedMatmul(
    a: Float32Array | PinnedBytes,
    rows: Uint32Array,
    b: Float32Array | PinnedBytes,
    groups: Uint32Array,
    k: number,
    n: number,
    options: MatmulOptions = {},
  ): Float32Array {
    size('k', k, 1);
    size('n', n, 1);
    isA(a, Float32Array);
    isA(b, Float32Array);
    if (!(rows instanceof Uint32Array)) throw new TypeError('kernels: rows must be a Uint32Array');
    if (!(groups instanceof Uint32Array) || groups.length % 2 !== 0)
      throw new RangeError('kernels: groups must be a Uint32Array of [matrix, count] pairs');
    const aRows = tableRows(a, k * 4);
    const matrices = tableRows(b, k * n * 4);
    for (let i = 0; i < rows.length; i += 1)
      if ((rows[i] as number) >= aRows)
        throw new RangeError(`kernels: row ${rows[i]} at ${i} is outside the ${aRows}-row A`);
    let total = 0;
    for (let g = 0; g < groups.length; g += 2) {
      if ((groups[g] as number) >= matrices)
        throw new RangeError(
          `kernels: matrix ${groups[g]} of group ${g / 2} is outside B's ${matrices} matrices`,
        );
      total += groups[g + 1] as number;
    }
    if (total !== rows.length)
      throw new RangeError(`kernels: the groups cover ${total} rows, rows has ${rows.length}`);
    if (options.bias !== undefined) {
      isA(options.bias, Float32Array);
      expectFloats('bias', options.bias, n);
    }
    const result = output(options.out, rows.length * n);
    if (result.length > 0)
      this.runGroupedMatmul(a, rows, b, groups, k, n, options.bias, options.relu === true, result);
    return result;
  }

  topK(scores: Float32Array, k: number): TopKResult {
    size('k', k, 0);
    const kept = Math.min(k, scores.length);
    const result = { indices: new Uint32Array(kept), scores: new Float32Array(kept) };
    if (kept > 0) this.runTopK(scores, kept, result);
    return result;
  }
}

/** A typed-array table must be of the kernel's element type (a pin is checked by its owner). */
function isA(table: TableArg, Type: { new (n: number): ArrayBufferView; name: string }): void {
  if (ArrayBuffer.isView(table) && !(table instanceof Type))
    throw new TypeError(
      `kernels: expected a ${Type.name}, got a ${Object(table).constructor.name}`,
    );
}

/** An integer in [min, 2^31 − 1] (the wasm side takes i32 sizes). */
function size(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min || value > MAX_I32)
    throw new RangeError(`kernels: ${name} must be an integer ≥ ${min}, got ${value}`);
}

function expectLength(name: string, array: ArrayLike<number>, length: number): void {
  if (array.length !== length)
    throw new RangeError(`kernels: ${name} has ${array.length} values, expected ${length}`);
}

/** A float32 argument, or its pin, holds exactly `length` floats. */
function expectFloats(name: string, arg: TableArg, length: number): void {
  if (arg.byteLength !== length * 4)
    throw new RangeError(`kernels: ${name} has ${arg.byteLength / 4} values, expected ${length}`);
}

function output(out: Float32Array | undefined, length: number): Float32Array {
  if (out === undefined) return new Float32Array(length);
  expectLength('out', out, length);
  return out;
}

/** Whole rows of `rowBytes` in a table argument. */
function tableRows(table: TableArg, rowBytes: number): number {
  if (table.byteLength % rowBytes !== 0)
    throw new RangeError(
      `kernels: a table of ${table.byteLength} bytes is not whole rows of ${rowBytes} bytes`,
    );
  return table.byteLength / rowBytes;
}

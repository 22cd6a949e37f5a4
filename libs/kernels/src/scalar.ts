// The scalar fallback: plain TypeScript loops that replay the wasm kernels' f32 arithmetic
// (assembly/common.ts, "canonical order") with Math.fround after every operation, so both
// implementations give the same bits. fround(a op b) on two f32 values is the correctly rounded
// f32 result for + − ×: the double result is exact for ×, and for + − double rounding is harmless
// because 53 ≥ 2·24 + 2 (README.md, "Results").
import { CheckedKernels, type TableArg } from './checked';
import { HALF_TO_F32 } from './half';
import { scalarGroupedMatmul, scalarMatmul } from './scalar-matmul';
import { dotF32, l2F32 } from './scalar-reduce';
import type { KernelImpl, Metric, PinnedBytes, TopKResult } from './types';

const fround = Math.fround;

/**
 * The query of a rowwise-int8 inner product as int16 codes (assembly/int-dot.ts, the same
 * arithmetic): step = f32(max|q| / 32767), qi[d] = round-half-even(f32(q[d] / step)); returns
 * step (0: all codes 0).
 */
function quantizeQuery(q: Float32Array, qi: Int16Array): number {
  let amax = 0;
  for (let d = 0; d < q.length; d += 1) amax = Math.max(amax, Math.abs(q[d] as number));
  const step = fround(amax / 32767);
  for (let d = 0; d < q.length; d += 1)
    qi[d] = step === 0 ? 0 : roundHalfEven(fround((q[d] as number) / step));
  return step;
}

/** wasm's f32.nearest: to the nearest integer, ties to even. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Σ qi[d]·codes[at + d], exact (every partial sum is an integer below 2^53). */
function intDotU8(qi: Int16Array, codes: Uint8Array, at: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d += 1) s += (qi[d] as number) * (codes[at + d] as number);
  return s;
}

/** Calls `visit` for every row of the [start, count] pairs in order, with its output position o. */
function forEachRow(ranges: Uint32Array, visit: (row: number, o: number) => void): void {
  let o = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    const start = ranges[i] as number;
    const end = start + (ranges[i + 1] as number);
    for (let r = start; r < end; r += 1, o += 1) visit(r, o);
  }
}

/** Σ q in the canonical order (Σ q·1: each product is exact). */
function sum(q: Float32Array): number {
  return dotF32(q, 0, ONES(q.length), 0, q.length);
}

let ones = new Float32Array(0);
function ONES(n: number): Float32Array {
  if (ones.length < n) ones = new Float32Array(n).fill(1);
  return ones;
}

/**
 * One row decoded to f32 (a half through the table; a rowwise code as c·scale + bias, one
 * rounding at the store, exactly as the kernels' f32 multiply-then-add) in reused scratch.
 */
let decoded = new Float32Array(0);
function scratchRow(dim: number): Float32Array {
  if (decoded.length < dim) decoded = new Float32Array(dim);
  return decoded;
}

/** The element types of the tables. */
type Row = Float32Array | Uint16Array | Uint8Array;

class ScalarPin implements PinnedBytes {
  readonly impl = 'scalar';
  readonly byteLength: number;
  /** A copy, like the wasm pin: later writes to the source do not show. */
  readonly bytes: Uint8Array;
  disposed = false;

  constructor(data: ArrayBufferView) {
    this.bytes = new Uint8Array(data.byteLength);
    this.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.byteLength = data.byteLength;
  }

  dispose(): void {
    this.disposed = true;
  }
}

export class ScalarKernels extends CheckedKernels {
  readonly impl: KernelImpl = 'scalar';

  pin(data: ArrayBufferView): PinnedBytes {
    return new ScalarPin(data);
  }

  protected runDotInteraction(
    z: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out: Float32Array,
  ): void {
    let o = 0;
    for (let s = 0; s < batch; s += 1) {
      const zs = s * n * dim;
      for (let i = 1; i < n; i += 1)
        for (let j = 0; j < i; j += 1) out[o++] = dotF32(z, zs + i * dim, z, zs + j * dim, dim);
    }
  }

  protected runDotInteractionBackward(
    z: Float32Array,
    dy: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out: Float32Array,
  ): void {
    out.fill(0);
    const pairs = (n * (n - 1)) / 2;
    for (let s = 0; s < batch; s += 1) {
      const zs = s * n * dim;
      const gs = s * pairs;
      for (let i = 0; i < n; i += 1) {
        const o = zs + i * dim;
        // Each coordinate sums over j = 0..n−1 in order, like the wasm kernel.
        for (let j = 0; j < n; j += 1) {
          if (j === i) continue;
          const g = dy[gs + (j < i ? (i * (i - 1)) / 2 + j : (j * (j - 1)) / 2 + i)] as number;
          const zj = zs + j * dim;
          for (let d = 0; d < dim; d += 1)
            out[o + d] = (out[o + d] as number) + fround(g * (z[zj + d] as number));
        }
      }
    }
  }

  protected runScore(
    kind: 'f32' | 'fp16' | 'int8',
    metric: Metric,
    query: Float32Array,
    rows: TableArg,
    rowBytes: number,
    ranges: Uint32Array,
    out: Float32Array,
  ): void {
    const dim = query.length;
    const reduce = metric === 'ip' ? dotF32 : l2F32;
    if (kind === 'f32') {
      const x = this.view(rows, Float32Array);
      forEachRow(ranges, (r, o) => {
        out[o] = reduce(query, 0, x, r * dim, dim);
      });
      return;
    }
    const row = scratchRow(dim);
    if (kind === 'fp16') {
      const x = this.view(rows, Uint16Array);
      forEachRow(ranges, (r, o) => {
        for (let d = 0; d < dim; d += 1) row[d] = HALF_TO_F32[x[r * dim + d] as number] as number;
        out[o] = reduce(query, 0, row, 0, dim);
      });
      return;
    }
    const x = this.view(rows, Uint8Array);
    const qsum = metric === 'ip' ? sum(query) : 0;
    const qi = metric === 'ip' ? new Int16Array(dim) : undefined;
    const step = qi === undefined ? 0 : quantizeQuery(query, qi);
    forEachRow(ranges, (r, o) => {
      const src = r * rowBytes;
      const scale = HALF_TO_F32[
        (x[src + dim] as number) | ((x[src + dim + 1] as number) << 8)
      ] as number;
      const bias = HALF_TO_F32[
        (x[src + dim + 2] as number) | ((x[src + dim + 3] as number) << 8)
      ] as number;
      if (qi !== undefined) {
        // scale·(q·c) + bias·Σq, q·c on the int16 query codes (exact; assembly/int-dot.ts).
        const dot = fround(intDotU8(qi, x, src, dim));
        out[o] = fround(fround(fround(dot * step) * scale) + fround(bias * qsum));
      } else {
        for (let d = 0; d < dim; d += 1) row[d] = (x[src + d] as number) * scale + bias;
        out[o] = l2F32(query, 0, row, 0, dim);
      }
    });
  }

  protected runGather(
    kind: 'fp16' | 'int8' | 'int4',
    table: TableArg,
    stride: number,
    dim: number,
    ids: Uint32Array,
    out: Float32Array,
  ): void {
    if (kind === 'fp16') {
      const halves = this.view(table, Uint16Array);
      for (let i = 0; i < ids.length; i += 1) {
        const src = (ids[i] as number) * dim;
        const dst = i * dim;
        for (let j = 0; j < dim; j += 1)
          out[dst + j] = HALF_TO_F32[halves[src + j] as number] as number;
      }
      return;
    }
    // The decode of libs/compression/src/codecs/rowwise.ts: x = c·scale + bias, one rounding.
    const bytes = this.view(table, Uint8Array);
    const codeBytes = stride - 4;
    for (let i = 0; i < ids.length; i += 1) {
      const src = (ids[i] as number) * stride;
      const p = src + codeBytes;
      const scale = HALF_TO_F32[(bytes[p] as number) | ((bytes[p + 1] as number) << 8)] as number;
      const bias = HALF_TO_F32[
        (bytes[p + 2] as number) | ((bytes[p + 3] as number) << 8)
      ] as number;
      const dst = i * dim;
      if (kind === 'int8') {
        for (let j = 0; j < dim; j += 1) out[dst + j] = (bytes[src + j] as number) * scale + bias;
      } else {
        for (let j = 0; j < dim; j += 1) {
          const byte = bytes[src + (j >> 1)] as number;
          out[dst + j] = ((j & 1) === 0 ? byte & 15 : byte >>> 4) * scale + bias;
        }
      }
    }
  }

  protected runMatmul(
    a: Float32Array,
    bArg: TableArg,
    m: number,
    k: number,
    n: number,
    biasArg: TableArg | undefined,
    relu: boolean,
    out: Float32Array,
  ): void {
    const b = this.view(bArg, Float32Array);
    const bias = biasArg === undefined ? undefined : this.view(biasArg, Float32Array);
    scalarMatmul(a, b, m, k, n, bias, relu, out);
  }

  protected runGroupedMatmul(
    aArg: TableArg,
    rows: Uint32Array,
    bArg: TableArg,
    groups: Uint32Array,
    k: number,
    n: number,
    biasArg: TableArg | undefined,
    relu: boolean,
    out: Float32Array,
  ): void {
    const a = this.view(aArg, Float32Array);
    const b = this.view(bArg, Float32Array);
    const bias = biasArg === undefined ? undefined : this.view(biasArg, Float32Array);
    scalarGroupedMatmul(a, rows, b, groups, k, n, bias, relu, out);
  }

  protected runTopK(scores: Float32Array, k: number, out: TopKResult): void {
    const ids = out.indices;
    const held = out.scores;
    for (let i = 0; i < k; i += 1) siftUp(ids, held, i, scores[i] as number, i);
    let threshold = held[0] as number;
    for (let i = k; i < scores.length; i += 1) {
      const s = scores[i] as number;
      if (s > threshold) {
        siftDown(ids, held, k, s, i);
        threshold = held[0] as number;
      }
    }
    for (let size = k - 1; size > 0; size -= 1) {
      const lastId = ids[size] as number;
      const lastScore = held[size] as number;
      ids[size] = ids[0] as number;
      held[size] = held[0] as number;
      siftDown(ids, held, size, lastScore, lastId);
    }
  }

  /** The table as an array of `Type`: the argument itself, or a view on a pin's copy. */
  private view<T extends Row>(
    table: TableArg,
    Type: {
      new (buffer: ArrayBuffer, offset: number, length: number): T;
      BYTES_PER_ELEMENT: number;
    },
  ): T {
    if (table instanceof ScalarPin) {
      if (table.disposed) throw new Error('kernels: this pinned table was disposed');
      return new Type(
        table.bytes.buffer as ArrayBuffer,
        0,
        table.byteLength / Type.BYTES_PER_ELEMENT,
      );
    }
    if (table instanceof Type) return table;
    if (ArrayBuffer.isView(table))
      throw new TypeError(`kernels: expected a ${Type.name}, got a ${table.constructor.name}`);
    throw new TypeError(
      `kernels: a table pinned by the ${table.impl} kernels, used by the scalar ones`,
    );
  }
}

/** a is worse than b: lower score, or equal score and higher index (assembly/topk.ts). */
function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}

function siftUp(ids: Uint32Array, held: Float32Array, at: number, s: number, id: number): void {
  let i = at;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const ps = held[parent] as number;
    const pi = ids[parent] as number;
    if (!worse(s, id, ps, pi)) break;
    held[i] = ps;
    ids[i] = pi;
    i = parent;
  }
  held[i] = s;
  ids[i] = id;
}

function siftDown(ids: Uint32Array, held: Float32Array, size: number, s: number, id: number): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    let w = l;
    const r = l + 1;
    if (r < size && worse(held[r] as number, ids[r] as number, held[l] as number, ids[l] as number))
      w = r;
    const ws = held[w] as number;
    const wi = ids[w] as number;
    if (!worse(ws, wi, s, id)) break;
    held[i] = ws;
    ids[i] = wi;
    i = w;
  }
  held[i] = s;
  ids[i] = id;
}

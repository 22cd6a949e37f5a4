// The scalar fallback: plain TypeScript loops that replay the wasm kernels' f32 arithmetic
// (assembly/common.ts, "canonical order") with Math.fround after every operation, so both
// implementations give the same bits. fround(a op b) on two f32 values is the correctly rounded
// f32 result for + − ×: the double result is exact for ×, and for + − double rounding is harmless
// because 53 ≥ 2·24 + 2 (README.md, "Results").
import { CheckedKernels, type RowRange, type TableArg } from './checked';
import { HALF_TO_F32 } from './half';
import type { KernelImpl, Metric, PinnedBytes, TopKResult } from './types';

const fround = Math.fround;

/** The 16 lane accumulators of the canonical order (4 vectors × 4 lanes), reused per call. */
const acc = new Float32Array(16);

/** (acc0 + acc1) + (acc2 + acc3) per lane, then (v0 + v1) + (v2 + v3). */
function horizontal(): number {
  const v0 = fround(
    fround((acc[0] as number) + (acc[4] as number)) +
      fround((acc[8] as number) + (acc[12] as number)),
  );
  const v1 = fround(
    fround((acc[1] as number) + (acc[5] as number)) +
      fround((acc[9] as number) + (acc[13] as number)),
  );
  const v2 = fround(
    fround((acc[2] as number) + (acc[6] as number)) +
      fround((acc[10] as number) + (acc[14] as number)),
  );
  const v3 = fround(
    fround((acc[3] as number) + (acc[7] as number)) +
      fround((acc[11] as number) + (acc[15] as number)),
  );
  return fround(fround(v0 + v1) + fround(v2 + v3));
}

/** Element reader of a row: f32 values, fp16 halves, or rowwise codes (raw or decoded). */
type Row = Float32Array | Uint16Array | Uint8Array;

/**
 * The value of element `i` of `row` as the kernels see it: f32 as is, a half through the table,
 * a code raw (scale 1, bias 0 and `affine` false) or decoded as fround(c·scale) + bias.
 */
function element(row: Row, i: number, half: boolean, scale: number, bias: number): number {
  const v = row[i] as number;
  if (half) return HALF_TO_F32[v] as number;
  if (row instanceof Uint8Array && (scale !== 1 || bias !== 0))
    return fround(fround(v * scale) + bias);
  return v;
}

/** Σ q·x (metric ip) or Σ (q − x)² (l2) over dim values in the canonical order. */
function reduce(
  metric: Metric,
  q: Float32Array,
  x: Row,
  xo: number,
  dim: number,
  half: boolean,
  scale: number,
  bias: number,
): number {
  acc.fill(0);
  const l2 = metric === 'l2';
  let d = 0;
  for (; d + 16 <= dim; d += 16)
    for (let l = 0; l < 16; l += 1) {
      const t = term(l2, q[d + l] as number, element(x, xo + d + l, half, scale, bias));
      acc[l] = (acc[l] as number) + t; // the store rounds: an f32 add
    }
  for (; d + 4 <= dim; d += 4)
    for (let l = 0; l < 4; l += 1) {
      const t = term(l2, q[d + l] as number, element(x, xo + d + l, half, scale, bias));
      acc[l] = (acc[l] as number) + t;
    }
  let s = horizontal();
  for (; d < dim; d += 1)
    s = fround(s + term(l2, q[d] as number, element(x, xo + d, half, scale, bias)));
  return s;
}

function term(l2: boolean, q: number, x: number): number {
  if (!l2) return fround(q * x);
  const diff = fround(q - x);
  return fround(diff * diff);
}

/** Σ q in the canonical order. */
function sum(q: Float32Array): number {
  acc.fill(0);
  const dim = q.length;
  let d = 0;
  for (; d + 16 <= dim; d += 16)
    for (let l = 0; l < 16; l += 1) acc[l] = (acc[l] as number) + (q[d + l] as number);
  for (; d + 4 <= dim; d += 4)
    for (let l = 0; l < 4; l += 1) acc[l] = (acc[l] as number) + (q[d + l] as number);
  let s = horizontal();
  for (; d < dim; d += 1) s = fround(s + (q[d] as number));
  return s;
}

/** Σ a[ao + d]·b[bo + d] over dim f32 values in the canonical order (the interaction's dot). */
function dotF32(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  acc.fill(0);
  let d = 0;
  for (; d + 16 <= dim; d += 16)
    for (let l = 0; l < 16; l += 1)
      acc[l] = (acc[l] as number) + fround((a[ao + d + l] as number) * (b[bo + d + l] as number));
  for (; d + 4 <= dim; d += 4)
    for (let l = 0; l < 4; l += 1)
      acc[l] = (acc[l] as number) + fround((a[ao + d + l] as number) * (b[bo + d + l] as number));
  let s = horizontal();
  for (; d < dim; d += 1) s = fround(s + fround((a[ao + d] as number) * (b[bo + d] as number)));
  return s;
}

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
    range: RowRange,
    out: Float32Array,
  ): void {
    const dim = query.length;
    const end = range.start + range.count;
    if (kind === 'f32') {
      const x = this.view(rows, Float32Array);
      for (let r = range.start; r < end; r += 1)
        out[r - range.start] = reduce(metric, query, x, r * dim, dim, false, 1, 0);
      return;
    }
    if (kind === 'fp16') {
      const x = this.view(rows, Uint16Array);
      for (let r = range.start; r < end; r += 1)
        out[r - range.start] = reduce(metric, query, x, r * dim, dim, true, 1, 0);
      return;
    }
    const x = this.view(rows, Uint8Array);
    const qsum = metric === 'ip' ? sum(query) : 0;
    for (let r = range.start; r < end; r += 1) {
      const src = r * rowBytes;
      const scale = HALF_TO_F32[
        (x[src + dim] as number) | ((x[src + dim + 1] as number) << 8)
      ] as number;
      const bias = HALF_TO_F32[
        (x[src + dim + 2] as number) | ((x[src + dim + 3] as number) << 8)
      ] as number;
      out[r - range.start] =
        metric === 'ip'
          ? fround(
              fround(reduce('ip', query, x, src, dim, false, 1, 0) * scale) + fround(bias * qsum),
            )
          : reduce('l2', query, x, src, dim, false, scale, bias);
    }
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
    b: Float32Array,
    m: number,
    k: number,
    n: number,
    bias: Float32Array | undefined,
    relu: boolean,
    out: Float32Array,
  ): void {
    out.fill(0);
    for (let i = 0; i < m; i += 1) {
      const c = i * n;
      // The row of C is the accumulator: each element still sums over kk in order.
      for (let kk = 0; kk < k; kk += 1) {
        const x = a[i * k + kk] as number;
        const bk = kk * n;
        for (let j = 0; j < n; j += 1)
          out[c + j] = (out[c + j] as number) + fround(x * (b[bk + j] as number));
      }
      if (bias !== undefined)
        for (let j = 0; j < n; j += 1) out[c + j] = (out[c + j] as number) + (bias[j] as number);
      if (relu)
        for (let j = 0; j < n; j += 1) {
          const v = out[c + j] as number;
          out[c + j] = 0 < v ? v : 0;
        }
    }
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

/** a is worse than b: lower score, or equal score and higher index (assembly/index.ts). */
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

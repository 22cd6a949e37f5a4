// `rowwise-int8` / `rowwise-int4`: FBGEMM-style fused row-wise quantization of a trained table.
// Per row: bias = fp16(min), scale = fp16((max − bias) / (2^b − 1)) (1 when that is 0), codes
// c = clamp(round((x − bias) / scale), 0, 2^b − 1); decode x̂ = c·scale + bias.
//
// Fused row layout (also the wire format of client-side decode, codec = the table's spec):
//   [codes: dim bytes (int8) | ⌈dim/2⌉ bytes (int4, element 2i in the low nibble of byte i,
//    2i+1 in the high nibble, an odd row padded with a zero nibble)] [scale fp16 LE] [bias fp16 LE]
// so one row is one contiguous slice of `stride` = code bytes + 4.
import { kernels } from '@embpress/kernels';
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent } from '../core/artifact';
import { describeTable } from '../core/describe';
import { SpecError } from '../core/errors';
import { HALF_TABLE, toHalf } from '../core/half';
import { checkIds } from '../core/ids';
import type { CodecMethod, CompressedTable, Metric, SearchHits, WireCodes } from '../core/method';
import { totalRows, type TableShape } from '../core/shape';
import {
  exhaustiveSearch,
  iota,
  kernelMetric,
  KERNEL_DECODE_MIN_VALUES,
  LazyPin,
} from './kernel-tables';
import { checkTable } from './linalg';
import { planSearch } from './topk';

export type RowwiseBits = 4 | 8;

const params = z.object({}).strict();
export type RowwiseParams = z.infer<typeof params>;

/** Code bytes of one row (int4 rows padded to whole bytes). */
export function rowwiseCodeBytes(dim: number, bits: RowwiseBits): number {
  return bits === 8 ? dim : Math.ceil(dim / 2);
}

/** Bytes of one fused row: codes + fp16 scale + fp16 bias. */
export function rowwiseStride(dim: number, bits: RowwiseBits): number {
  return rowwiseCodeBytes(dim, bits) + 4;
}

/**
 * FBGEMM's fp16 row parameters for values in [min, max] on `levels` + 1 levels (levels = 2^b − 1):
 * bias = fp16(min); scale = fp16((max − bias)/levels), or 1 when that rounds to 0 (constant row).
 * Returns the two half-float bit patterns packed as scale | bias << 16.
 */
export function rowwiseParams(min: number, max: number, levels: number): number {
  if (!Number.isFinite(min) || !Number.isFinite(max))
    throw new SpecError(`rowwise: row range [${min}, ${max}] is not finite`);
  const biasHalf = toHalf(min);
  if ((biasHalf & 0x7c00) === 0x7c00)
    throw new SpecError(`rowwise: row minimum ${min} is beyond the fp16 range`);
  const bias = HALF_TABLE[biasHalf] as number;
  let scaleHalf = toHalf((max - bias) / levels);
  if ((scaleHalf & 0x7c00) === 0x7c00)
    throw new SpecError(`rowwise: row range [${min}, ${max}] is beyond the fp16 range`);
  if ((HALF_TABLE[scaleHalf] as number) <= 0) scaleHalf = 0x3c00; // 1.0
  return (scaleHalf | (biasHalf << 16)) >>> 0;
}

/** The code of x: clamp(round((x − bias)/scale), 0, levels) (round half up). */
export function rowwiseCode(x: number, scale: number, bias: number, levels: number): number {
  const c = Math.round((x - bias) / scale);
  return c < 0 ? 0 : c > levels ? levels : c;
}

/** Quantizes a row-major fp32 table into fused rows. */
export function encodeRowwise(
  table: Float32Array,
  rows: number,
  dim: number,
  bits: RowwiseBits,
): Uint8Array {
  const stride = rowwiseStride(dim, bits);
  const codeBytes = rowwiseCodeBytes(dim, bits);
  const levels = (1 << bits) - 1;
  const out = new Uint8Array(rows * stride);
  for (let r = 0; r < rows; r += 1) {
    const src = r * dim;
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < dim; j += 1) {
      const v = table[src + j] as number;
      if (v < min) min = v;
      if (v > max) max = v;
      if (v !== v) min = NaN; // NaN: caught by rowwiseParams
    }
    const packed = rowwiseParams(min, max, levels);
    const scaleHalf = packed & 0xffff;
    const biasHalf = packed >>> 16;
    const scale = HALF_TABLE[scaleHalf] as number;
    const bias = HALF_TABLE[biasHalf] as number;
    const dst = r * stride;
    if (bits === 8) {
      for (let j = 0; j < dim; j += 1)
        out[dst + j] = rowwiseCode(table[src + j] as number, scale, bias, levels);
    } else {
      for (let j = 0; j < dim; j += 1) {
        const c = rowwiseCode(table[src + j] as number, scale, bias, levels);
        const at = dst + (j >> 1);
        out[at] = (out[at] as number) | ((j & 1) === 0 ? c : c << 4);
      }
    }
    const p = dst + codeBytes;
    out[p] = scaleHalf & 0xff;
    out[p + 1] = scaleHalf >>> 8;
    out[p + 2] = biasHalf & 0xff;
    out[p + 3] = biasHalf >>> 8;
  }
  return out;
}

/**
 * Client-side decode of the rowwise wire codec: `count` fused rows (`bytes`, count·stride bytes,
 * as `wire.encode` returns them) into `out` (≥ count·dim floats). Pure; libs/store-client uses it.
 */
export function decodeRowwise(
  bytes: Uint8Array,
  count: number,
  dim: number,
  bits: RowwiseBits,
  out: Float32Array,
): void {
  if (bits !== 8 && bits !== 4) throw new RangeError(`rowwise: bits must be 4 or 8, got ${bits}`);
  const stride = rowwiseStride(dim, bits);
  if (bytes.length !== count * stride)
    throw new RangeError(
      `rowwise-int${bits}: ${bytes.length} bytes, expected ${count} rows × ${stride}`,
    );
  if (out.length < count * dim)
    throw new RangeError(
      `rowwise-int${bits}: out holds ${out.length} floats, needs ${count * dim}`,
    );
  if (count * dim >= KERNEL_DECODE_MIN_VALUES) {
    // The kernels' gather over the rows as they came (copied in once): the same bits.
    kernels().gatherRowwise(bytes, dim, bits, iota(count), out.subarray(0, count * dim));
    return;
  }
  decodeRows(bytes, null, count, dim, bits, out);
}

/**
 * The decode loop shared by lookup (rows at ids[i]·stride) and wire decode (row i at i·stride).
 * Scale and bias are read once per row; the inner loop is one multiply-add per value.
 */
function decodeRows(
  bytes: Uint8Array,
  ids: Uint32Array | null,
  count: number,
  dim: number,
  bits: RowwiseBits,
  out: Float32Array,
): void {
  const half = HALF_TABLE;
  const codeBytes = rowwiseCodeBytes(dim, bits);
  const stride = codeBytes + 4;
  if (bits === 8) {
    for (let i = 0; i < count; i += 1) {
      const src = (ids === null ? i : (ids[i] as number)) * stride;
      const p = src + codeBytes;
      const scale = half[(bytes[p] as number) | ((bytes[p + 1] as number) << 8)] as number;
      const bias = half[(bytes[p + 2] as number) | ((bytes[p + 3] as number) << 8)] as number;
      const dst = i * dim;
      for (let j = 0; j < dim; j += 1) out[dst + j] = (bytes[src + j] as number) * scale + bias;
    }
    return;
  }
  const pairs = dim >> 1;
  for (let i = 0; i < count; i += 1) {
    const src = (ids === null ? i : (ids[i] as number)) * stride;
    const p = src + codeBytes;
    const scale = half[(bytes[p] as number) | ((bytes[p + 1] as number) << 8)] as number;
    const bias = half[(bytes[p + 2] as number) | ((bytes[p + 3] as number) << 8)] as number;
    let dst = i * dim;
    for (let b = 0; b < pairs; b += 1) {
      const byte = bytes[src + b] as number;
      out[dst] = (byte & 15) * scale + bias;
      out[dst + 1] = (byte >>> 4) * scale + bias;
      dst += 2;
    }
    if ((dim & 1) === 1) out[dst] = ((bytes[src + pairs] as number) & 15) * scale + bias;
  }
}

export class RowwiseTable implements CompressedTable {
  readonly method: string;
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  readonly wire: WireCodes;
  protected readonly stride: number;
  protected readonly codeBytes: number;
  /** The fused rows in kernel memory, pinned on the first search or batch lookup (kernel-tables.ts). */
  readonly pinned: LazyPin<Uint8Array>;

  constructor(
    readonly shape: TableShape,
    readonly bits: RowwiseBits,
    /** Fused rows, rows × stride bytes. */
    protected readonly fused: Uint8Array,
  ) {
    this.method = `rowwise-int${bits}`;
    this.spec = this.method;
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.codeBytes = rowwiseCodeBytes(this.dim, bits);
    this.stride = this.codeBytes + 4;
    this.wire = { codec: this.spec, encode: (ids) => this.encodeRows(ids) };
    this.pinned = new LazyPin(fused);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const values = ids.length * this.dim;
    if (values >= KERNEL_DECODE_MIN_VALUES) {
      kernels().gatherRowwise(this.pinned.get(), this.dim, this.bits, ids, out.subarray(0, values));
      return;
    }
    decodeRows(this.fused, ids, ids.length, this.dim, this.bits, out);
  }

  /** Fused rows of `ids`, concatenated: the wire codes decoded by decodeRowwise. */
  encodeRows(ids: Uint32Array): Uint8Array {
    checkIds(ids, this.rows);
    const stride = this.stride;
    const out = new Uint8Array(ids.length * stride);
    const words = this.fusedWords();
    if (words !== undefined) {
      // The store's hot path: a row is stride/4 aligned 32-bit words (int8 d16: 5 words instead of
      // 20 bytes), ~6× faster than the byte loop on random rows.
      const wordsPerRow = stride >>> 2;
      const outWords = new Uint32Array(out.buffer, 0, out.length >>> 2);
      for (let i = 0, dst = 0; i < ids.length; i += 1) {
        const src = (ids[i] as number) * wordsPerRow;
        for (let j = 0; j < wordsPerRow; j += 1, dst += 1) outWords[dst] = words[src + j] as number;
      }
      return out;
    }
    const fused = this.fused;
    for (let i = 0, dst = 0; i < ids.length; i += 1) {
      const src = (ids[i] as number) * stride;
      for (let j = 0; j < stride; j += 1, dst += 1) out[dst] = fused[src + j] as number;
    }
    return out;
  }

  private words: Uint32Array | null | undefined;

  /**
   * The fused rows as 32-bit words, when every row starts on a 4-byte boundary (stride a multiple
   * of 4, the table 4-byte aligned in its buffer); null otherwise (byte copy). A view: no memory.
   */
  private fusedWords(): Uint32Array | undefined {
    if (this.words === undefined) {
      const fused = this.fused;
      this.words =
        this.stride % 4 === 0 && fused.byteOffset % 4 === 0
          ? new Uint32Array(fused.buffer, fused.byteOffset, fused.byteLength >>> 2)
          : null;
    }
    return this.words ?? undefined;
  }

  memoryBytes(): number {
    return this.fused.byteLength;
  }

  describe() {
    const notes = [
      `fp16 scale and bias per row (4 bytes/row) are counted; the paper's quantize counts b/32 only`,
    ];
    if (this.bits === 4 && this.dim % 2 === 1)
      notes.push('odd dim: half a byte of padding per row');
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      rowwisePaperWords(this.shape, this.bits),
      notes,
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: {},
      shape: this.shape,
      sections: new Map([['rows', this.fused]]),
    });
  }
}

/** rowwise-int8 additionally searches its codes (inner product or squared L2, k-best heap). */
export class RowwiseInt8Table extends RowwiseTable {
  constructor(shape: TableShape, fused: Uint8Array) {
    super(shape, 8, fused);
  }

  /**
   * Top-k on the codes: the kernels' rowwise-int8 scores over the pinned rows (inner product
   * factored as scale·(q·c) + bias·Σq with q·c exact on the query's int16 codes, L2 on the
   * decoded row in f32; libs/kernels/README.md), then top-k.
   */
  search(queries: Float32Array, k: number, metric: Metric): SearchHits {
    const dim = this.dim;
    const plan = planSearch(this.method, queries, dim, this.rows, k, metric);
    const kern = kernels();
    const table = this.pinned.get();
    const m = kernelMetric(metric);
    return exhaustiveSearch(kern, this.rows, dim, queries, plan, metric, (query, out) =>
      kern.scoreRowwiseInt8(m, query, table, { out }),
    );
  }
}

/** The paper's words for a b-bit table: n·D·b/32 (its quantize ratio; per-row params left out). */
export function rowwisePaperWords(shape: TableShape, bits: RowwiseBits): number {
  return (totalRows(shape) * shape.dim * bits) / 32;
}

function rowwiseMethod(bits: RowwiseBits): CodecMethod<RowwiseParams> {
  const id = `rowwise-int${bits}`;
  const make = (shape: TableShape, fused: Uint8Array) =>
    bits === 8 ? new RowwiseInt8Table(shape, fused) : new RowwiseTable(shape, 4, fused);
  return {
    kind: 'codec',
    id,
    family: 'row-codec',
    taxonomy: { scope: 'intra-feature', subClass: 'quantization' },
    title: `Post-training fused row-wise int${bits} (fp16 scale + bias per row, FBGEMM layout)`,
    paper:
      'FBGEMM fused row-wise quantization (Khudia et al., "FBGEMM", arXiv 2101.05615, 2021); ' +
      'Guan et al., "Post-Training 4-bit Quantization on Embedding Tables", arXiv 1911.02079, 2019',
    params,
    estimateBytes: (shape) => totalRows(shape) * rowwiseStride(shape.dim, bits),
    paperWords: (shape) => rowwisePaperWords(shape, bits),
    compress(table, shape) {
      const rows = checkTable(id, table, shape);
      return make(shape, encodeRowwise(table, rows, shape.dim, bits));
    },
    loadTable: (content: ArtifactContent) =>
      make(
        content.shape,
        section(
          content,
          'rows',
          'u8',
          totalRows(content.shape) * rowwiseStride(content.shape.dim, bits),
        ),
      ),
  };
}

export const rowwiseInt8 = rowwiseMethod(8);
export const rowwiseInt4 = rowwiseMethod(4);

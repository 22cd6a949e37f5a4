// `fp16`: post-training cast of a trained fp32 table to IEEE-754 half floats (round to nearest
// even, core/half.ts). 2 bytes per value; decode is one table read (HALF_TABLE). Rows can travel
// as they are stored (wire codec "fp16" = FLOAT16_LE rows), and `search` scans the halves.
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

const params = z.object({}).strict();
export type Fp16Params = z.infer<typeof params>;

/** Half-float bits of every value of `values` (round to nearest even). */
export function encodeHalves(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i += 1) out[i] = toHalf(values[i] as number);
  return out;
}

/**
 * Client-side decode of the "fp16" wire codec: `count` rows of `dim` little-endian half floats
 * in `bytes` (count·dim·2 bytes) into `out` (≥ count·dim floats).
 */
export function decodeHalfRows(
  bytes: Uint8Array,
  count: number,
  dim: number,
  out: Float32Array,
): void {
  const values = count * dim;
  if (bytes.length !== values * 2)
    throw new RangeError(`fp16 rows: ${bytes.length} bytes, expected ${count}×${dim}×2`);
  if (out.length < values)
    throw new RangeError(`fp16 rows: out holds ${out.length} floats, needs ${values}`);
  if (values >= KERNEL_DECODE_MIN_VALUES && bytes.byteOffset % 2 === 0 && LITTLE_ENDIAN) {
    // The kernels' gather over the rows as they came (copied in once): the same bits.
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, values);
    kernels().gatherFp16(halves, dim, iota(count), out.subarray(0, values));
    return;
  }
  const table = HALF_TABLE;
  for (let i = 0, b = 0; i < values; i += 1, b += 2)
    out[i] = table[(bytes[b] as number) | ((bytes[b + 1] as number) << 8)] as number;
}

/** Uint16Array views read the wire's little-endian halves only on a little-endian host. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class Fp16Table implements CompressedTable {
  readonly method = 'fp16';
  readonly spec = 'fp16';
  readonly rows: number;
  readonly dim: number;
  readonly wire: WireCodes;
  /** The halves in kernel memory, pinned on the first search or batch lookup (kernel-tables.ts). */
  readonly pinned: LazyPin<Uint16Array>;

  constructor(
    readonly shape: TableShape,
    private readonly halves: Uint16Array,
  ) {
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.wire = { codec: 'fp16', encode: (ids) => this.encodeRows(ids) };
    this.pinned = new LazyPin(halves);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const dim = this.dim;
    if (ids.length * dim >= KERNEL_DECODE_MIN_VALUES) {
      kernels().gatherFp16(this.pinned.get(), dim, ids, out.subarray(0, ids.length * dim));
      return;
    }
    const halves = this.halves;
    const table = HALF_TABLE;
    for (let i = 0; i < ids.length; i += 1) {
      const src = (ids[i] as number) * dim;
      const dst = i * dim;
      for (let j = 0; j < dim; j += 1) out[dst + j] = table[halves[src + j] as number] as number;
    }
  }

  /** Rows `ids` as little-endian halves (the "fp16" wire codec / FLOAT16_LE). */
  encodeRows(ids: Uint32Array): Uint8Array {
    checkIds(ids, this.rows);
    const dim = this.dim;
    const out = new Uint16Array(ids.length * dim);
    for (let i = 0; i < ids.length; i += 1) {
      const src = (ids[i] as number) * dim;
      out.set(this.halves.subarray(src, src + dim), i * dim);
    }
    return new Uint8Array(out.buffer);
  }

  /** Top-k on the halves: the kernels' fp16 scores (f32 sums) over the pinned table, then top-k. */
  search(queries: Float32Array, k: number, metric: Metric): SearchHits {
    const dim = this.dim;
    const plan = planSearch(this.method, queries, dim, this.rows, k, metric);
    const kern = kernels();
    const table = this.pinned.get();
    const m = kernelMetric(metric);
    return exhaustiveSearch(kern, this.rows, dim, queries, plan, metric, (query, out) =>
      kern.scoreFp16(m, query, table, { out }),
    );
  }

  memoryBytes(): number {
    return this.halves.byteLength;
  }

  describe() {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      paperWords(this.shape),
      ['16-bit values counted as half a 32-bit word (the paper has no fp16 method)'],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: {},
      shape: this.shape,
      sections: new Map([['table', this.halves]]),
    });
  }
}

const paperWords = (shape: TableShape) => (totalRows(shape) * shape.dim) / 2;

export const fp16: CodecMethod<Fp16Params> = {
  kind: 'codec',
  id: 'fp16',
  family: 'row-codec',
  taxonomy: { scope: 'intra-feature', subClass: 'quantization' },
  title: 'Post-training cast to IEEE half floats (2 bytes per value)',
  paper: 'IEEE 754-2008 binary16 (post-training baseline; not in the paper)',
  params,
  estimateBytes: (shape) => totalRows(shape) * shape.dim * 2,
  paperWords,
  compress(table, shape) {
    checkTable('fp16', table, shape);
    const halves = encodeHalves(table);
    for (let i = 0; i < halves.length; i += 1) {
      // Exponent all ones: NaN, ±inf, or a finite value beyond ±65504 that overflowed.
      if (((halves[i] as number) & 0x7c00) === 0x7c00)
        throw new SpecError(`fp16: table value ${i} (${table[i]}) is not a finite half float`);
    }
    return new Fp16Table(shape, halves);
  },
  loadTable: (content: ArtifactContent) =>
    new Fp16Table(
      content.shape,
      section(content, 'table', 'u16', totalRows(content.shape) * content.shape.dim),
    ),
};

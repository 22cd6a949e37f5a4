// `prune`: post-training global magnitude pruning into a sparse table (docs/methods/prune.md, the
// reference's Pruner and the `sparse` inference layer). Exactly k = round(density·n·D) entries
// with the largest |value| are kept (exact selection, no threshold bisection; ties at the
// threshold go to the first entries in row-major order) and stored as
//   CSR: values, column indices (u8 when D ≤ 256, else u16), row pointers u32 (n + 1), or
//   COO: values, row indices u32 (sorted), column indices.
// Hybrids keep the values in another codec: `prune(...)|fp16` (half floats) or
// `prune(...)|rowwise-int8` (per-row fp16 scale/bias over the row's kept values + u8 codes).
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent, artifactParams } from '../core/artifact';
import { checkBudget, type Accounting } from '../core/budget';
import { describeTable } from '../core/describe';
import { ArtifactError, BudgetError, SpecError } from '../core/errors';
import { HALF_TABLE, toHalf } from '../core/half';
import { checkIds } from '../core/ids';
import type { CodecMethod, CompressedTable } from '../core/method';
import { INNER_PARAM } from '../core/registry';
import { formatOne } from '../core/spec';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import { checkTable } from './linalg';
import { rowwiseCode, rowwiseParams } from './rowwise';

export type SparseFormat = 'csr' | 'coo';
export type PruneValues = '' | 'fp16' | 'rowwise-int8';

const VALUE_CODECS = ['', 'fp16', 'rowwise-int8'] as const;

const params = z
  .object({
    /** Fraction of the n·D entries kept (k = round(density·n·D)). */
    density: z.number().gt(0).lte(1).default(0.25),
    /** Sparse layout; auto = whichever holds fewer bytes (CSR on a tie). */
    format: z.enum(['auto', 'csr', 'coo']).default('auto'),
    /** Codec of the kept values: '' (fp32), 'fp16' or 'rowwise-int8' (hybrid `prune|codec`). */
    [INNER_PARAM]: z
      .string()
      .default('')
      .refine((v) => (VALUE_CODECS as readonly string[]).includes(v), {
        message: `the value codec of prune must be fp32 (none), fp16 or rowwise-int8`,
      }),
  })
  .strict();
export type PruneParams = z.infer<typeof params>;

/** Entries kept for a density: round(density·n·D), at most n·D. */
export function keptCount(rows: number, dim: number, density: number): number {
  return Math.min(rows * dim, Math.round(density * rows * dim));
}

/** Bytes of one column index: the narrowest unsigned type holding dim − 1. */
export function columnBytes(dim: number): 1 | 2 {
  return dim <= 256 ? 1 : 2;
}

function valueBytes(values: string): number {
  return values === 'fp16' ? 2 : values === 'rowwise-int8' ? 1 : 4;
}

/** Exact bytes of a sparse table of k entries (values + indices + per-row value params). */
export function sparseBytes(
  rows: number,
  dim: number,
  k: number,
  format: SparseFormat,
  values = '',
): number {
  const entry = valueBytes(values) + columnBytes(dim);
  const rowParams = values === 'rowwise-int8' ? 4 * rows : 0;
  return format === 'csr' ? k * entry + 4 * (rows + 1) + rowParams : k * (entry + 4) + rowParams;
}

/** The format a table of these params is stored in (auto: fewer bytes, CSR on a tie). */
export function resolveFormat(shape: TableShape, p: PruneParams): SparseFormat {
  if (p.format !== 'auto') return p.format;
  const rows = totalRows(shape);
  const k = keptCount(rows, shape.dim, p.density);
  return sparseBytes(rows, shape.dim, k, 'csr', p.values) <=
    sparseBytes(rows, shape.dim, k, 'coo', p.values)
    ? 'csr'
    : 'coo';
}

/**
 * The reference's sparse-storage rule (docs/methods/prune.md, counting 32-bit words): r = cr·D;
 * r ≥ 3 → CSR with density (r − 1)/(2D), else COO with density cr/3.
 */
export function sparseRuleForBudget(
  dim: number,
  budget: number,
): { format: SparseFormat; density: number } {
  const r = budget * dim;
  return r >= 3
    ? { format: 'csr', density: (r - 1) / (2 * dim) }
    : { format: 'coo', density: budget / 3 };
}

function pruneParamsForBudget(
  shape: TableShape,
  budget: number,
  accounting: Accounting = 'bytes',
): PruneParams {
  checkBudget(budget);
  if (accounting === 'paper-words')
    return { ...sparseRuleForBudget(shape.dim, budget), values: '' };
  const rows = totalRows(shape);
  const dim = shape.dim;
  const limit = budget * fullBytes(shape);
  const entry = 4 + columnBytes(dim);
  const kCsr = Math.floor((limit - 4 * (rows + 1)) / entry);
  const kCoo = Math.floor(limit / (entry + 4));
  const format: SparseFormat = kCsr >= kCoo ? 'csr' : 'coo';
  let k = Math.min(rows * dim, Math.max(kCsr, kCoo));
  while (k > 0 && sparseBytes(rows, dim, k, format) > limit) k -= 1;
  if (k < 1)
    throw new BudgetError(
      `prune: budget ${budget} (${limit} bytes) cannot hold one entry of a ${rows} × ${dim} table`,
    );
  return { density: k / (rows * dim), format, values: '' };
}

function paperWords(shape: TableShape, p: PruneParams): number {
  const rows = totalRows(shape);
  const k = keptCount(rows, shape.dim, p.density);
  // The reference (docs/methods/prune.md) counts one word per value and per index; hybrid values
  // count their bits (fp16 ½, int8 ¼).
  const value = valueBytes(p.values) / 4;
  return resolveFormat(shape, p) === 'csr' ? k * (value + 1) + rows + 1 : k * (value + 2);
}

/**
 * Exact magnitude selection (radix select on the |value| bit patterns, two 16-bit passes): the
 * key T of the k-th largest |value| and how many entries have a strictly larger key. Keeping every
 * entry with key > T plus the first (k − greater) entries with key = T keeps exactly k.
 * NaN ranks above +∞. k = 0 gives a key above every value.
 */
export function magnitudeThreshold(
  values: Float32Array,
  k: number,
): { key: number; greater: number } {
  const n = values.length;
  if (!(Number.isInteger(k) && k >= 0 && k <= n))
    throw new RangeError(`prune: k = ${k} must be an integer in [0, ${n}]`);
  if (k === 0) return { key: 0x80000000, greater: 0 };
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const high = new Uint32Array(32768);
  for (let i = 0; i < n; i += 1) {
    const b = ((bits[i] as number) & 0x7fffffff) >>> 16;
    high[b] = (high[b] as number) + 1;
  }
  let greater = 0;
  let hb = 32767;
  for (; hb > 0; hb -= 1) {
    const c = high[hb] as number;
    if (greater + c >= k) break;
    greater += c;
  }
  const low = new Uint32Array(65536);
  for (let i = 0; i < n; i += 1) {
    const key = (bits[i] as number) & 0x7fffffff;
    if (key >>> 16 === hb) low[key & 0xffff] = (low[key & 0xffff] as number) + 1;
  }
  let lb = 65535;
  for (; lb > 0; lb -= 1) {
    const c = low[lb] as number;
    if (greater + c >= k) break;
    greater += c;
  }
  return { key: ((hb << 16) | lb) >>> 0, greater };
}

interface SparseStorage {
  format: SparseFormat;
  values: string;
  k: number;
  /** fp32 values, fp16 bits or int8 codes (per `values`). */
  vals: Float32Array | Uint16Array | Uint8Array;
  /** rowwise-int8 only: scale, bias half bits per row (2·rows). */
  rowParams: Uint16Array | null;
  cols: Uint8Array | Uint16Array;
  /** CSR: row pointers (rows + 1); COO: row index of each entry (k, sorted). */
  rowIndex: Uint32Array;
}

function buildSparse(
  table: Float32Array,
  rows: number,
  dim: number,
  k: number,
  format: SparseFormat,
  values: string,
): SparseStorage {
  const { key: threshold, greater } = magnitudeThreshold(table, k);
  const bits = new Uint32Array(table.buffer, table.byteOffset, table.length);
  let ties = k - greater;
  const kept = new Float32Array(k);
  const cols = columnBytes(dim) === 1 ? new Uint8Array(k) : new Uint16Array(k);
  const rowPtr = new Uint32Array(rows + 1);
  let e = 0;
  for (let r = 0; r < rows; r += 1) {
    const base = r * dim;
    for (let j = 0; j < dim; j += 1) {
      const key = (bits[base + j] as number) & 0x7fffffff;
      let keep = key > threshold;
      if (!keep && key === threshold && ties > 0) {
        keep = true;
        ties -= 1;
      }
      if (keep) {
        kept[e] = table[base + j] as number;
        cols[e] = j;
        e += 1;
      }
    }
    rowPtr[r + 1] = e;
  }
  let rowIndex = rowPtr;
  if (format === 'coo') {
    rowIndex = new Uint32Array(k);
    for (let r = 0; r < rows; r += 1)
      rowIndex.fill(r, rowPtr[r] as number, rowPtr[r + 1] as number);
  }
  let vals: Float32Array | Uint16Array | Uint8Array = kept;
  let rowParams: Uint16Array | null = null;
  if (values === 'fp16') {
    const halves = new Uint16Array(k);
    for (let i = 0; i < k; i += 1) halves[i] = toHalf(kept[i] as number);
    for (let i = 0; i < k; i += 1)
      if (((halves[i] as number) & 0x7c00) === 0x7c00)
        throw new SpecError(`prune|fp16: kept value ${kept[i]} is not a finite half float`);
    vals = halves;
  } else if (values === 'rowwise-int8') {
    const codes = new Uint8Array(k);
    rowParams = new Uint16Array(2 * rows);
    for (let r = 0; r < rows; r += 1) {
      const start = rowPtr[r] as number;
      const end = rowPtr[r + 1] as number;
      let min = start === end ? 0 : Infinity;
      let max = start === end ? 0 : -Infinity;
      for (let i = start; i < end; i += 1) {
        const v = kept[i] as number;
        if (v < min) min = v;
        if (v > max) max = v;
        if (v !== v) min = NaN;
      }
      const packed = rowwiseParams(min, max, 255);
      rowParams[2 * r] = packed & 0xffff;
      rowParams[2 * r + 1] = packed >>> 16;
      const scale = HALF_TABLE[packed & 0xffff] as number;
      const bias = HALF_TABLE[packed >>> 16] as number;
      for (let i = start; i < end; i += 1)
        codes[i] = rowwiseCode(kept[i] as number, scale, bias, 255);
    }
    vals = codes;
  }
  return { format, values, k, vals, rowParams, cols, rowIndex };
}

function formatSpec(p: PruneParams): string {
  const head = formatOne('prune', { density: p.density, format: p.format });
  return p.values === '' ? head : `${head}|${p.values}`;
}

export class PruneTable implements CompressedTable {
  readonly method = 'prune';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  readonly format: SparseFormat;
  /** Number of stored entries. */
  readonly nnz: number;

  constructor(
    readonly shape: TableShape,
    readonly params: PruneParams,
    private readonly s: SparseStorage,
  ) {
    this.spec = formatSpec(params);
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.format = s.format;
    this.nnz = s.k;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    const dim = this.dim;
    const { vals, cols, rowIndex, rowParams } = this.s;
    const csr = this.format === 'csr';
    const kind = this.s.values;
    const half = HALF_TABLE;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const dst = i * dim;
      for (let j = 0; j < dim; j += 1) out[dst + j] = 0;
      let start: number;
      let end: number;
      if (csr) {
        start = rowIndex[id] as number;
        end = rowIndex[id + 1] as number;
      } else {
        start = lowerBound(rowIndex, id);
        end = start;
        while (end < rowIndex.length && rowIndex[end] === id) end += 1;
      }
      if (kind === '') {
        for (let e = start; e < end; e += 1) out[dst + (cols[e] as number)] = vals[e] as number;
      } else if (kind === 'fp16') {
        for (let e = start; e < end; e += 1)
          out[dst + (cols[e] as number)] = half[vals[e] as number] as number;
      } else {
        const p = rowParams as Uint16Array;
        const scale = half[p[2 * id] as number] as number;
        const bias = half[p[2 * id + 1] as number] as number;
        for (let e = start; e < end; e += 1)
          out[dst + (cols[e] as number)] = (vals[e] as number) * scale + bias;
      }
    }
  }

  memoryBytes(): number {
    const s = this.s;
    return (
      s.vals.byteLength + (s.rowParams?.byteLength ?? 0) + s.cols.byteLength + s.rowIndex.byteLength
    );
  }

  describe() {
    const notes = [
      `${this.format.toUpperCase()}, ${this.nnz} of ${this.rows * this.dim} entries kept`,
      `column indices are ${8 * columnBytes(this.dim)}-bit and ${this.format === 'csr' ? 'row pointers' : 'row indices'} 32-bit; the paper counts every index as one 32-bit word`,
    ];
    if (this.s.values === 'fp16') notes.push('kept values stored as fp16');
    if (this.s.values === 'rowwise-int8')
      notes.push(
        'kept values stored as int8 codes with a per-row fp16 scale and bias (4 bytes/row, not in the paper words)',
      );
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      paperWords(this.shape, this.params),
      notes,
    );
  }

  encode(): Uint8Array {
    const s = this.s;
    const sections = new Map<string, Float32Array | Uint16Array | Uint8Array | Uint32Array>([
      ['values', s.vals],
    ]);
    if (s.rowParams !== null) sections.set('rowParams', s.rowParams);
    sections.set('cols', s.cols);
    sections.set(s.format === 'csr' ? 'rowPtr' : 'rowIdx', s.rowIndex);
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections,
    });
  }
}

/** First index i with a[i] ≥ x (a sorted ascending). */
function lowerBound(a: Uint32Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function loadPrune(content: ArtifactContent): PruneTable {
  const p = artifactParams(content, params);
  const shape = content.shape;
  const rows = totalRows(shape);
  const dim = shape.dim;
  const k = keptCount(rows, dim, p.density);
  const format = resolveFormat(shape, p);
  const vals =
    p.values === 'fp16'
      ? section(content, 'values', 'u16', k)
      : p.values === 'rowwise-int8'
        ? section(content, 'values', 'u8', k)
        : section(content, 'values', 'f32', k);
  const rowParams =
    p.values === 'rowwise-int8' ? section(content, 'rowParams', 'u16', 2 * rows) : null;
  const cols =
    columnBytes(dim) === 1 ? section(content, 'cols', 'u8', k) : section(content, 'cols', 'u16', k);
  const rowIndex =
    format === 'csr'
      ? section(content, 'rowPtr', 'u32', rows + 1)
      : section(content, 'rowIdx', 'u32', k);
  checkStructure(format, rows, dim, k, cols, rowIndex);
  return new PruneTable(shape, p, { format, values: p.values, k, vals, rowParams, cols, rowIndex });
}

/** A checksummed artifact can still come from a buggy writer: never scatter outside a row. */
function checkStructure(
  format: SparseFormat,
  rows: number,
  dim: number,
  k: number,
  cols: Uint8Array | Uint16Array,
  rowIndex: Uint32Array,
): void {
  const bad = (what: string) => {
    throw new ArtifactError('malformed', `prune: ${what}`);
  };
  const checkRun = (start: number, end: number) => {
    for (let e = start; e < end; e += 1) {
      const c = cols[e] as number;
      if (c >= dim) bad(`column ${c} at entry ${e} is outside [0, ${dim})`);
      if (e > start && c <= (cols[e - 1] as number)) bad(`columns of a row not increasing at ${e}`);
    }
  };
  if (format === 'csr') {
    if (rowIndex[0] !== 0 || rowIndex[rows] !== k) bad('row pointers do not span the entries');
    for (let r = 0; r < rows; r += 1) {
      const start = rowIndex[r] as number;
      const end = rowIndex[r + 1] as number;
      if (end < start) bad(`row pointers decrease at row ${r}`);
      checkRun(start, end);
    }
  } else {
    let start = 0;
    for (let e = 0; e <= k; e += 1) {
      if (e === k || rowIndex[e] !== rowIndex[start]) {
        if (e < k && (rowIndex[e] as number) < (rowIndex[start] as number))
          bad(`row indices not sorted at entry ${e}`);
        if (start < k && (rowIndex[start] as number) >= rows)
          bad(`row ${rowIndex[start]} is outside [0, ${rows})`);
        checkRun(start, e);
        start = e;
      }
    }
  }
}

export const prune: CodecMethod<PruneParams> = {
  kind: 'codec',
  id: 'prune',
  family: 'row-codec',
  taxonomy: { scope: 'intra-feature', subClass: 'pruning' },
  title: 'Post-training global magnitude pruning, CSR/COO storage (optionally fp16/int8 values)',
  paper:
    'Magnitude pruning (Han et al., "Learning both Weights and Connections", NeurIPS 2015); ' +
    "storage rule of the benchmark's Pruner and sparse layer (Zhang et al., PVLDB 17(4), 2023)",
  params,
  estimateBytes(shape, p) {
    const rows = totalRows(shape);
    const k = keptCount(rows, shape.dim, p.density);
    return sparseBytes(rows, shape.dim, k, resolveFormat(shape, p), p.values);
  },
  paperWords,
  paramsForBudget: pruneParamsForBudget,
  compress(table, shape, p) {
    const rows = checkTable('prune', table, shape);
    const k = keptCount(rows, shape.dim, p.density);
    const storage = buildSparse(table, rows, shape.dim, k, resolveFormat(shape, p), p.values);
    return new PruneTable(shape, { ...p }, storage);
  },
  loadTable: loadPrune,
};

// The serving side shared by the trained pruning methods pep and autosrh (docs/methods/pep.md#serving,
// docs/methods/autosrh.md#serving): their effective weights W (n × D) are magnitude-pruned to
// exactly k = round(density·n·D) entries and stored as the `prune` codec's CSR/COO table
// (docs/methods/prune.md): same exact selection (radix select, ties to the first entries in
// row-major order), same bytes, same budget rule. The artifact carries the method's own id, spec
// and params so the store lists it as what it is; its sections are the prune table's.
//
// `forward` of these methods (inference semantics) applies the same selection directly to W
// (`selectLargest` + `gatherSelected`) instead of building the sparse storage, so the conformance
// suite's train/serve comparison checks the CSR/COO build and lookup against an independent path.
import { z } from 'zod';
import {
  artifactParams,
  readArtifact,
  writeArtifact,
  type ArtifactContent,
} from '../core/artifact';
import type { Accounting } from '../core/budget';
import type { CompressedTable, TableDescription } from '../core/method';
import { formatOne } from '../core/spec';
import type { TableShape } from '../core/shape';
import { magnitudeThreshold, prune, PruneTable, type PruneParams } from '../codecs/prune';

/** The budget parameters every sparse-served method has (the prune codec's, fp32 values). */
export const sparseParamShape = {
  /** Fraction of the n·D entries served (k = round(density·n·D)); P = 1 − density. */
  density: z.number().gt(0).lte(1).default(0.25),
  /** Sparse layout; auto = whichever holds fewer bytes (CSR on a tie). */
  format: z.enum(['auto', 'csr', 'coo']).default('auto'),
};

export interface SparseBudgetParams {
  density: number;
  format: 'auto' | 'csr' | 'coo';
}

export function pruneParamsOf(p: SparseBudgetParams): PruneParams {
  return { density: p.density, format: p.format, values: '' };
}

export function sparseEstimateBytes(shape: TableShape, p: SparseBudgetParams): number {
  return prune.estimateBytes(shape, pruneParamsOf(p));
}

export function sparsePaperWords(shape: TableShape, p: SparseBudgetParams): number {
  return prune.paperWords(shape, pruneParamsOf(p));
}

/**
 * Density and format for a budget: the prune codec's solver (`paper-words`: the reference's
 * storage rule, docs/methods/prune.md; `bytes`: the most entries whose real bytes fit).
 */
export function sparseParamsForBudget(
  shape: TableShape,
  budget: number,
  accounting?: Accounting,
): SparseBudgetParams {
  const solve = prune.paramsForBudget as NonNullable<typeof prune.paramsForBudget>;
  const { density, format } = solve(shape, budget, accounting);
  return { density, format };
}

/** The k largest |W| (exact): keep key > `key`, or key = `key` at a flat index ≤ `lastTie`. */
export interface Selection {
  key: number;
  lastTie: number;
}

/** The selection `prune` makes for k entries of W (ties: the first ones in row-major order). */
export function selectLargest(W: Float32Array, k: number): Selection {
  const { key, greater } = magnitudeThreshold(W, k);
  let ties = k - greater;
  let lastTie = -1;
  if (ties > 0) {
    const bits = new Uint32Array(W.buffer, W.byteOffset, W.length);
    for (let i = 0; i < bits.length && ties > 0; i += 1) {
      if (((bits[i] as number) & 0x7fffffff) === key) {
        lastTie = i;
        ties -= 1;
      }
    }
  }
  return { key, lastTie };
}

/** Rows `ids` of W with only the selected entries (others 0) into `out`. Ids already checked. */
export function gatherSelected(
  W: Float32Array,
  dim: number,
  ids: Uint32Array,
  out: Float32Array,
  sel: Selection,
): void {
  const bits = new Uint32Array(W.buffer, W.byteOffset, W.length);
  for (let i = 0; i < ids.length; i += 1) {
    const src = (ids[i] as number) * dim;
    const dst = i * dim;
    for (let j = 0; j < dim; j += 1) {
      const key = (bits[src + j] as number) & 0x7fffffff;
      const keep = key > sel.key || (key === sel.key && src + j <= sel.lastTie);
      out[dst + j] = keep ? (W[src + j] as number) : 0;
    }
  }
}

/**
 * Zeroes, in rows `ids` already gathered into `out` (row i of out = row ids[i] of W), the entries
 * `sel` does not keep: gatherSelected for tables that compute their rows (W = E ⊙ α, a soft
 * threshold) instead of holding W. Ids already checked.
 */
export function maskUnselected(
  ids: Uint32Array,
  dim: number,
  out: Float32Array,
  sel: Selection,
): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < ids.length; i += 1) {
    const flat = (ids[i] as number) * dim;
    for (let j = 0; j < dim; j += 1) {
      const key = (bits[i * dim + j] as number) & 0x7fffffff;
      if (!(key > sel.key || (key === sel.key && flat + j <= sel.lastTie))) out[i * dim + j] = 0;
    }
  }
}

/** Entries of W that are not zero. */
export function countNonZero(W: Float32Array): number {
  let nnz = 0;
  for (let i = 0; i < W.length; i += 1) if (W[i] !== 0) nnz += 1;
  return nnz;
}

/** A prune table served under another method's id, spec and params. */
export class SparseMethodTable implements CompressedTable {
  readonly shape: TableShape;
  readonly rows: number;
  readonly dim: number;

  constructor(
    readonly method: string,
    readonly spec: string,
    private readonly params: SparseBudgetParams,
    private readonly inner: PruneTable,
  ) {
    this.shape = inner.shape;
    this.rows = inner.rows;
    this.dim = inner.dim;
  }

  /** Stored entries (exactly k; zeros included when W had fewer non-zeros). */
  get nnz(): number {
    return this.inner.nnz;
  }

  get format(): 'csr' | 'coo' {
    return this.inner.format;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    this.inner.lookup(ids, out);
  }

  memoryBytes(): number {
    return this.inner.memoryBytes();
  }

  describe(): TableDescription {
    const d = this.inner.describe();
    return { ...d, method: this.method, spec: this.spec, notes: [...d.notes] };
  }

  encode(): Uint8Array {
    const { sections } = readArtifact(this.inner.encode());
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections,
    });
  }
}

/** Magnitude-prunes W (n·D, row-major) to the params' k entries, served as `method`. */
export function buildSparseTable(
  method: string,
  shape: TableShape,
  params: SparseBudgetParams & Record<string, unknown>,
  W: Float32Array,
): SparseMethodTable {
  const inner = prune.compress(W, shape, pruneParamsOf(params), { seed: 0 }) as PruneTable;
  return new SparseMethodTable(method, formatOne(method, params), params, inner);
}

/** Loads a SparseMethodTable artifact (the prune codec's checks on its sections). */
export function loadSparseTable<P extends SparseBudgetParams & Record<string, unknown>>(
  content: ArtifactContent,
  schema: { safeParse(v: unknown): { success: true; data: P } | { success: false } },
): SparseMethodTable {
  const p = artifactParams(content, schema);
  const inner = prune.loadTable({
    method: 'prune',
    spec: '',
    params: { ...pruneParamsOf(p) },
    shape: content.shape,
    sections: content.sections,
  }) as PruneTable;
  return new SparseMethodTable(content.method, formatOne(content.method, p), p, inner);
}

// Exhaustive fp32 search on the kernels (issue #13): a row-major fp32 table pinned once in kernel
// memory, scored per query by the kernels' scoreF32 (f32 sums in their canonical order) and
// selected by their top-k (ties: lower row). The counterpart of FAISS's IndexFlatIP/IndexFlatL2.
// exactSearch (topk.ts) stays the float64 brute force that tests compare every search with.
import { kernels, type PinnedBytes } from '@embpress/kernels';
import type { Metric, SearchHits } from '../core/method';
import { exhaustiveSearch, kernelMetric } from './kernel-tables';
import { planSearch } from './topk';

export class FlatIndex {
  readonly rows: number;
  private pinned: PinnedBytes | undefined;

  /** Pins a copy of `table` (rows × dim, row-major) now; dispose() frees it. */
  constructor(
    table: Float32Array,
    readonly dim: number,
  ) {
    if (!Number.isInteger(dim) || dim < 1 || table.length % dim !== 0)
      throw new RangeError(`flat index: ${table.length} values are not rows of dim ${dim}`);
    this.rows = table.length / dim;
    this.pinned = kernels().pin(table);
  }

  /** Top-k of each query (inner product: highest; L2: smallest squared distance). */
  search(queries: Float32Array, k: number, metric: Metric): SearchHits {
    const pinned = this.pinned;
    if (pinned === undefined) throw new Error('flat index: search after dispose()');
    const plan = planSearch('flat', queries, this.dim, this.rows, k, metric);
    const kern = kernels();
    const m = kernelMetric(metric);
    return exhaustiveSearch(kern, this.rows, this.dim, queries, plan, metric, (query, out) =>
      kern.scoreF32(m, query, pinned, { out }),
    );
  }

  /** Frees the kernel copy (an index that is dropped without it is freed when collected). */
  dispose(): void {
    this.pinned?.dispose();
    this.pinned = undefined;
  }
}

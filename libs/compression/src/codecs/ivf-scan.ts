// Range scans of an IVF table's inner codes (ivf.ts): top-k over ranges of stored rows of the
// inner codec's table (a query's probed lists), pushing ORIGINAL ids into a bounded heap. One
// scanner per inner codec. rowwise-int8 and fp16 lists are scored by @embpress/kernels over the
// inner table's pinned rows (one kernel call for all of a query's lists,
// docs/adr/0015-wasm-simd-kernels.md), with the same kernel the inner
// codec's exhaustive `search` uses, so a scan of every list returns exactly what the inner codec
// returns (ties go to the smaller original id in both). pq reads its own artifact sections (codes,
// codebooks) with asymmetric distance tables in JavaScript.
import { kernels } from '@embpress/kernels';
import type { LazyPin } from './kernel-tables';
import { adcScore, adcTable, type PqLayout } from './pq';
import type { TopK } from './topk';

export interface RangeScanner {
  /**
   * Sets the query (dim values of `queries` at `offset`) for the following scans. For inner
   * product the score is ⟨q, x̂⟩; for L2 it is −‖q − x̂‖² (higher is better in the heap).
   */
  setQuery(queries: Float32Array, offset: number): void;
  /**
   * Offers every stored row of the ranges ([start, count] pairs, e.g. the probed lists) to
   * `heap` under its original id `ids[row]`.
   */
  scan(ranges: Uint32Array, ids: Uint32Array, heap: TopK): void;
}

/**
 * rowwise-int8 fused rows ([dim u8 codes][scale fp16][bias fp16]) or fp16 halves, scored by the
 * kernels (scoreRowwiseInt8 / scoreFp16: f32 sums in the kernels' canonical order; int8 inner
 * product factored as scale·(q·c) + bias·Σq) over the inner table's pinned rows.
 */
export function kernelScanner(
  kind: 'rowwise-int8' | 'fp16',
  rows: LazyPin<Uint8Array> | LazyPin<Uint16Array>,
  dim: number,
  l2: boolean,
): RangeScanner {
  const k = kernels();
  const metric = l2 ? 'l2' : 'ip';
  let query: Float32Array = new Float32Array(dim);
  let scores = new Float32Array(256);
  return {
    setQuery(queries, offset) {
      query = queries.subarray(offset, offset + dim);
    },
    scan(ranges, ids, heap) {
      let count = 0;
      for (let i = 1; i < ranges.length; i += 2) count += ranges[i] as number;
      if (count === 0) return;
      if (scores.length < count) scores = new Float32Array(Math.max(count, 2 * scores.length));
      const out = scores.subarray(0, count);
      const options = { ranges, out };
      // The pin is read per scan (not kept): the scanner lives as long as its IVF table does.
      if (kind === 'fp16') k.scoreFp16(metric, query, rows.get(), options);
      else k.scoreRowwiseInt8(metric, query, rows.get(), options);
      const sign = l2 ? -1 : 1;
      let o = 0;
      for (let i = 0; i < ranges.length; i += 2) {
        const start = ranges[i] as number;
        const end = start + (ranges[i + 1] as number);
        for (let row = start; row < end; row += 1, o += 1)
          heap.push(ids[row] as number, sign * (out[o] as number));
      }
    },
  };
}

/**
 * pq codes with asymmetric distance: per query an M × K table of partial scores (⟨q_m, c⟩ or
 * ‖q_m − c‖²), then M table reads per row (summed four at a time, left to right, as pq.ts does).
 */
export function pqScanner(
  codes: Uint8Array,
  codebooks: Float32Array,
  layout: PqLayout,
  l2: boolean,
): RangeScanner {
  const { subvectors: M, centroids: K } = layout;
  const table = new Float64Array(M * K);
  return {
    setQuery(queries, offset) {
      adcTable(queries, offset, codebooks, layout, l2, table);
    },
    scan(ranges, ids, heap) {
      for (let i = 0; i < ranges.length; i += 2) {
        const end = (ranges[i] as number) + (ranges[i + 1] as number);
        for (let r = ranges[i] as number; r < end; r += 1) {
          const s = adcScore(table, codes, r, M, K);
          heap.push(ids[r] as number, l2 ? -s : s);
        }
      }
    },
  };
}

// Range scans of an IVF table's inner codes (ivf.ts): top-k over the stored rows [start, end) of
// the inner codec's table, pushing ORIGINAL ids into a bounded heap. One scanner per inner codec,
// each reading the inner codec's own artifact sections (rowwise fused rows, fp16 halves, pq codes)
// — the codec modules keep their buffers private, their artifact layout is the public contract.
//
// Every score is computed with the same formula and summation order as the inner codec's own
// exhaustive `search`, so a scan of every list returns exactly what the inner codec returns (ties
// go to the smaller original id in both). Nothing is allocated per row; per query only the pq
// distance table is rebuilt (in a buffer made once per search call).
import { HALF_TABLE } from '../core/half';
import type { PqLayout } from './pq';
import type { TopK } from './topk';

export interface RangeScanner {
  /**
   * Sets the query (dim values of `queries` at `offset`) for the following scans. For inner
   * product the score is ⟨q, x̂⟩; for L2 it is −‖q − x̂‖² (higher is better in the heap).
   */
  setQuery(queries: Float32Array, offset: number): void;
  /** Offers every stored row of [start, end) to `heap` under its original id `ids[row]`. */
  scan(start: number, end: number, ids: Uint32Array, heap: TopK): void;
}

/**
 * rowwise-int8 fused rows: [dim u8 codes][scale fp16][bias fp16] per row. Four rows are scored
 * per pass over the query (one query load per four multiply-adds, four independent sums); each
 * row's sum still runs j = 0..dim−1 in order, so its score is bit-identical to a one-row loop.
 */
export function rowwiseInt8Scanner(fused: Uint8Array, dim: number, l2: boolean): RangeScanner {
  const stride = dim + 4;
  const half = HALF_TABLE;
  const q = new Float64Array(dim);
  let qsum = 0;
  const scaleAt = (src: number) =>
    half[(fused[src + dim] as number) | ((fused[src + dim + 1] as number) << 8)] as number;
  const biasAt = (src: number) =>
    half[(fused[src + dim + 2] as number) | ((fused[src + dim + 3] as number) << 8)] as number;
  return {
    setQuery(queries, offset) {
      qsum = 0;
      for (let j = 0; j < dim; j += 1) {
        const v = queries[offset + j] as number;
        q[j] = v;
        qsum += v;
      }
    },
    scan(start, end, ids, heap) {
      let r = start;
      for (; r + 4 <= end; r += 4) {
        const a = r * stride;
        const b = a + stride;
        const c = b + stride;
        const d = c + stride;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        if (l2) {
          const ka = scaleAt(a);
          const kb = scaleAt(b);
          const kc = scaleAt(c);
          const kd = scaleAt(d);
          const ba = biasAt(a);
          const bb = biasAt(b);
          const bc = biasAt(c);
          const bd = biasAt(d);
          for (let j = 0; j < dim; j += 1) {
            const x = q[j] as number;
            const d0 = x - ((fused[a + j] as number) * ka + ba);
            const d1 = x - ((fused[b + j] as number) * kb + bb);
            const d2 = x - ((fused[c + j] as number) * kc + bc);
            const d3 = x - ((fused[d + j] as number) * kd + bd);
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
          }
          heap.push(ids[r] as number, -s0);
          heap.push(ids[r + 1] as number, -s1);
          heap.push(ids[r + 2] as number, -s2);
          heap.push(ids[r + 3] as number, -s3);
        } else {
          // q·(c·scale + bias) = scale·(q·c) + bias·Σq: one multiply-add per code.
          for (let j = 0; j < dim; j += 1) {
            const x = q[j] as number;
            s0 += x * (fused[a + j] as number);
            s1 += x * (fused[b + j] as number);
            s2 += x * (fused[c + j] as number);
            s3 += x * (fused[d + j] as number);
          }
          heap.push(ids[r] as number, s0 * scaleAt(a) + biasAt(a) * qsum);
          heap.push(ids[r + 1] as number, s1 * scaleAt(b) + biasAt(b) * qsum);
          heap.push(ids[r + 2] as number, s2 * scaleAt(c) + biasAt(c) * qsum);
          heap.push(ids[r + 3] as number, s3 * scaleAt(d) + biasAt(d) * qsum);
        }
      }
      for (; r < end; r += 1) {
        const src = r * stride;
        const scale = scaleAt(src);
        const bias = biasAt(src);
        let s = 0;
        if (l2) {
          for (let j = 0; j < dim; j += 1) {
            const diff = (q[j] as number) - ((fused[src + j] as number) * scale + bias);
            s += diff * diff;
          }
          s = -s;
        } else {
          for (let j = 0; j < dim; j += 1) s += (q[j] as number) * (fused[src + j] as number);
          s = s * scale + bias * qsum;
        }
        heap.push(ids[r] as number, s);
      }
    },
  };
}

/** fp16 rows: dim half floats per row; four rows per pass over the query, as rowwise-int8. */
export function halfScanner(halves: Uint16Array, dim: number, l2: boolean): RangeScanner {
  const table = HALF_TABLE;
  const q = new Float64Array(dim);
  return {
    setQuery(queries, offset) {
      for (let j = 0; j < dim; j += 1) q[j] = queries[offset + j] as number;
    },
    scan(start, end, ids, heap) {
      let r = start;
      for (; r + 4 <= end; r += 4) {
        const a = r * dim;
        const b = a + dim;
        const c = b + dim;
        const d = c + dim;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        if (l2) {
          for (let j = 0; j < dim; j += 1) {
            const x = q[j] as number;
            const d0 = x - (table[halves[a + j] as number] as number);
            const d1 = x - (table[halves[b + j] as number] as number);
            const d2 = x - (table[halves[c + j] as number] as number);
            const d3 = x - (table[halves[d + j] as number] as number);
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
          }
          heap.push(ids[r] as number, -s0);
          heap.push(ids[r + 1] as number, -s1);
          heap.push(ids[r + 2] as number, -s2);
          heap.push(ids[r + 3] as number, -s3);
        } else {
          for (let j = 0; j < dim; j += 1) {
            const x = q[j] as number;
            s0 += x * (table[halves[a + j] as number] as number);
            s1 += x * (table[halves[b + j] as number] as number);
            s2 += x * (table[halves[c + j] as number] as number);
            s3 += x * (table[halves[d + j] as number] as number);
          }
          heap.push(ids[r] as number, s0);
          heap.push(ids[r + 1] as number, s1);
          heap.push(ids[r + 2] as number, s2);
          heap.push(ids[r + 3] as number, s3);
        }
      }
      for (let ro = r * dim; r < end; r += 1, ro += dim) {
        let s = 0;
        if (l2) {
          for (let j = 0; j < dim; j += 1) {
            const diff = (q[j] as number) - (table[halves[ro + j] as number] as number);
            s += diff * diff;
          }
          s = -s;
        } else {
          for (let j = 0; j < dim; j += 1)
            s += (q[j] as number) * (table[halves[ro + j] as number] as number);
        }
        heap.push(ids[r] as number, s);
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
  const { subvectors: M, subDim, centroids: K } = layout;
  const table = new Float64Array(M * K);
  return {
    setQuery(queries, offset) {
      for (let m = 0; m < M; m += 1) {
        const qm = offset + m * subDim;
        for (let c = 0; c < K; c += 1) {
          const cb = (m * K + c) * subDim;
          let s = 0;
          if (l2) {
            for (let j = 0; j < subDim; j += 1) {
              const diff = (queries[qm + j] as number) - (codebooks[cb + j] as number);
              s += diff * diff;
            }
          } else {
            for (let j = 0; j < subDim; j += 1)
              s += (queries[qm + j] as number) * (codebooks[cb + j] as number);
          }
          table[m * K + c] = s;
        }
      }
    },
    scan(start, end, ids, heap) {
      for (let r = start; r < end; r += 1) {
        const base = r * M;
        let s = 0;
        let m = 0;
        let t = 0;
        for (; m + 4 <= M; m += 4, t += 4 * K)
          s =
            s +
            (table[t + (codes[base + m] as number)] as number) +
            (table[t + K + (codes[base + m + 1] as number)] as number) +
            (table[t + 2 * K + (codes[base + m + 2] as number)] as number) +
            (table[t + 3 * K + (codes[base + m + 3] as number)] as number);
        for (; m < M; m += 1, t += K) s += table[t + (codes[base + m] as number)] as number;
        heap.push(ids[r] as number, l2 ? -s : s);
      }
    },
  };
}

// k-best selection for the codec tables' `search` (scan on the codes): a bounded binary heap on
// typed arrays, plus the argument checks and an exact fp32 scan every search is tested against.
//
// Order: higher score is better; equal scores prefer the SMALLER id, so results are deterministic
// and independent of scan order. L2 searches push −distance and report +distance.
import type { Metric, SearchHits } from '../core/method';

export class TopK {
  private readonly ids: Uint32Array;
  private readonly scores: Float64Array;
  private size = 0;

  constructor(readonly k: number) {
    this.ids = new Uint32Array(k);
    this.scores = new Float64Array(k);
  }

  reset(): void {
    this.size = 0;
  }

  /** The score a candidate must beat (ties: by smaller id) once k are held; −∞ before. */
  get threshold(): number {
    return this.size < this.k ? -Infinity : (this.scores[0] as number);
  }

  /** Offers (id, score); higher is better, equal scores prefer the smaller id. */
  push(id: number, score: number): void {
    const ids = this.ids;
    const scores = this.scores;
    if (this.size < this.k) {
      // Sift up from the end: the root is the WORST held candidate.
      let i = this.size;
      this.size += 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        const ps = scores[parent] as number;
        if (ps < score || (ps === score && (ids[parent] as number) > id)) break;
        scores[i] = ps;
        ids[i] = ids[parent] as number;
        i = parent;
      }
      scores[i] = score;
      ids[i] = id;
      return;
    }
    const rs = scores[0] as number;
    if (!(score > rs || (score === rs && id < (ids[0] as number)))) return;
    // Replace the root and sift down.
    this.siftDown(score, id, this.size);
  }

  /**
   * Writes the held candidates best first to ids/scores at `offset` (scores negated when
   * `negate`, for L2) and empties the heap. Returns how many were written.
   */
  drain(outIds: Uint32Array, outScores: Float32Array, offset: number, negate: boolean): number {
    const count = this.size;
    // Pop the worst repeatedly; it goes to the back.
    for (let slot = count - 1; slot >= 0; slot -= 1) {
      outIds[offset + slot] = this.ids[0] as number;
      const s = this.scores[0] as number;
      outScores[offset + slot] = negate ? -s : s;
      this.popRoot();
    }
    return count;
  }

  private popRoot(): void {
    const ids = this.ids;
    const scores = this.scores;
    this.size -= 1;
    const n = this.size;
    if (n === 0) return;
    this.siftDown(scores[n] as number, ids[n] as number, n);
  }

  /** Places (score, id) at the root of the first `n` entries and restores the heap order. */
  private siftDown(score: number, id: number, n: number): void {
    const ids = this.ids;
    const scores = this.scores;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let w = l;
      const r = l + 1;
      if (r < n && worse(scores, ids, r, l)) w = r;
      const ws = scores[w] as number;
      if (ws > score || (ws === score && (ids[w] as number) < id)) break;
      scores[i] = ws;
      ids[i] = ids[w] as number;
      i = w;
    }
    scores[i] = score;
    ids[i] = id;
  }
}

function worse(scores: Float64Array, ids: Uint32Array, a: number, b: number): boolean {
  const sa = scores[a] as number;
  const sb = scores[b] as number;
  return sa < sb || (sa === sb && (ids[a] as number) > (ids[b] as number));
}

/** Validated search arguments: number of queries and the k actually returned (≤ rows). */
export interface SearchPlan {
  queries: number;
  k: number;
}

/**
 * Checks a search call: metric known, queries a whole number of `dim`-vectors, k a positive
 * integer. k larger than the table is clamped to its row count (every row is returned).
 */
export function planSearch(
  method: string,
  queries: Float32Array,
  dim: number,
  rows: number,
  k: number,
  metric: Metric,
): SearchPlan {
  if (metric !== 'inner-product' && metric !== 'l2')
    throw new RangeError(`${method} search: unknown metric ${JSON.stringify(metric)}`);
  if (queries.length % dim !== 0)
    throw new RangeError(
      `${method} search: ${queries.length} query values are not a multiple of dim ${dim}`,
    );
  if (!Number.isInteger(k) || k < 1)
    throw new RangeError(`${method} search: k must be a positive integer, got ${k}`);
  return { queries: queries.length / dim, k: Math.min(k, rows) };
}

/** Exact top-k over a row-major fp32 table (the brute force the code scans are tested against). */
export function exactSearch(
  table: Float32Array,
  dim: number,
  queries: Float32Array,
  k: number,
  metric: Metric,
): SearchHits {
  const rows = table.length / dim;
  const plan = planSearch('exact', queries, dim, rows, k, metric);
  const ids = new Uint32Array(plan.queries * plan.k);
  const scores = new Float32Array(plan.queries * plan.k);
  const heap = new TopK(plan.k);
  const l2 = metric === 'l2';
  for (let q = 0; q < plan.queries; q += 1) {
    const qo = q * dim;
    for (let r = 0; r < rows; r += 1) {
      const ro = r * dim;
      let s = 0;
      if (l2) {
        for (let j = 0; j < dim; j += 1) {
          const diff = (queries[qo + j] as number) - (table[ro + j] as number);
          s += diff * diff;
        }
        s = -s;
      } else {
        for (let j = 0; j < dim; j += 1)
          s += (queries[qo + j] as number) * (table[ro + j] as number);
      }
      heap.push(r, s);
    }
    heap.drain(ids, scores, q * plan.k, l2);
  }
  return { ids, scores };
}

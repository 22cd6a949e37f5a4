// The coarse quantizer of `ivf` (ivf.ts): Lloyd k-means on the full dimension, FAISS style
// (centroids start at distinct sample points; an empty list is re-seeded at the point farthest
// from its centroid), and the nearest-centroid assignment of every row. Both are dominated by
// points × centroids × dim multiply-adds (≈ 40 G for 100k rows × 1024 lists × 384), so the
// distance kernel computes a 4-point × 2-centroid tile per pass over the dimension: eight
// independent sums, six loads per eight multiply-adds, no allocation.
import type { Rng } from '../core/rng';
import { sampleRows } from './pq-kmeans';

/** ‖c‖² of each of the k centroids (k × dim, row-major). */
export function centroidNorms(centroids: Float32Array, k: number, dim: number): Float64Array {
  const norms = new Float64Array(k);
  for (let c = 0; c < k; c += 1) {
    let s = 0;
    for (let j = 0, o = c * dim; j < dim; j += 1) s += (centroids[o + j] as number) ** 2;
    norms[c] = s;
  }
  return norms;
}

/** Points per block: the block (32 × dim floats) stays in cache while every centroid passes. */
const BLOCK = 32;

/**
 * For each of `count` points (row-major in `points`, dim values each): the index of the nearest
 * centroid by ‖c‖² − 2⟨x, c⟩ (= squared L2 up to ‖x‖²; ties → lowest index) into `best`, and
 * that value into `score` when given. Points go in blocks of 32; within a block, each pair of
 * centroids is scored against four points at a time (a 4 × 2 tile of independent sums).
 */
export function nearestCentroids(
  points: Float32Array,
  count: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  norms: Float64Array,
  best: Uint32Array,
  score?: Float64Array,
): void {
  const x = points;
  const cs = centroids;
  const bs = new Float64Array(BLOCK);
  const bi = new Uint32Array(BLOCK);
  const offer = (p: number, c: number, dot: number) => {
    const t = (norms[c] as number) - 2 * dot;
    if (t < (bs[p] as number)) {
      bs[p] = t;
      bi[p] = c;
    }
  };
  for (let p0 = 0; p0 < count; p0 += BLOCK) {
    const size = Math.min(BLOCK, count - p0);
    const quads = size - (size % 4);
    bs.fill(Infinity);
    bi.fill(0);
    for (let q = 0; q < k; q += 2) {
      const u = q * dim;
      const pair = q + 1 < k;
      const v = pair ? u + dim : u;
      for (let p = 0; p < quads; p += 4) {
        const a = (p0 + p) * dim;
        const b = a + dim;
        const c = b + dim;
        const d = c + dim;
        let a0 = 0;
        let a1 = 0;
        let e0 = 0;
        let e1 = 0;
        let f0 = 0;
        let f1 = 0;
        let g0 = 0;
        let g1 = 0;
        for (let j = 0; j < dim; j += 1) {
          const cu = cs[u + j] as number;
          const cv = cs[v + j] as number;
          const xa = x[a + j] as number;
          const xb = x[b + j] as number;
          const xc = x[c + j] as number;
          const xd = x[d + j] as number;
          a0 += xa * cu;
          a1 += xa * cv;
          e0 += xb * cu;
          e1 += xb * cv;
          f0 += xc * cu;
          f1 += xc * cv;
          g0 += xd * cu;
          g1 += xd * cv;
        }
        offer(p, q, a0);
        offer(p + 1, q, e0);
        offer(p + 2, q, f0);
        offer(p + 3, q, g0);
        if (pair) {
          offer(p, q + 1, a1);
          offer(p + 1, q + 1, e1);
          offer(p + 2, q + 1, f1);
          offer(p + 3, q + 1, g1);
        }
      }
      for (let p = quads; p < size; p += 1) {
        const a = (p0 + p) * dim;
        let a0 = 0;
        let a1 = 0;
        for (let j = 0; j < dim; j += 1) {
          const xa = x[a + j] as number;
          a0 += xa * (cs[u + j] as number);
          a1 += xa * (cs[v + j] as number);
        }
        offer(p, q, a0);
        if (pair) offer(p, q + 1, a1);
      }
    }
    for (let p = 0; p < size; p += 1) {
      best[p0 + p] = bi[p] as number;
      if (score !== undefined) score[p0 + p] = bs[p] as number;
    }
  }
}

/** Squared norm of each of `count` points. */
function pointNorms(points: Float32Array, count: number, dim: number): Float64Array {
  const out = new Float64Array(count);
  for (let p = 0; p < count; p += 1) {
    let s = 0;
    for (let j = 0, o = p * dim; j < dim; j += 1) s += (points[o + j] as number) ** 2;
    out[p] = s;
  }
  return out;
}

/**
 * k-means of `n` points (row-major float32, n ≥ k) into k float32 centroids: distinct random
 * points as the start, then up to `iterations` Lloyd steps (stopping when no point moves). An
 * empty list is re-seeded at the point farthest from its centroid (each point re-seeds at most
 * one list). Deterministic for the Rng.
 */
export function coarseKmeans(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  iterations: number,
  rng: Rng,
): Float32Array {
  if (!(Number.isInteger(k) && k >= 1 && k <= n))
    throw new RangeError(`ivf k-means needs 1 <= lists <= points, got ${k} lists, ${n} points`);
  const centroids = new Float32Array(k * dim);
  const start = sampleRows(n, k, rng);
  // sampleRows returns ascending indices; shuffle so list numbers carry no order of the data.
  for (let i = k - 1; i > 0; i -= 1) {
    const j = rng.int(0, i + 1);
    const t = start[i] as number;
    start[i] = start[j] as number;
    start[j] = t;
  }
  for (let c = 0; c < k; c += 1) {
    const src = (start[c] as number) * dim;
    centroids.set(points.subarray(src, src + dim), c * dim);
  }
  const xNorms = pointNorms(points, n, dim);
  const assignment = new Uint32Array(n);
  const previous = new Uint32Array(n).fill(0xffffffff);
  const score = new Float64Array(n);
  const sums = new Float64Array(k * dim);
  const counts = new Uint32Array(k);
  for (let it = 0; it < iterations; it += 1) {
    nearestCentroids(
      points,
      n,
      dim,
      centroids,
      k,
      centroidNorms(centroids, k, dim),
      assignment,
      score,
    );
    let changed = 0;
    for (let i = 0; i < n; i += 1) if (assignment[i] !== previous[i]) changed += 1;
    if (changed === 0) break;
    previous.set(assignment);
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i += 1) {
      const c = assignment[i] as number;
      counts[c] = (counts[c] as number) + 1;
      const so = c * dim;
      const po = i * dim;
      for (let j = 0; j < dim; j += 1)
        sums[so + j] = (sums[so + j] as number) + (points[po + j] as number);
    }
    for (let c = 0; c < k; c += 1) {
      const count = counts[c] as number;
      if (count > 0) {
        for (let j = 0; j < dim; j += 1)
          centroids[c * dim + j] = (sums[c * dim + j] as number) / count;
        continue;
      }
      // Empty list: the point farthest from its centroid (‖x‖² + score = its squared distance).
      let far = 0;
      let farDist = -Infinity;
      for (let i = 0; i < n; i += 1) {
        const dist = (xNorms[i] as number) + (score[i] as number);
        if (dist > farDist) {
          farDist = dist;
          far = i;
        }
      }
      centroids.set(points.subarray(far * dim, far * dim + dim), c * dim);
      score[far] = -Infinity; // never picked twice
    }
  }
  return centroids;
}

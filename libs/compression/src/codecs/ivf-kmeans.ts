// The coarse quantizer of `ivf` (ivf.ts): Lloyd k-means on the full dimension, FAISS style
// (centroids start at distinct sample points; an empty list is re-seeded at the point farthest
// from its centroid), and the nearest-centroid assignment of every row. Both are dominated by
// points × centroids × dim multiply-adds (≈ 40 G for 100k rows × 1024 lists × 384), so the
// assignment is a matrix product on @embpress/kernels (docs/adr/0015-wasm-simd-kernels.md):
// blocks of points times the transposed centroids, 128 centroids per call, then an argmin in
// JavaScript over ‖c‖² − 2⟨x, c⟩.
import { kernels } from '@embpress/kernels';
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

/**
 * Centroids per matmul call: their transposed block (dim × 128 floats, 192 KB at dim 384) stays
 * in cache while a block of points passes; measured ~1.5× the GFLOP/s of one call over all 1024
 * centroids on the dev machine (the kernel walks all of B for every 4 rows of A).
 */
const CENTROID_CHUNK = 128;
/** Points per block: 1024 × dim floats in, 1024 × 128 dot products out per call. */
const POINT_BLOCK = 1024;

/**
 * For each of `count` points (row-major in `points`, dim values each): the index of the nearest
 * centroid by ‖c‖² − 2⟨x, c⟩ (= squared L2 up to ‖x‖²; ties → lowest index) into `best`, and
 * that value into `score` when given. ⟨x, c⟩ is the kernels' f32 matmul (a sum over dim in
 * order, libs/kernels/README.md): a point within ~2^−20·dim·Σ|x·c| of two centroids may go to
 * either, which moves no recall measurably (docs/methods/ivf.md).
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
  const kern = kernels();
  // The centroids transposed, chunk by chunk: B of each call is [dim × width], row-major.
  const chunks: { first: number; width: number; transposed: Float32Array }[] = [];
  for (let first = 0; first < k; first += CENTROID_CHUNK) {
    const width = Math.min(CENTROID_CHUNK, k - first);
    const transposed = new Float32Array(dim * width);
    for (let c = 0; c < width; c += 1) {
      const src = (first + c) * dim;
      for (let j = 0; j < dim; j += 1) transposed[j * width + c] = centroids[src + j] as number;
    }
    chunks.push({ first, width, transposed });
  }
  const block = Math.min(POINT_BLOCK, count);
  const dots = new Float32Array(block * Math.min(CENTROID_CHUNK, k));
  const bs = new Float64Array(block);
  const bi = new Uint32Array(block);
  for (let p0 = 0; p0 < count; p0 += block) {
    const size = Math.min(block, count - p0);
    const a = points.subarray(p0 * dim, (p0 + size) * dim);
    bs.fill(Infinity);
    bi.fill(0);
    for (const { first, width, transposed } of chunks) {
      const out = dots.subarray(0, size * width);
      kern.matmul(a, transposed, size, dim, width, { out });
      for (let p = 0; p < size; p += 1) {
        let bestScore = bs[p] as number;
        let bestIndex = bi[p] as number;
        for (let c = 0, o = p * width; c < width; c += 1) {
          // Strictly smaller: on equal values the lower centroid (seen first) stays.
          const t = (norms[first + c] as number) - 2 * (out[o + c] as number);
          if (t < bestScore) {
            bestScore = t;
            bestIndex = first + c;
          }
        }
        bs[p] = bestScore;
        bi[p] = bestIndex;
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

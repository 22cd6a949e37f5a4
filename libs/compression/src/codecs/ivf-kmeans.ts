// The coarse quantizer of `ivf` (ivf.ts): k-means on the full dimension, FAISS style (centroids
// start at distinct sample points; an empty list is re-seeded at the point farthest from its
// centroid), and the nearest-centroid assignment of every row. A full assignment is
// points × centroids × dim multiply-adds (≈ 40 G for 100k rows × 1024 lists × 384), so it is a
// matrix product on @embpress/kernels (docs/adr/0015-wasm-simd-kernels.md): blocks of points
// times the transposed centroids, 128 centroids per call, then an argmin in JavaScript over
// ‖c‖² − 2⟨x, c⟩. The k-means steps skip most of those products with Hamerly's bounds: a point
// whose bounds prove that its list cannot change is not scanned (docs/methods/ivf.md).
// The assignment is ivf-nearest.ts, the bounds ivf-kmeans-bounds.ts; this module runs the steps.
import type { Rng } from '../core/rng';
import { Bounds } from './ivf-kmeans-bounds';
import { squaredDistance } from './ivf-nearest';
import { sampleRows } from './pq-kmeans';

export { squaredNorms, nearestCentroids } from './ivf-nearest';

/** What coarseKmeans did (for tests and measurements). */
export interface CoarseKmeansStats {
  /**
   * Points scanned against every centroid in each assignment pass: the first pass scans all of
   * them, later ones only those whose bounds could not prove their list (the final assignment,
   * when asked for, is the last pass).
   */
  scanned: number[];
  /**
   * Points compared with the few centroids that moved most (class Bounds) in each pass, before
   * any full scan: those the plain bounds could not settle (0 in the first pass).
   */
  checked: number[];
  /** Empty lists re-seeded, over all iterations. */
  reseeded: number;
}

export interface CoarseKmeansOptions {
  /**
   * Filled with each point's list against the returned centroids (length n): the assignment a
   * nearestCentroids pass over the points would give, up to near-ties, from the bounds' state.
   */
  assignment?: Uint32Array;
  stats?: CoarseKmeansStats;
}

/**
 * k-means of `n` points (row-major float32, n ≥ k) into k float32 centroids: distinct random
 * points as the start, then up to `iterations` Lloyd steps (stopping when no point moves). An
 * empty list is re-seeded at the point farthest from its centroid (each point re-seeds at most
 * one list). Deterministic for the Rng. The steps are Hamerly's (class Bounds): the same
 * assignments as full Lloyd passes except for points within float32 rounding of a tie, which
 * either may place (as nearestCentroids).
 */
export function coarseKmeans(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  iterations: number,
  rng: Rng,
  options: CoarseKmeansOptions = {},
): Float32Array {
  if (!(Number.isInteger(k) && k >= 1 && k <= n))
    throw new RangeError(`ivf k-means needs 1 <= lists <= points, got ${k} lists, ${n} points`);
  if (options.assignment !== undefined && options.assignment.length !== n)
    throw new RangeError(
      `ivf k-means: assignment has ${options.assignment.length} slots, not ${n}`,
    );
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
  const stats = options.stats;
  const bounds = new Bounds(points, n, dim, k);
  const { assignment } = bounds;
  const previous = new Float32Array(k * dim);
  const moves = new Float64Array(k);
  const sums = new Float64Array(k * dim);
  const counts = new Uint32Array(k);
  // Whether `assignment` is against the current centroids.
  let current = false;
  const pass = () => {
    const { changed, scanned, checked } = bounds.assign(centroids);
    stats?.scanned.push(scanned);
    stats?.checked.push(checked);
    current = true;
    return changed;
  };
  for (let it = 0; it < iterations; it += 1) {
    if (pass() === 0) break;
    current = false;
    previous.set(centroids);
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
    // Squared distance of each point to its centroid, only when a list is empty.
    let far: Float64Array | undefined;
    for (let c = 0; c < k; c += 1) {
      const count = counts[c] as number;
      if (count > 0) {
        for (let j = 0; j < dim; j += 1)
          centroids[c * dim + j] = (sums[c * dim + j] as number) / count;
        continue;
      }
      // Empty list: the point farthest from its centroid (as assigned in this step).
      far ??= bounds.distances(previous);
      let at = 0;
      let atDist = -Infinity;
      for (let i = 0; i < n; i += 1) {
        const dist = far[i] as number;
        if (dist > atDist) {
          atDist = dist;
          at = i;
        }
      }
      centroids.set(points.subarray(at * dim, at * dim + dim), c * dim);
      far[at] = -Infinity; // never picked twice
      if (stats !== undefined) stats.reseeded += 1;
    }
    for (let c = 0; c < k; c += 1)
      moves[c] = Math.sqrt(squaredDistance(centroids, c * dim, previous, c * dim, dim));
    bounds.moved(moves);
  }
  if (options.assignment !== undefined) {
    if (!current) pass();
    options.assignment.set(assignment);
  }
  return centroids;
}

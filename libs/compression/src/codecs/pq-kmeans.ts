// k-means for the product quantizer (pq.ts): deterministic training-row sampling, k-means++
// seeding and Lloyd iterations on one sub-space at a time. Typed arrays only; the assignment loop
// costs O(points · k · d) per iteration and allocates nothing.
import { Rng } from '../core/rng';

/**
 * `count` distinct row indices of [0, rows), ascending, drawn uniformly with Knuth's selection
 * sampling (Algorithm S): one pass, no index array of `rows` entries, deterministic for the Rng.
 * All rows when count >= rows.
 */
export function sampleRows(rows: number, count: number, rng: Rng): Uint32Array {
  if (count >= rows) return Uint32Array.from({ length: rows }, (_, i) => i);
  const out = new Uint32Array(count);
  let taken = 0;
  for (let t = 0; t < rows && taken < count; t += 1) {
    if ((rows - t) * rng.next() < count - taken) {
      out[taken] = t;
      taken += 1;
    }
  }
  return out;
}

export interface KMeansResult {
  /** k × d centroids, row-major. */
  centroids: Float64Array;
  /** Nearest centroid of each point after the last assignment. */
  assignment: Uint32Array;
  /**
   * Σ ‖x − c(x)‖² after each assignment step: [initial seeding, iteration 1, ...]. Non-increasing
   * (Lloyd steps and farthest-point re-seeding never increase it).
   */
  objective: number[];
  /** Lloyd iterations run (fewer than asked when an assignment changed nothing). */
  iterations: number;
}

/**
 * Prepares k centroids of dimension d (row-major, starting at `offset` of `centroids`) for
 * `nearestCentroid`: `transposed` (d × k) and `norms` (‖c‖², k).
 */
export function prepareCentroids(
  centroids: Float32Array | Float64Array,
  offset: number,
  k: number,
  d: number,
  transposed: Float64Array,
  norms: Float64Array,
): void {
  for (let c = 0; c < k; c += 1) {
    let s = 0;
    for (let j = 0; j < d; j += 1) {
      const v = centroids[offset + c * d + j] as number;
      transposed[j * k + c] = v;
      s += v * v;
    }
    norms[c] = s;
  }
}

/**
 * argmin_c ‖c‖² − 2⟨x, c⟩ (= the nearest centroid; ties → lowest index) of the point
 * points[at .. at + d), with `acc` (k values) as scratch. The centroids come transposed, so each
 * pass runs over all k centroids for a block of 8 or 4 coordinates (long, branch-free inner loops
 * that V8 compiles well), and the last 1-4 coordinates are fused with the argmin: about 2-3× faster
 * than a per-centroid dot-product loop.
 */
export function nearestCentroid(
  points: Float64Array,
  at: number,
  d: number,
  transposed: Float64Array,
  k: number,
  norms: Float64Array,
  acc: Float64Array,
): number {
  const t = transposed;
  let j = 0;
  if (d > 4) acc.set(norms);
  for (; d - j >= 12; j += 8) {
    const x0 = -2 * (points[at + j] as number);
    const x1 = -2 * (points[at + j + 1] as number);
    const x2 = -2 * (points[at + j + 2] as number);
    const x3 = -2 * (points[at + j + 3] as number);
    const x4 = -2 * (points[at + j + 4] as number);
    const x5 = -2 * (points[at + j + 5] as number);
    const x6 = -2 * (points[at + j + 6] as number);
    const x7 = -2 * (points[at + j + 7] as number);
    const r = j * k;
    for (let c = 0; c < k; c += 1)
      acc[c] =
        (acc[c] as number) +
        x0 * (t[r + c] as number) +
        x1 * (t[r + k + c] as number) +
        x2 * (t[r + 2 * k + c] as number) +
        x3 * (t[r + 3 * k + c] as number) +
        x4 * (t[r + 4 * k + c] as number) +
        x5 * (t[r + 5 * k + c] as number) +
        x6 * (t[r + 6 * k + c] as number) +
        x7 * (t[r + 7 * k + c] as number);
  }
  for (; d - j > 4; j += 4) {
    const x0 = -2 * (points[at + j] as number);
    const x1 = -2 * (points[at + j + 1] as number);
    const x2 = -2 * (points[at + j + 2] as number);
    const x3 = -2 * (points[at + j + 3] as number);
    const r = j * k;
    for (let c = 0; c < k; c += 1)
      acc[c] =
        (acc[c] as number) +
        x0 * (t[r + c] as number) +
        x1 * (t[r + k + c] as number) +
        x2 * (t[r + 2 * k + c] as number) +
        x3 * (t[r + 3 * k + c] as number);
  }
  // The last 1-4 coordinates, fused with the argmin.
  const rest = d - j;
  const r = j * k;
  const a = j === 0 ? norms : acc;
  const x0 = -2 * (points[at + j] as number);
  const x1 = rest > 1 ? -2 * (points[at + j + 1] as number) : 0;
  const x2 = rest > 2 ? -2 * (points[at + j + 2] as number) : 0;
  const x3 = rest > 3 ? -2 * (points[at + j + 3] as number) : 0;
  let best = 0;
  let bestScore = Infinity;
  if (rest === 1) {
    for (let c = 0; c < k; c += 1) {
      const s = (a[c] as number) + x0 * (t[r + c] as number);
      if (s < bestScore) {
        bestScore = s;
        best = c;
      }
    }
  } else if (rest === 2) {
    for (let c = 0; c < k; c += 1) {
      const s = (a[c] as number) + x0 * (t[r + c] as number) + x1 * (t[r + k + c] as number);
      if (s < bestScore) {
        bestScore = s;
        best = c;
      }
    }
  } else if (rest === 3) {
    for (let c = 0; c < k; c += 1) {
      const s =
        (a[c] as number) +
        x0 * (t[r + c] as number) +
        x1 * (t[r + k + c] as number) +
        x2 * (t[r + 2 * k + c] as number);
      if (s < bestScore) {
        bestScore = s;
        best = c;
      }
    }
  } else {
    for (let c = 0; c < k; c += 1) {
      const s =
        (a[c] as number) +
        x0 * (t[r + c] as number) +
        x1 * (t[r + k + c] as number) +
        x2 * (t[r + 2 * k + c] as number) +
        x3 * (t[r + 3 * k + c] as number);
      if (s < bestScore) {
        bestScore = s;
        best = c;
      }
    }
  }
  return best;
}

/** Scratch buffers of one k-means / encoding pass over k centroids of dimension d. */
interface Prepared {
  transposed: Float64Array;
  norms: Float64Array;
  acc: Float64Array;
}

/**
 * Assigns every point to its nearest centroid and records the exact squared distance to it.
 * Returns the number of points whose assignment changed and the objective Σ distances.
 */
function assign(
  points: Float64Array,
  n: number,
  d: number,
  centroids: Float64Array,
  k: number,
  prepared: Prepared,
  assignment: Uint32Array,
  dist: Float64Array,
): { changed: number; objective: number } {
  const { transposed, norms, acc } = prepared;
  prepareCentroids(centroids, 0, k, d, transposed, norms);
  let changed = 0;
  let objective = 0;
  for (let i = 0; i < n; i += 1) {
    const x = i * d;
    const best = nearestCentroid(points, x, d, transposed, k, norms, acc);
    let exact = 0;
    const y = best * d;
    for (let j = 0; j < d; j += 1) {
      const diff = (points[x + j] as number) - (centroids[y + j] as number);
      exact += diff * diff;
    }
    dist[i] = exact;
    objective += exact;
    if (assignment[i] !== best) {
      assignment[i] = best;
      changed += 1;
    }
  }
  return { changed, objective };
}

/** k-means++ seeding (D² sampling); falls back to a uniform pick when every D² is zero. */
function seedPlusPlus(
  points: Float64Array,
  n: number,
  d: number,
  k: number,
  rng: Rng,
  centroids: Float64Array,
): void {
  const nearest = new Float64Array(n).fill(Infinity);
  let pick = rng.int(0, n);
  for (let c = 0; ; c += 1) {
    centroids.set(points.subarray(pick * d, pick * d + d), c * d);
    if (c === k - 1) return;
    let total = 0;
    for (let i = 0; i < n; i += 1) {
      let s = 0;
      for (let j = 0; j < d; j += 1) {
        const diff = (points[i * d + j] as number) - (centroids[c * d + j] as number);
        s += diff * diff;
      }
      if (s < (nearest[i] as number)) nearest[i] = s;
      total += nearest[i] as number;
    }
    if (!(total > 0)) {
      pick = rng.int(0, n);
      continue;
    }
    // Walk the cumulative D² to the drawn target; rounding can leave it unreached, then the last
    // point with a positive D² is taken (never an already chosen point).
    let target = rng.next() * total;
    pick = -1;
    for (let i = 0; i < n; i += 1) {
      const w = nearest[i] as number;
      if (w <= 0) continue;
      pick = i;
      target -= w;
      if (target < 0) break;
    }
  }
}

/**
 * k-means of `n` points of dimension `d` (row-major `points`) into `k` ≤ n clusters: k-means++ seeds,
 * then up to `iterations` Lloyd steps, stopping early when no assignment changes. An empty cluster
 * is re-seeded at the point currently farthest from its centroid (each point re-seeds at most one).
 */
export function kmeans(
  points: Float64Array,
  n: number,
  d: number,
  k: number,
  iterations: number,
  rng: Rng,
): KMeansResult {
  if (!(Number.isInteger(k) && k >= 1 && k <= n))
    throw new RangeError(`k-means needs 1 <= k <= points, got k=${k}, points=${n}`);
  const centroids = new Float64Array(k * d);
  seedPlusPlus(points, n, d, k, rng, centroids);
  const prepared: Prepared = {
    transposed: new Float64Array(k * d),
    norms: new Float64Array(k),
    acc: new Float64Array(k),
  };
  const assignment = new Uint32Array(n).fill(0xffffffff);
  const dist = new Float64Array(n);
  const sums = new Float64Array(k * d);
  const counts = new Uint32Array(k);
  const objective = [assign(points, n, d, centroids, k, prepared, assignment, dist).objective];
  let it = 0;
  while (it < iterations) {
    it += 1;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i += 1) {
      const c = assignment[i] as number;
      counts[c] = (counts[c] as number) + 1;
      for (let j = 0; j < d; j += 1)
        sums[c * d + j] = (sums[c * d + j] as number) + (points[i * d + j] as number);
    }
    for (let c = 0; c < k; c += 1) {
      const count = counts[c] as number;
      if (count > 0) {
        for (let j = 0; j < d; j += 1) centroids[c * d + j] = (sums[c * d + j] as number) / count;
        continue;
      }
      let far = 0;
      for (let i = 1; i < n; i += 1) if ((dist[i] as number) > (dist[far] as number)) far = i;
      centroids.set(points.subarray(far * d, far * d + d), c * d);
      dist[far] = 0;
    }
    const step = assign(points, n, d, centroids, k, prepared, assignment, dist);
    objective.push(step.objective);
    if (step.changed === 0) break;
  }
  return { centroids, assignment, objective, iterations: it };
}

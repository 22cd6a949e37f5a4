// The coarse quantizer of `ivf` (ivf.ts): k-means on the full dimension, FAISS style (centroids
// start at distinct sample points; an empty list is re-seeded at the point farthest from its
// centroid), and the nearest-centroid assignment of every row. A full assignment is
// points × centroids × dim multiply-adds (≈ 40 G for 100k rows × 1024 lists × 384), so it is a
// matrix product on @embpress/kernels (docs/adr/0015-wasm-simd-kernels.md): blocks of points
// times the transposed centroids, 128 centroids per call, then an argmin in JavaScript over
// ‖c‖² − 2⟨x, c⟩. The k-means steps skip most of those products with Hamerly's bounds: a point
// whose bounds prove that its list cannot change is not scanned (docs/methods/ivf.md).
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

/** The centroids transposed, chunk by chunk: B of each matmul call is [dim × width], row-major. */
interface CentroidChunk {
  first: number;
  width: number;
  transposed: Float32Array;
}

function transposeChunks(centroids: Float32Array, k: number, dim: number): CentroidChunk[] {
  const chunks: CentroidChunk[] = [];
  for (let first = 0; first < k; first += CENTROID_CHUNK) {
    const width = Math.min(CENTROID_CHUNK, k - first);
    const transposed = new Float32Array(dim * width);
    for (let c = 0; c < width; c += 1) {
      const src = (first + c) * dim;
      for (let j = 0; j < dim; j += 1) transposed[j * width + c] = centroids[src + j] as number;
    }
    chunks.push({ first, width, transposed });
  }
  return chunks;
}

/**
 * nearestCentroids on chunks already transposed; `second` (when given) receives each point's
 * second smallest value of ‖c‖² − 2⟨x, c⟩ over the other centroids (Infinity when k = 1).
 */
function scanCentroids(
  points: Float32Array,
  count: number,
  dim: number,
  chunks: readonly CentroidChunk[],
  k: number,
  norms: Float64Array,
  best: Uint32Array,
  score?: Float64Array,
  second?: Float64Array,
): void {
  const kern = kernels();
  const block = Math.min(POINT_BLOCK, count);
  const dots = new Float32Array(block * Math.min(CENTROID_CHUNK, k));
  const bs = new Float64Array(block);
  const bs2 = new Float64Array(block);
  const bi = new Uint32Array(block);
  for (let p0 = 0; p0 < count; p0 += block) {
    const size = Math.min(block, count - p0);
    const a = points.subarray(p0 * dim, (p0 + size) * dim);
    bs.fill(Infinity);
    bs2.fill(Infinity);
    bi.fill(0);
    for (const { first, width, transposed } of chunks) {
      const out = dots.subarray(0, size * width);
      kern.matmul(a, transposed, size, dim, width, { out });
      for (let p = 0; p < size; p += 1) {
        let bestScore = bs[p] as number;
        let secondScore = bs2[p] as number;
        let bestIndex = bi[p] as number;
        for (let c = 0, o = p * width; c < width; c += 1) {
          // Strictly smaller: on equal values the lower centroid (seen first) stays.
          const t = (norms[first + c] as number) - 2 * (out[o + c] as number);
          if (t < bestScore) {
            secondScore = bestScore;
            bestScore = t;
            bestIndex = first + c;
          } else if (t < secondScore) secondScore = t;
        }
        bs[p] = bestScore;
        bs2[p] = secondScore;
        bi[p] = bestIndex;
      }
    }
    for (let p = 0; p < size; p += 1) {
      best[p0 + p] = bi[p] as number;
      if (score !== undefined) score[p0 + p] = bs[p] as number;
      if (second !== undefined) second[p0 + p] = bs2[p] as number;
    }
  }
}

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
  scanCentroids(points, count, dim, transposeChunks(centroids, k, dim), k, norms, best, score);
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

/** ‖a[ao..] − b[bo..]‖² over dim values, in float64. */
function squaredDistance(
  a: Float32Array,
  ao: number,
  b: Float32Array,
  bo: number,
  dim: number,
): number {
  let s = 0;
  for (let j = 0; j < dim; j += 1) s += ((a[ao + j] as number) - (b[bo + j] as number)) ** 2;
  return s;
}

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

/** A point not yet assigned (before the first pass). */
const NONE = 0xffffffff;
/**
 * Relative slack on the bound test for the float64 rounding of norms, distances and the bounds'
 * running sums (each ~2^−53 relative, a few dozen operations per point).
 */
const F64_SLACK = 1 + 1e-9;

/**
 * Hamerly's bounded Lloyd steps (docs/methods/ivf.md): per point an upper bound on the distance
 * (not squared) to its assigned centroid and a lower bound on the distance to every other one;
 * per centroid s = half the distance to its nearest other centroid. A point with upper < max(s,
 * lower) keeps its list without a scan (triangle inequality); when the centroids move, upper
 * grows by its centroid's move and lower shrinks by the largest move of the others.
 *
 * One addition: a few centroids can move far while most are still (a re-seeded list, a centroid
 * leaving a cluster it shared), and Hamerly's single lower bound shrinks by the largest move for
 * every point. So each pass may take the `movers`, the centroids that moved most, out of the
 * shrink: lower shrinks by the largest move of the others, and a point it does not settle is
 * compared with the movers themselves (their distances, one small matmul) before a full scan.
 */
class Bounds {
  readonly assignment: Uint32Array;
  private readonly upper: Float64Array;
  private readonly lower: Float64Array;
  private readonly xNorms: Float64Array;
  private readonly gathered: Float32Array;
  /** How far each centroid moved since the last pass (undefined before the first one). */
  private moves: Float64Array | undefined;

  constructor(
    private readonly points: Float32Array,
    private readonly n: number,
    private readonly dim: number,
    private readonly k: number,
  ) {
    this.assignment = new Uint32Array(n).fill(NONE);
    this.upper = new Float64Array(n).fill(Infinity);
    this.lower = new Float64Array(n);
    this.xNorms = pointNorms(points, n, dim);
    this.gathered = new Float32Array(Math.min(POINT_BLOCK, n) * dim);
  }

  /**
   * Margin on a squared distance ‖x‖² + ‖c‖² − 2⟨x, c⟩ whose ⟨x, c⟩ came from the kernels'
   * matmul: twice its stated bound (2^−20·(dim + 9)·Σ|x·c| per dot product,
   * libs/kernels/README.md) on 2⟨x, c⟩, with Σ|x·c| ≤ ‖x‖·‖c‖ ≤ (‖x‖² + ‖c‖²)/2, which also
   * covers the float64 rounding of the norms. Bounds built from matmul scores give up this much,
   * so a point within it of a tie is scanned again, as it would be by Lloyd's full pass.
   */
  private margin(squaredNorms: number): number {
    return 2 ** -19 * (this.dim + 9) * squaredNorms;
  }

  /** The centroids moved by `moves` (the distance of each) since the last pass. */
  moved(moves: Float64Array): void {
    this.moves = moves;
  }

  /**
   * Assigns every point to its nearest centroid, scanning only those the bounds cannot settle.
   * Returns how many points changed list, were scanned and were compared with the movers.
   */
  assign(centroids: Float32Array): { changed: number; scanned: number; checked: number } {
    const { n, dim, k } = this;
    const norms = centroidNorms(centroids, k, dim);
    const chunks = transposeChunks(centroids, k, dim);
    let cMax = 0;
    for (let c = 0; c < k; c += 1) cMax = Math.max(cMax, norms[c] as number);
    const { failing, checked } =
      this.moves === undefined
        ? { failing: Array.from({ length: n }, (_, i) => i), checked: 0 }
        : this.settle(centroids, norms, cMax, chunks, this.moves);
    this.moves = undefined;
    const changed = this.scan(centroids, norms, cMax, chunks, failing);
    return { changed, scanned: failing.length, checked };
  }

  /**
   * Moves every point's bounds by the centroids' moves and returns the points they leave
   * unsettled (ascending) and how many it compared with the movers, tightening upper bounds and checking against the movers on the way.
   */
  private settle(
    centroids: Float32Array,
    norms: Float64Array,
    cMax: number,
    chunks: readonly CentroidChunk[],
    moves: Float64Array,
  ): { failing: number[]; checked: number } {
    const { points, n, dim, k, assignment, upper, lower } = this;
    const half = this.halfGaps(centroids, chunks, norms, cMax);
    const order = Array.from({ length: k }, (_, c) => c).sort(
      (a, b) => (moves[b] as number) - (moves[a] as number) || a - b,
    );
    // The j-th largest move (0 past the end).
    const moveAt = (j: number) => (j < k ? (moves[order[j] as number] as number) : 0);
    const movers = this.chooseMovers(half, moves, moveAt);
    const failing: number[] = [];
    // Points that only the movers' own distances can settle.
    const check: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const a = assignment[i] as number;
      let u = (upper[i] as number) + (moves[a] as number);
      upper[i] = u;
      // The others' largest move: the runner-up when the point's own centroid moved most.
      const l0 = lower[i] as number;
      const all = l0 - (a === order[0] ? moveAt(1) : moveAt(0));
      lower[i] = all;
      const bound = Math.max(half[a] as number, all);
      if (u * F64_SLACK < bound) continue;
      // The upper bound may be loose from earlier moves: tighten it to the distance itself.
      u = Math.sqrt(squaredDistance(points, i * dim, centroids, a * dim, dim));
      upper[i] = u;
      if (u * F64_SLACK < bound) continue;
      if (movers > 0) {
        // Without the movers, lower shrinks by the largest move of the rest.
        const rest = l0 - (a === order[movers] ? moveAt(movers + 1) : moveAt(movers));
        if (u * F64_SLACK < Math.max(half[a] as number, rest)) {
          lower[i] = rest; // checkMovers takes the minimum with the movers' distances
          check.push(i);
          continue;
        }
      }
      failing.push(i);
    }
    if (check.length > 0)
      this.checkMovers(centroids, norms, cMax, half, order.slice(0, movers), check, failing);
    return { failing: failing.sort((a, b) => a - b), checked: check.length };
  }

  /**
   * How many of the largest movers to leave out of the shrink: the count (0, 1, 2, 4, … up to
   * k/8) that minimises the estimated dot products, k per scanned point plus `movers` per point
   * that needs the movers' distances, counting with the bounds before they are tightened.
   */
  private chooseMovers(
    half: Float64Array,
    moves: Float64Array,
    moveAt: (j: number) => number,
  ): number {
    const { n, k, assignment, upper, lower } = this;
    const candidates = [0];
    for (let m = 1; m <= k / 8; m *= 2) candidates.push(m);
    // Points the half-gap test settles, and those each candidate's shrink leaves settled.
    let byHalf = 0;
    const settled = new Array<number>(candidates.length).fill(0);
    for (let i = 0; i < n; i += 1) {
      const a = assignment[i] as number;
      const u = (upper[i] as number) + (moves[a] as number);
      if (u < (half[a] as number)) {
        byHalf += 1;
        continue;
      }
      const room = (lower[i] as number) - u; // the largest shrink that keeps point i settled
      for (let j = 0; j < candidates.length; j += 1)
        if (moveAt(candidates[j] as number) < room) settled[j] = (settled[j] as number) + 1;
    }
    let best = 0;
    let bestCost = Infinity;
    for (let j = 0; j < candidates.length; j += 1) {
      const m = candidates[j] as number;
      const s = settled[j] as number;
      const cost = (n - byHalf - s) * k + (s - (settled[0] as number)) * m;
      if (cost < bestCost) {
        bestCost = cost;
        best = m;
      }
    }
    return best;
  }

  /**
   * The points of `check` against the movers (their exact distances, from the matmul less its
   * margin): settled when max(s, min(lower, distance to the nearest other mover)) still clears
   * the upper bound, else appended to `failing`.
   */
  private checkMovers(
    centroids: Float32Array,
    norms: Float64Array,
    cMax: number,
    half: Float64Array,
    movers: readonly number[],
    check: readonly number[],
    failing: number[],
  ): void {
    const { points, dim, assignment, upper, lower, xNorms, gathered } = this;
    const width = movers.length;
    const transposed = new Float32Array(dim * width);
    for (let m = 0; m < width; m += 1) {
      const src = (movers[m] as number) * dim;
      for (let j = 0; j < dim; j += 1) transposed[j * width + m] = centroids[src + j] as number;
    }
    const kern = kernels();
    const block = Math.min(POINT_BLOCK, check.length);
    const dots = new Float32Array(block * width);
    for (let f0 = 0; f0 < check.length; f0 += block) {
      const size = Math.min(block, check.length - f0);
      for (let p = 0; p < size; p += 1) {
        const src = (check[f0 + p] as number) * dim;
        gathered.set(points.subarray(src, src + dim), p * dim);
      }
      const out = dots.subarray(0, size * width);
      kern.matmul(gathered.subarray(0, size * dim), transposed, size, dim, width, { out });
      for (let p = 0; p < size; p += 1) {
        const i = check[f0 + p] as number;
        const a = assignment[i] as number;
        const x2 = xNorms[i] as number;
        let nearest = Infinity;
        for (let m = 0; m < width; m += 1) {
          const c = movers[m] as number;
          if (c === a) continue;
          const d2 = x2 + (norms[c] as number) - 2 * (out[p * width + m] as number);
          if (d2 < nearest) nearest = d2;
        }
        const l = Math.min(
          lower[i] as number,
          Math.sqrt(Math.max(0, nearest - this.margin(x2 + cMax))),
        );
        if ((upper[i] as number) * F64_SLACK < Math.max(half[a] as number, l)) lower[i] = l;
        else failing.push(i);
      }
    }
  }

  /**
   * Scans the points of `failing` against every centroid (gathered into blocks for the matmul):
   * their lists and both bounds anew. Returns how many changed list.
   */
  private scan(
    centroids: Float32Array,
    norms: Float64Array,
    cMax: number,
    chunks: readonly CentroidChunk[],
    failing: readonly number[],
  ): number {
    const { points, n, dim, k, assignment, upper, lower, xNorms, gathered } = this;
    const block = Math.min(POINT_BLOCK, n);
    const best = new Uint32Array(block);
    const second = new Float64Array(block);
    let changed = 0;
    for (let f0 = 0; f0 < failing.length; f0 += block) {
      const size = Math.min(block, failing.length - f0);
      for (let p = 0; p < size; p += 1) {
        const src = (failing[f0 + p] as number) * dim;
        gathered.set(points.subarray(src, src + dim), p * dim);
      }
      scanCentroids(gathered, size, dim, chunks, k, norms, best, undefined, second);
      for (let p = 0; p < size; p += 1) {
        const i = failing[f0 + p] as number;
        const c = best[p] as number;
        if (c !== assignment[i]) changed += 1;
        assignment[i] = c;
        upper[i] = Math.sqrt(squaredDistance(points, i * dim, centroids, c * dim, dim));
        const x2 = xNorms[i] as number;
        // Infinity when k = 1 (no other centroid).
        lower[i] = Math.sqrt(Math.max(0, x2 + (second[p] as number) - this.margin(x2 + cMax)));
      }
    }
    return changed;
  }

  /**
   * s of each centroid: half the distance to its nearest other centroid (a lower bound: the
   * centroids' own dot products come from the matmul, less its margin). Infinity when k = 1.
   */
  private halfGaps(
    centroids: Float32Array,
    chunks: readonly CentroidChunk[],
    norms: Float64Array,
    cMax: number,
  ): Float64Array {
    const { dim, k } = this;
    const nearest = new Float64Array(k).fill(Infinity);
    const kern = kernels();
    const out = new Float32Array(k * Math.min(CENTROID_CHUNK, k));
    for (const { first, width, transposed } of chunks) {
      const dots = out.subarray(0, k * width);
      kern.matmul(centroids, transposed, k, dim, width, { out: dots });
      for (let c = 0; c < k; c += 1) {
        let m = nearest[c] as number;
        const nc = norms[c] as number;
        for (let o = 0; o < width; o += 1) {
          if (first + o === c) continue;
          const d2 = nc + (norms[first + o] as number) - 2 * (dots[c * width + o] as number);
          if (d2 < m) m = d2;
        }
        nearest[c] = m;
      }
    }
    const margin = this.margin(2 * cMax);
    for (let c = 0; c < k; c += 1)
      nearest[c] = 0.5 * Math.sqrt(Math.max(0, (nearest[c] as number) - margin));
    return nearest;
  }

  /** ‖x − c‖² of every point to its assigned centroid (float64), for re-seeding empty lists. */
  distances(centroids: Float32Array): Float64Array {
    const { points, n, dim, assignment } = this;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i += 1)
      out[i] = squaredDistance(points, i * dim, centroids, (assignment[i] as number) * dim, dim);
    return out;
  }
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

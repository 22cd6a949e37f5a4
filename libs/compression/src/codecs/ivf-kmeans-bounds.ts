// Hamerly's bounds for the IVF coarse k-means (ivf-kmeans.ts, docs/methods/ivf.md): per point an
// upper and a lower bound, per centroid half the gap to its nearest other one, so that a Lloyd
// pass scans only the points whose list the bounds cannot prove; the movers (the few centroids
// that moved most) are checked apart. The scans themselves are ivf-nearest.ts's matmul.
import { kernels } from '@embpress/kernels';
import {
  CENTROID_CHUNK,
  POINT_BLOCK,
  squaredNorms,
  scanCentroids,
  squaredDistance,
  transposeChunks,
  type CentroidChunk,
} from './ivf-nearest';

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
export class Bounds {
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
    this.xNorms = squaredNorms(points, n, dim);
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
    const norms = squaredNorms(centroids, k, dim);
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

// The nearest-centroid assignment of the IVF coarse quantizer (ivf-kmeans.ts, ivf.ts): a full
// assignment is points × centroids × dim multiply-adds (≈ 40 G for 100k rows × 1024 lists × 384),
// so it is a matrix product on @embpress/kernels (docs/adr/0015-wasm-simd-kernels.md): blocks of
// points times the transposed centroids, 128 centroids per call, then an argmin in JavaScript over
// ‖c‖² − 2⟨x, c⟩. Also the centroid and distance helpers the k-means steps share.
import { kernels } from '@embpress/kernels';

/** ‖r‖² of each of `count` rows (count × dim, row-major): centroids or points, in float64. */
export function squaredNorms(rows: Float32Array, count: number, dim: number): Float64Array {
  const norms = new Float64Array(count);
  for (let r = 0; r < count; r += 1) {
    let s = 0;
    for (let j = 0, o = r * dim; j < dim; j += 1) s += (rows[o + j] as number) ** 2;
    norms[r] = s;
  }
  return norms;
}

/**
 * Centroids per matmul call: their transposed block (dim × 128 floats, 192 KB at dim 384) stays
 * in cache while a block of points passes; measured ~1.5× the GFLOP/s of one call over all 1024
 * centroids on the dev machine (the kernel walks all of B for every 4 rows of A).
 */
export const CENTROID_CHUNK = 128;
/** Points per block: 1024 × dim floats in, 1024 × 128 dot products out per call. */
export const POINT_BLOCK = 1024;

/** The centroids transposed, chunk by chunk: B of each matmul call is [dim × width], row-major. */
export interface CentroidChunk {
  first: number;
  width: number;
  transposed: Float32Array;
}

export function transposeChunks(centroids: Float32Array, k: number, dim: number): CentroidChunk[] {
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
export function scanCentroids(
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

/** ‖a[ao..] − b[bo..]‖² over dim values, in float64. */
export function squaredDistance(
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

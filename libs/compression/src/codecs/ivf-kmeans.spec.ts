import { Rng } from '../core/rng';
import { squaredNorms, coarseKmeans, nearestCentroids, type CoarseKmeansStats } from './ivf-kmeans';
import { sampleRows } from './pq-kmeans';

function bruteNearest(points: Float32Array, n: number, dim: number, cs: Float32Array, k: number) {
  const out = new Uint32Array(n);
  for (let p = 0; p < n; p += 1) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < k; c += 1) {
      let d = 0;
      for (let j = 0; j < dim; j += 1)
        d += ((points[p * dim + j] as number) - (cs[c * dim + j] as number)) ** 2;
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    out[p] = best;
  }
  return out;
}

describe('ivf coarse quantizer', () => {
  it('finds the nearest centroid of every point (blocks, tiles and their remainders)', () => {
    const rng = new Rng(5);
    for (const [n, k, dim] of [
      [1, 1, 3],
      [7, 3, 5],
      [70, 9, 6],
      [33, 2, 1],
    ] as const) {
      const points = new Float32Array(n * dim).map(() => rng.normal());
      const cs = new Float32Array(k * dim).map(() => rng.normal());
      const best = new Uint32Array(n);
      const score = new Float64Array(n);
      nearestCentroids(points, n, dim, cs, k, squaredNorms(cs, k, dim), best, score);
      expect(best).toEqual(bruteNearest(points, n, dim, cs, k));
      for (let p = 0; p < n; p += 1) {
        let norm = 0;
        let d = 0;
        const c = best[p] as number;
        for (let j = 0; j < dim; j += 1) {
          norm += (points[p * dim + j] as number) ** 2;
          d += ((points[p * dim + j] as number) - (cs[c * dim + j] as number)) ** 2;
        }
        expect((score[p] as number) + norm).toBeCloseTo(d, 4);
      }
    }
  });

  it('recovers well-separated clusters, deterministically for a seed, without empty lists', () => {
    const rng = new Rng(2);
    const dim = 4;
    const centres = [
      [10, 0, 0, 0],
      [0, 10, 0, 0],
      [0, 0, 10, 0],
      [0, 0, 0, 10],
    ];
    const n = 400;
    const points = new Float32Array(n * dim);
    for (let p = 0; p < n; p += 1)
      for (let j = 0; j < dim; j += 1)
        points[p * dim + j] = ((centres[p % 4] as number[])[j] as number) + 0.1 * rng.normal();
    const a = coarseKmeans(points, n, dim, 4, 10, new Rng(9));
    expect(coarseKmeans(points, n, dim, 4, 10, new Rng(9))).toEqual(a);
    const found = Array.from(
      { length: 4 },
      (_, c) => Array.from(a.subarray(c * dim, (c + 1) * dim)).map((v) => Math.round(v) + 0), // + 0: no -0
    );
    expect(found.sort()).toEqual([...centres].sort());
    // More lists than clusters: the empty ones are re-seeded, every list gets points.
    const many = coarseKmeans(points, n, dim, 12, 10, new Rng(1));
    const best = new Uint32Array(n);
    nearestCentroids(points, n, dim, many, 12, squaredNorms(many, 12, dim), best);
    expect(new Set(best).size).toBe(12);
    expect(() => coarseKmeans(points, 3, dim, 4, 1, new Rng(1))).toThrow(RangeError);
  });
});

/**
 * Plain Lloyd k-means in float64, every point against every centroid each step, with
 * coarseKmeans' start and re-seeding: what the bounded version must reproduce. `gap` is the
 * smallest gap between a point's nearest and second nearest squared distance seen in any
 * assignment, over ‖x‖² + max ‖c‖² (the scale of the kernels' float32 error on it): a test is
 * only meaningful when no point is near a tie.
 */
function lloydReference(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  iterations: number,
  rng: Rng,
) {
  const centroids = new Float32Array(k * dim);
  const start = sampleRows(n, k, rng);
  for (let i = k - 1; i > 0; i -= 1) {
    const j = rng.int(0, i + 1);
    const t = start[i] as number;
    start[i] = start[j] as number;
    start[j] = t;
  }
  for (let c = 0; c < k; c += 1)
    centroids.set(
      points.subarray((start[c] as number) * dim, (start[c] as number) * dim + dim),
      c * dim,
    );
  let gap = Infinity;
  let reseeded = 0;
  const assign = () => {
    let cMax = 0;
    for (let c = 0; c < k; c += 1) {
      let s = 0;
      for (let j = 0; j < dim; j += 1) s += (centroids[c * dim + j] as number) ** 2;
      cMax = Math.max(cMax, s);
    }
    const assignment = new Uint32Array(n);
    const dist = new Float64Array(n);
    for (let p = 0; p < n; p += 1) {
      let best = Infinity;
      let second = Infinity;
      let x2 = 0;
      for (let j = 0; j < dim; j += 1) x2 += (points[p * dim + j] as number) ** 2;
      for (let c = 0; c < k; c += 1) {
        let d = 0;
        for (let j = 0; j < dim; j += 1)
          d += ((points[p * dim + j] as number) - (centroids[c * dim + j] as number)) ** 2;
        if (d < best) {
          second = best;
          best = d;
          assignment[p] = c;
        } else if (d < second) second = d;
      }
      dist[p] = best;
      if (k > 1) gap = Math.min(gap, (second - best) / (x2 + cMax));
    }
    return { assignment, dist };
  };
  let previous = new Uint32Array(n).fill(0xffffffff);
  for (let it = 0; it < iterations; it += 1) {
    const { assignment, dist } = assign();
    const changed = assignment.some((c, i) => c !== previous[i]);
    previous = assignment;
    if (!changed) return { centroids, assignment, gap, reseeded };
    const sums = new Float64Array(k * dim);
    const counts = new Uint32Array(k);
    for (let i = 0; i < n; i += 1) {
      const c = assignment[i] as number;
      counts[c] = (counts[c] as number) + 1;
      for (let j = 0; j < dim; j += 1)
        sums[c * dim + j] = (sums[c * dim + j] as number) + (points[i * dim + j] as number);
    }
    for (let c = 0; c < k; c += 1) {
      const count = counts[c] as number;
      if (count > 0) {
        for (let j = 0; j < dim; j += 1)
          centroids[c * dim + j] = (sums[c * dim + j] as number) / count;
        continue;
      }
      let far = 0;
      for (let i = 1; i < n; i += 1) if ((dist[i] as number) > (dist[far] as number)) far = i;
      centroids.set(points.subarray(far * dim, far * dim + dim), c * dim);
      dist[far] = -Infinity;
      reseeded += 1;
    }
  }
  return { centroids, assignment: assign().assignment, gap, reseeded };
}

/** Bounded k-means against the reference: same centroids (bit for bit), lists and re-seeds. */
function expectLloyd(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  iterations: number,
  seed: number,
): CoarseKmeansStats {
  const ref = lloydReference(points, n, dim, k, iterations, new Rng(seed));
  // Well separated: every point 4× farther from a tie than the kernels' bound on a difference
  // of two of its scores (2 · 2^−20·(dim + 9)·‖x‖‖c‖, libs/kernels/README.md).
  // Well separated: no point near a tie in any step, where float32 rounding (about 2^−24·√dim
  // of ‖x‖‖c‖ per dot product, libs/kernels/README.md has the worst case) could pick either.
  if (k > 1) expect(ref.gap).toBeGreaterThan(2 ** -22 * Math.sqrt(dim));
  const stats: CoarseKmeansStats = { scanned: [], checked: [], reseeded: 0 };
  const assignment = new Uint32Array(n);
  const centroids = coarseKmeans(points, n, dim, k, iterations, new Rng(seed), {
    assignment,
    stats,
  });
  expect(centroids).toEqual(ref.centroids);
  expect(assignment).toEqual(ref.assignment);
  expect(stats.reseeded).toBe(ref.reseeded);
  // The returned assignment is that of a full pass against the returned centroids.
  const full = new Uint32Array(n);
  nearestCentroids(points, n, dim, centroids, k, squaredNorms(centroids, k, dim), full);
  expect(assignment).toEqual(full);
  expect(stats.scanned[0]).toBe(n);
  return stats;
}

function normalPoints(n: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n * dim).map(() => rng.normal());
}

/** `n` points around `clusters` centres at scale 10, noise `spread`. */
function clusteredPoints(
  n: number,
  dim: number,
  clusters: number,
  spread: number,
  seed: number,
): Float32Array {
  const rng = new Rng(seed);
  const centres = Array.from({ length: clusters * dim }, () => 10 * rng.normal());
  const points = new Float32Array(n * dim);
  for (let p = 0; p < n; p += 1) {
    const c = rng.int(0, clusters);
    for (let j = 0; j < dim; j += 1)
      points[p * dim + j] = (centres[c * dim + j] as number) + spread * rng.normal();
  }
  return points;
}

describe('ivf bounded k-means (Hamerly) against plain Lloyd', () => {
  it('gives the same centroids and lists on random data (odd dims, block remainders)', () => {
    for (const [n, dim, k, seed] of [
      [300, 7, 10, 1],
      [1100, 33, 16, 2],
      [200, 1, 9, 5],
      [150, 384, 12, 4],
    ] as const)
      expectLloyd(normalPoints(n, dim, seed), n, dim, k, 10, seed);
  });

  it('gives the same result for k = 1, k = n and no iterations', () => {
    const points = normalPoints(40, 5, 6);
    expect(expectLloyd(points, 40, 5, 1, 10, 6).scanned.slice(1)).toEqual([0]);
    // k = n: every point is a centroid, nothing moves, the second pass stops.
    expect(expectLloyd(points, 40, 5, 40, 10, 6).scanned).toEqual([40, 0]);
    expect(expectLloyd(points, 40, 5, 7, 0, 6).scanned).toEqual([40]);
  });

  it('re-seeds empty lists at the same points', () => {
    // Seeds found to empty a list in some Lloyd step (the reference counts them).
    for (const [n, dim, k, seed] of [
      [60, 2, 30, 47],
      [40, 2, 15, 29],
      [30, 1, 12, 83],
    ] as const)
      expect(expectLloyd(normalPoints(n, dim, seed), n, dim, k, 10, seed).reseeded).toBeGreaterThan(
        0,
      );
  });

  it('skips the scan of most points on clustered data', () => {
    const n = 1000;
    const dim = 17;
    const stats = expectLloyd(clusteredPoints(n, dim, 24, 1, 8), n, dim, 24, 10, 8);
    const later = stats.scanned.slice(1);
    expect(later.length).toBeGreaterThan(2);
    // After the first pass the bounds settle about half the points, then more and more as the
    // centroids stop moving.
    expect(later.reduce((a, b) => a + b, 0)).toBeLessThan(0.5 * n * later.length);
    expect(later.at(-1)).toBeLessThan(0.1 * n);
    // Some points were compared with the few centroids that moved most instead of all 24.
    expect(Math.max(...stats.checked)).toBeGreaterThan(0);
  });

  it('rejects an assignment of the wrong length', () => {
    const points = normalPoints(10, 3, 1);
    expect(() =>
      coarseKmeans(points, 10, 3, 2, 1, new Rng(1), { assignment: new Uint32Array(9) }),
    ).toThrow(RangeError);
  });
});

import { Rng } from '../core/rng';
import { centroidNorms, coarseKmeans, nearestCentroids } from './ivf-kmeans';

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
      nearestCentroids(points, n, dim, cs, k, centroidNorms(cs, k, dim), best, score);
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
    nearestCentroids(points, n, dim, many, 12, centroidNorms(many, 12, dim), best);
    expect(new Set(best).size).toBe(12);
    expect(() => coarseKmeans(points, 3, dim, 4, 1, new Rng(1))).toThrow(RangeError);
  });
});

import { SpecError } from '../core/errors';
import { Rng } from '../core/rng';
import {
  checkTable,
  jacobiOrthogonalize,
  multiplyAtQ,
  multiplyAZ,
  orthonormalizeColumns,
  truncatedSvd,
} from './linalg';

const randomColumns = (rng: Rng, rows: number, cols: number) =>
  new Float64Array(rows * cols).map(() => rng.normal());

function gram(m: Float64Array, rows: number, cols: number): number[][] {
  return Array.from({ length: cols }, (_, i) =>
    Array.from({ length: cols }, (_, j) => {
      let s = 0;
      for (let t = 0; t < rows; t += 1)
        s += (m[i * rows + t] as number) * (m[j * rows + t] as number);
      return s;
    }),
  );
}

/** A = U·diag(s)·Vᵀ with random orthonormal U (n × r), V (d × r), row-major fp32. */
function knownMatrix(rng: Rng, n: number, d: number, s: number[]): Float32Array {
  const r = s.length;
  const u = randomColumns(rng, n, r);
  const v = randomColumns(rng, d, r);
  orthonormalizeColumns(u, n, r);
  orthonormalizeColumns(v, d, r);
  const a = new Float32Array(n * d);
  for (let i = 0; i < n; i += 1)
    for (let j = 0; j < d; j += 1) {
      let x = 0;
      for (let k = 0; k < r; k += 1)
        x += (u[k * n + i] as number) * (s[k] as number) * (v[k * d + j] as number);
      a[i * d + j] = x;
    }
  return a;
}

describe('linalg', () => {
  it('checkTable refuses a table whose length does not match its shape', () => {
    expect(checkTable('x', new Float32Array(6), { fields: [2, 1], dim: 2 })).toBe(3);
    expect(() => checkTable('x', new Float32Array(5), { fields: [2, 1], dim: 2 })).toThrow(
      SpecError,
    );
    expect(() => checkTable('x', new Float32Array(0), { fields: [], dim: 2 })).toThrow(SpecError);
  });

  it('orthonormalizes columns, zeroing dependent ones', () => {
    const rng = new Rng(1);
    const rows = 50;
    const m = randomColumns(rng, rows, 5);
    // column 3 = 2·column 0 − column 1: dependent
    for (let i = 0; i < rows; i += 1)
      m[3 * rows + i] = 2 * (m[i] as number) - (m[rows + i] as number);
    orthonormalizeColumns(m, rows, 5);
    const g = gram(m, rows, 5);
    for (let i = 0; i < 5; i += 1)
      for (let j = 0; j < 5; j += 1) {
        const want = i === j && i !== 3 ? 1 : 0;
        expect(Math.abs((g[i] as number[])[j] as number) - want).toBeLessThan(1e-12);
      }
  });

  it('one-sided Jacobi makes columns orthogonal and keeps the singular values', () => {
    // [[3, 0], [4, 5]] has singular values 3√5 and √5.
    const m = Float64Array.of(3, 4, 0, 5); // column-major
    jacobiOrthogonalize(m, 2, 2);
    const norms = [
      Math.hypot(m[0] as number, m[1] as number),
      Math.hypot(m[2] as number, m[3] as number),
    ].sort((x, y) => y - x);
    expect(norms[0]).toBeCloseTo(3 * Math.sqrt(5), 12);
    expect(norms[1]).toBeCloseTo(Math.sqrt(5), 12);
    expect(
      Math.abs((m[0] as number) * (m[2] as number) + (m[1] as number) * (m[3] as number)),
    ).toBeLessThan(1e-12);
  });

  it('multiplies A·Z and Aᵀ·Q in the documented layouts', () => {
    const a = Float32Array.of(1, 2, 3, 4, 5, 6); // 2 × 3 row-major
    const z = Float64Array.of(1, 0, 1, 0, 1, 0); // 3 × 2 column-major: [1,0,1], [0,1,0]
    expect([...multiplyAZ(a, 2, 3, z, 2)]).toEqual([4, 10, 2, 5]); // column-major 2 × 2
    const q = Float64Array.of(1, 1); // 2 × 1
    expect([...multiplyAtQ(a, 2, 3, q, 1)]).toEqual([5, 7, 9]);
  });

  it('blocked products equal naive sums for sizes off the block of 4', () => {
    const rng = new Rng(7);
    const n = 11;
    const d = 6;
    const l = 7;
    const a = new Float32Array(n * d).map(() => rng.normal());
    const z = randomColumns(rng, d, l);
    const q = randomColumns(rng, n, l);
    const y = multiplyAZ(a, n, d, z, l);
    const zt = multiplyAtQ(a, n, d, q, l);
    for (let j = 0; j < l; j += 1) {
      for (let i = 0; i < n; i += 1) {
        let s = 0;
        for (let t = 0; t < d; t += 1) s += (a[i * d + t] as number) * (z[j * d + t] as number);
        expect(y[j * n + i]).toBeCloseTo(s, 12);
      }
      for (let t = 0; t < d; t += 1) {
        let s = 0;
        for (let i = 0; i < n; i += 1) s += (a[i * d + t] as number) * (q[j * n + i] as number);
        expect(zt[j * d + t]).toBeCloseTo(s, 12);
      }
    }
  });

  it('randomized truncated SVD recovers known singular values and subspace', () => {
    const rng = new Rng(2);
    const s = [10, 5, 2, 1, 0.5, 0.1];
    const n = 120;
    const d = 24;
    const a = knownMatrix(rng, n, d, s);
    const { v, sigma, rank } = truncatedSvd(a, n, d, 4, 6, 2, new Rng(9));
    expect(rank).toBe(4);
    sigma.forEach((x, k) =>
      expect(Math.abs(x - (s[k] as number)) / (s[k] as number)).toBeLessThan(1e-5),
    );
    const g = gram(v, d, 4);
    g.forEach((row, i) =>
      row.forEach((x, j) => expect(Math.abs(x - (i === j ? 1 : 0))).toBeLessThan(1e-10)),
    );
  });

  it('is deterministic for a seed and handles an exactly rank-deficient table', () => {
    const rng = new Rng(3);
    const a = knownMatrix(rng, 40, 10, [3, 1]);
    const x = truncatedSvd(a, 40, 10, 5, 3, 1, new Rng(4));
    const y = truncatedSvd(a, 40, 10, 5, 3, 1, new Rng(4));
    expect(x.v).toEqual(y.v);
    expect(x.sigma[0]).toBeCloseTo(3, 5);
    expect(x.sigma[1]).toBeCloseTo(1, 5);
    for (let k = 2; k < 5; k += 1) expect(x.sigma[k]).toBeLessThan(1e-5);
    expect(() => truncatedSvd(a, 40, 10, 11, 0, 0, new Rng(1))).toThrow(RangeError);
  });
});

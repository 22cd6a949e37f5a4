// Small dense linear algebra for the post-training codecs, in Float64 where accuracy matters:
// input checks, modified Gram–Schmidt, one-sided Jacobi SVD and a randomized truncated SVD
// (Halko, Martinsson & Tropp 2011: range finder with power iterations).
//
// Layouts: the table A is row-major Float32 (n × d). Every small matrix here is COLUMN-major
// Float64 (column j of an m × l matrix is [j·m, (j+1)·m)), so column operations are contiguous.
import { SpecError } from '../core/errors';
import type { Rng } from '../core/rng';
import { totalRows, validateShape, type TableShape } from '../core/shape';

/** Checks a codec's input table against its shape; returns the row count. */
export function checkTable(method: string, table: Float32Array, shape: TableShape): number {
  validateShape(shape);
  const rows = totalRows(shape);
  if (table.length !== rows * shape.dim)
    throw new SpecError(
      `${method}: table has ${table.length} values, expected ${rows} rows × ${shape.dim} = ${rows * shape.dim}`,
    );
  return rows;
}

/**
 * Orthonormalizes the columns of `m` (rows × cols, column-major) in place by modified
 * Gram–Schmidt, run twice per column ("twice is enough"). A column whose remainder is below
 * 1e-13 of its original norm (or zero) is dependent: it becomes exactly zero.
 */
export function orthonormalizeColumns(m: Float64Array, rows: number, cols: number): void {
  for (let j = 0; j < cols; j += 1) {
    const cj = j * rows;
    const before = norm(m, cj, rows);
    for (let pass = 0; pass < 2; pass += 1) {
      for (let p = 0; p < j; p += 1) {
        const cp = p * rows;
        let dot = 0;
        for (let i = 0; i < rows; i += 1) dot += (m[cp + i] as number) * (m[cj + i] as number);
        if (dot === 0) continue;
        for (let i = 0; i < rows; i += 1)
          m[cj + i] = (m[cj + i] as number) - dot * (m[cp + i] as number);
      }
    }
    const after = norm(m, cj, rows);
    if (before === 0 || after <= 1e-13 * before) {
      m.fill(0, cj, cj + rows);
    } else {
      const inv = 1 / after;
      for (let i = 0; i < rows; i += 1) m[cj + i] = (m[cj + i] as number) * inv;
    }
  }
}

function norm(m: Float64Array, start: number, length: number): number {
  let s = 0;
  for (let i = start; i < start + length; i += 1) s += (m[i] as number) * (m[i] as number);
  return Math.sqrt(s);
}

/**
 * One-sided (Hestenes) Jacobi on the columns of `m` (rows × cols, column-major), in place: plane
 * rotations until every pair of columns is orthogonal (|mₚ·m_q| ≤ 1e-15·‖mₚ‖‖m_q‖). For
 * m = B the result is B·J = U·Σ: the column norms are B's singular values and the normalized
 * columns its left singular vectors. Returns the number of sweeps used.
 */
export function jacobiOrthogonalize(
  m: Float64Array,
  rows: number,
  cols: number,
  maxSweeps = 60,
): number {
  for (let sweep = 1; sweep <= maxSweeps; sweep += 1) {
    let rotated = false;
    for (let p = 0; p < cols - 1; p += 1) {
      const cp = p * rows;
      for (let q = p + 1; q < cols; q += 1) {
        const cq = q * rows;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i += 1) {
          const a = m[cp + i] as number;
          const b = m[cq + i] as number;
          alpha += a * a;
          beta += b * b;
          gamma += a * b;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < rows; i += 1) {
          const a = m[cp + i] as number;
          const b = m[cq + i] as number;
          m[cp + i] = c * a - s * b;
          m[cq + i] = s * a + c * b;
        }
      }
    }
    if (!rotated) return sweep;
  }
  return maxSweeps;
}

/**
 * Y = A·Z: A row-major Float32 n × d, Z column-major d × l; Y column-major n × l.
 * Four columns per pass over a row of A (4 independent sums, one load of A per 4 MACs).
 */
export function multiplyAZ(
  a: Float32Array,
  n: number,
  d: number,
  z: Float64Array,
  l: number,
): Float64Array {
  const y = new Float64Array(n * l);
  const l4 = l - (l % 4);
  for (let i = 0; i < n; i += 1) {
    const ai = i * d;
    let j = 0;
    for (; j < l4; j += 4) {
      const z0 = j * d;
      const z1 = z0 + d;
      const z2 = z1 + d;
      const z3 = z2 + d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let t = 0; t < d; t += 1) {
        const x = a[ai + t] as number;
        s0 += x * (z[z0 + t] as number);
        s1 += x * (z[z1 + t] as number);
        s2 += x * (z[z2 + t] as number);
        s3 += x * (z[z3 + t] as number);
      }
      y[j * n + i] = s0;
      y[(j + 1) * n + i] = s1;
      y[(j + 2) * n + i] = s2;
      y[(j + 3) * n + i] = s3;
    }
    for (; j < l; j += 1) {
      const zj = j * d;
      let s = 0;
      for (let t = 0; t < d; t += 1) s += (a[ai + t] as number) * (z[zj + t] as number);
      y[j * n + i] = s;
    }
  }
  return y;
}

/**
 * Z = Aᵀ·Q: A row-major Float32 n × d, Q column-major n × l; Z column-major d × l.
 * Accumulates a row-major d × l buffer four rows of A at a time (one load/store per 4 MACs);
 * the summation order is row by row either way.
 */
export function multiplyAtQ(
  a: Float32Array,
  n: number,
  d: number,
  q: Float64Array,
  l: number,
): Float64Array {
  const zr = new Float64Array(d * l);
  const qb = new Float64Array(4 * l);
  const n4 = n - (n % 4);
  let i = 0;
  for (; i < n4; i += 4) {
    for (let j = 0; j < l; j += 1) {
      const c = j * n + i;
      qb[j] = q[c] as number;
      qb[l + j] = q[c + 1] as number;
      qb[2 * l + j] = q[c + 2] as number;
      qb[3 * l + j] = q[c + 3] as number;
    }
    const a0 = i * d;
    for (let t = 0; t < d; t += 1) {
      const x0 = a[a0 + t] as number;
      const x1 = a[a0 + d + t] as number;
      const x2 = a[a0 + 2 * d + t] as number;
      const x3 = a[a0 + 3 * d + t] as number;
      const zt = t * l;
      for (let j = 0; j < l; j += 1)
        zr[zt + j] =
          (zr[zt + j] as number) +
          x0 * (qb[j] as number) +
          x1 * (qb[l + j] as number) +
          x2 * (qb[2 * l + j] as number) +
          x3 * (qb[3 * l + j] as number);
    }
  }
  for (; i < n; i += 1) {
    const ai = i * d;
    for (let t = 0; t < d; t += 1) {
      const x = a[ai + t] as number;
      const zt = t * l;
      for (let j = 0; j < l; j += 1)
        zr[zt + j] = (zr[zt + j] as number) + x * (q[j * n + i] as number);
    }
  }
  const z = new Float64Array(d * l);
  for (let t = 0; t < d; t += 1)
    for (let j = 0; j < l; j += 1) z[j * d + t] = zr[t * l + j] as number;
  return z;
}

export interface TruncatedSvd {
  /** Top right singular vectors, column-major d × rank (unit columns, or zero for σ = 0). */
  v: Float64Array;
  /** Singular value estimates, descending (length rank). */
  sigma: Float64Array;
  rank: number;
}

/**
 * Randomized truncated SVD of A (n × d, row-major fp32): right singular vectors and values of the
 * top `rank` components. Range finder on l = min(rank + oversample, n, d) Gaussian directions
 * drawn from `rng`, `iterations` orthonormalized power (subspace) iterations, then an exact
 * one-sided Jacobi SVD of the small d × l matrix Aᵀ·Q. rank ≤ min(n, d).
 */
export function truncatedSvd(
  a: Float32Array,
  n: number,
  d: number,
  rank: number,
  oversample: number,
  iterations: number,
  rng: Rng,
): TruncatedSvd {
  if (!(Number.isInteger(rank) && rank >= 1 && rank <= Math.min(n, d)))
    throw new RangeError(`svd rank ${rank} must be an integer in [1, min(${n}, ${d})]`);
  const l = Math.min(rank + oversample, n, d);
  const omega = new Float64Array(d * l);
  for (let i = 0; i < omega.length; i += 1) omega[i] = rng.normal();
  let q = multiplyAZ(a, n, d, omega, l);
  orthonormalizeColumns(q, n, l);
  for (let it = 0; it < iterations; it += 1) {
    const z = multiplyAtQ(a, n, d, q, l);
    orthonormalizeColumns(z, d, l);
    q = multiplyAZ(a, n, d, z, l);
    orthonormalizeColumns(q, n, l);
  }
  // M = Aᵀ·Q = Bᵀ (d × l) with B = Qᵀ·A. Orthogonalizing M's columns gives Bᵀ·J = V·Σ.
  const m = multiplyAtQ(a, n, d, q, l);
  jacobiOrthogonalize(m, d, l);
  const norms = new Float64Array(l);
  for (let j = 0; j < l; j += 1) norms[j] = norm(m, j * d, d);
  const order = Array.from({ length: l }, (_, j) => j).sort(
    (x, y) => (norms[y] as number) - (norms[x] as number) || x - y,
  );
  const v = new Float64Array(d * rank);
  const sigma = new Float64Array(rank);
  for (let k = 0; k < rank; k += 1) {
    const j = order[k] as number;
    const s = norms[j] as number;
    sigma[k] = s;
    if (s === 0) continue;
    for (let t = 0; t < d; t += 1) v[k * d + t] = (m[j * d + t] as number) / s;
  }
  return { v, sigma, rank };
}

// Randomized truncated SVD of a sparse matrix (Halko, Martinsson & Tropp 2011): the top right
// singular vectors of A (n × m, CSR), which is all LSA needs (a text's vector is its TF-IDF row
// times those vectors). Deterministic for a seed: Gaussian test matrix from the seeded Rng,
// modified Gram–Schmidt (twice) and one-sided Jacobi, all in Float64.
//
// Dense matrices here are COLUMN-major Float64 (column j of an r × c matrix is [j·r, (j+1)·r)).
import { Rng } from '@embpress/compression';

/** Compressed sparse rows: row i holds cols/vals[rowPtr[i] .. rowPtr[i+1]). */
export interface CsrMatrix {
  rows: number;
  cols: number;
  rowPtr: Uint32Array;
  colIdx: Uint32Array;
  vals: Float64Array;
}

export interface SparseSvdOptions {
  rank: number;
  oversample: number;
  powerIterations: number;
  seed: number;
}

export interface SparseSvd {
  /** Right singular vectors, column-major m × rank (a zero column for a zero singular value). */
  v: Float64Array;
  /** Singular values, descending. */
  sigma: Float64Array;
  rank: number;
}

/** Y = A·Q: Q column-major m × l, Y column-major n × l. */
function multiplyAQ(a: CsrMatrix, q: Float64Array, l: number): Float64Array {
  const { rows: n, cols: m } = a;
  const y = new Float64Array(n * l);
  for (let i = 0; i < n; i += 1) {
    for (let p = a.rowPtr[i] as number; p < (a.rowPtr[i + 1] as number); p += 1) {
      const t = a.colIdx[p] as number;
      const v = a.vals[p] as number;
      for (let j = 0; j < l; j += 1)
        y[j * n + i] = (y[j * n + i] as number) + v * (q[j * m + t] as number);
    }
  }
  return y;
}

/** Z = Aᵀ·Y: Y column-major n × l, Z column-major m × l. */
function multiplyAtY(a: CsrMatrix, y: Float64Array, l: number): Float64Array {
  const { rows: n, cols: m } = a;
  const z = new Float64Array(m * l);
  for (let i = 0; i < n; i += 1) {
    for (let p = a.rowPtr[i] as number; p < (a.rowPtr[i + 1] as number); p += 1) {
      const t = a.colIdx[p] as number;
      const v = a.vals[p] as number;
      for (let j = 0; j < l; j += 1)
        z[j * m + t] = (z[j * m + t] as number) + v * (y[j * n + i] as number);
    }
  }
  return z;
}

function columnNorm(m: Float64Array, start: number, length: number): number {
  let s = 0;
  for (let i = start; i < start + length; i += 1) s += (m[i] as number) * (m[i] as number);
  return Math.sqrt(s);
}

/** Modified Gram–Schmidt, twice per column; a dependent column becomes exactly zero. */
export function orthonormalize(m: Float64Array, rows: number, cols: number): void {
  for (let j = 0; j < cols; j += 1) {
    const cj = j * rows;
    const before = columnNorm(m, cj, rows);
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
    const after = columnNorm(m, cj, rows);
    if (before === 0 || after <= 1e-12 * before) m.fill(0, cj, cj + rows);
    else for (let i = 0; i < rows; i += 1) m[cj + i] = (m[cj + i] as number) / after;
  }
}

/**
 * One-sided Jacobi on the columns of `m` (rows × cols) until they are orthogonal, applying the
 * same rotations to `j` (cols × cols, starting as the identity): afterwards m_before · j = m.
 */
function jacobi(
  m: Float64Array,
  rows: number,
  cols: number,
  j: Float64Array,
  maxSweeps = 60,
): void {
  for (let sweep = 0; sweep < maxSweeps; sweep += 1) {
    let rotated = false;
    for (let p = 0; p < cols - 1; p += 1) {
      const cp = p * rows;
      for (let q = p + 1; q < cols; q += 1) {
        const cq = q * rows;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i += 1) {
          const x = m[cp + i] as number;
          const y = m[cq + i] as number;
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < rows; i += 1) {
          const x = m[cp + i] as number;
          const y = m[cq + i] as number;
          m[cp + i] = c * x - s * y;
          m[cq + i] = s * x + c * y;
        }
        const jp = p * cols;
        const jq = q * cols;
        for (let i = 0; i < cols; i += 1) {
          const x = j[jp + i] as number;
          const y = j[jq + i] as number;
          j[jp + i] = c * x - s * y;
          j[jq + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) return;
  }
}

/**
 * Top `rank` right singular vectors of A. Range finder on Aᵀ: Q = orth(Aᵀ·Ω) (m × l), power
 * iterations Q ← orth(Aᵀ·orth(A·Q)); then M = A·Q (n × l) = (Qᵀ·Aᵀ)ᵀ is orthogonalized by
 * one-sided Jacobi, M·J = W·Σ, so Aᵀ ≈ Q·J·Σ·Wᵀ and the right singular vectors of A are Q·J.
 */
export function sparseTruncatedSvd(a: CsrMatrix, options: SparseSvdOptions): SparseSvd {
  const { rows: n, cols: m } = a;
  const { rank } = options;
  if (!(Number.isInteger(rank) && rank >= 1 && rank <= Math.min(n, m)))
    throw new RangeError(`svd rank ${rank} must be an integer in [1, min(${n}, ${m})]`);
  const l = Math.min(rank + options.oversample, n, m);
  const rng = new Rng(options.seed);
  const omega = new Float64Array(n * l);
  for (let i = 0; i < omega.length; i += 1) omega[i] = rng.normal();
  let q = multiplyAtY(a, omega, l);
  orthonormalize(q, m, l);
  for (let it = 0; it < options.powerIterations; it += 1) {
    const y = multiplyAQ(a, q, l);
    orthonormalize(y, n, l);
    q = multiplyAtY(a, y, l);
    orthonormalize(q, m, l);
  }
  const mm = multiplyAQ(a, q, l);
  const jm = new Float64Array(l * l);
  for (let i = 0; i < l; i += 1) jm[i * l + i] = 1;
  jacobi(mm, n, l, jm);
  const norms = Array.from({ length: l }, (_, c) => columnNorm(mm, c * n, n));
  const order = norms
    .map((_, c) => c)
    .sort((x, y) => (norms[y] as number) - (norms[x] as number) || x - y);
  const v = new Float64Array(m * rank);
  const sigma = new Float64Array(rank);
  for (let k = 0; k < rank; k += 1) {
    const c = order[k] as number;
    sigma[k] = norms[c] as number;
    if (sigma[k] === 0) continue;
    // Column k of V = Q · (column c of J).
    for (let r = 0; r < l; r += 1) {
      const w = jm[c * l + r] as number;
      if (w === 0) continue;
      for (let t = 0; t < m; t += 1)
        v[k * m + t] = (v[k * m + t] as number) + w * (q[r * m + t] as number);
    }
  }
  return { v, sigma, rank };
}

// `autodim` search-stage arithmetic (docs/methods/autodim.md): the mixture weights, the
// batch-statistics BatchNorm of each candidate and its backward, and the architecture gradient of
// the inference forward. Pure functions over the search arrays; the trainable applies the updates.
import type { Rng } from '../core/rng';
import { BN_EPS, candidateRow, type SearchArrays } from './autodim-tables';

/**
 * p_{f,c} = softmax_c((log_softmax(α_f) + g_{f,c})/τ) (noise g omitted: inference), F × |C|,
 * rounded to f32 once so that every user of the weights sees the same values.
 */
export function mixtureWeights(
  alpha: Float32Array,
  C: number,
  tau: number,
  noise?: Float64Array,
): Float32Array {
  const F = alpha.length / C;
  const out = new Float32Array(alpha.length);
  const v = new Float64Array(C);
  for (let f = 0; f < F; f += 1) {
    let max = -Infinity;
    for (let c = 0; c < C; c += 1) max = Math.max(max, alpha[f * C + c] as number);
    let sum = 0;
    for (let c = 0; c < C; c += 1) sum += Math.exp((alpha[f * C + c] as number) - max);
    const lse = max + Math.log(sum);
    let vmax = -Infinity;
    for (let c = 0; c < C; c += 1) {
      const u = (alpha[f * C + c] as number) - lse + (noise?.[f * C + c] ?? 0);
      v[c] = u / tau;
      vmax = Math.max(vmax, v[c] as number);
    }
    let z = 0;
    for (let c = 0; c < C; c += 1) z += Math.exp((v[c] as number) - vmax);
    for (let c = 0; c < C; c += 1) out[f * C + c] = Math.exp((v[c] as number) - vmax) / z;
  }
  return out;
}

/** Gumbel(0, 1) = −log(−log U), U uniform in the open interval (0, 1). */
export function gumbel(rng: Rng): number {
  const u = (rng.nextU32() + 0.5) / 4294967296;
  return -Math.log(-Math.log(u));
}

/** Batch-statistics BatchNorm output of one candidate over a batch (training forward). */
export interface CandidateBatch {
  /** x̂ = (z − μ)/√(σ² + ε), N × D. */
  xhat: Float64Array;
  mean: Float64Array;
  /** Biased batch variance (running statistics use the unbiased one). */
  variance: Float64Array;
  invStd: Float64Array;
}

/** Distinct ids of a batch in first-seen order, and each position's slot among them. */
export function distinct(ids: Uint32Array): { rows: number[]; slotOf: Uint32Array } {
  const index = new Map<number, number>();
  const rows: number[] = [];
  const slotOf = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    let k = index.get(id);
    if (k === undefined) {
      k = rows.length;
      index.set(id, k);
      rows.push(id);
    }
    slotOf[i] = k;
  }
  return { rows, slotOf };
}

/**
 * dL/dα of the inference forward (noiseless weights `mix` at temperature τ, running statistics)
 * given row gradients `rowGrads` of `ids` in `fields` (F × |C|).
 */
export function alphaGradient(
  a: SearchArrays,
  alpha: Float32Array,
  mix: Float32Array,
  tau: number,
  ids: Uint32Array,
  fields: Uint32Array,
  rowGrads: Float32Array,
  D: number,
): Float64Array {
  const C = a.cands.length;
  const F = alpha.length / C;
  // dL/dp_{f,c} = Σ_{i in f} g_i · y_c(i), y_c the candidate's inference output.
  const dp = new Float64Array(F * C);
  const y = new Float64Array(D);
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    const f = fields[i] as number;
    for (let ci = 0; ci < C; ci += 1) {
      candidateRow(a, ci, D, f, id, y);
      let s = 0;
      for (let j = 0; j < D; j += 1) s += (rowGrads[i * D + j] as number) * (y[j] as number);
      dp[f * C + ci] = (dp[f * C + ci] as number) + s;
    }
  }
  // p = softmax(u/τ), u = α − logsumexp(α): dL/du = p⊙(dp − p·dp)/τ, dL/dα = dL/du − q·Σ dL/du.
  const out = new Float64Array(F * C);
  for (let f = 0; f < F; f += 1) {
    let pdp = 0;
    for (let c = 0; c < C; c += 1) pdp += (mix[f * C + c] as number) * (dp[f * C + c] as number);
    let sumDu = 0;
    let max = -Infinity;
    for (let c = 0; c < C; c += 1) {
      const du = ((mix[f * C + c] as number) * ((dp[f * C + c] as number) - pdp)) / tau;
      out[f * C + c] = du;
      sumDu += du;
      max = Math.max(max, alpha[f * C + c] as number);
    }
    let z = 0;
    for (let c = 0; c < C; c += 1) z += Math.exp((alpha[f * C + c] as number) - max);
    for (let c = 0; c < C; c += 1) {
      const q = Math.exp((alpha[f * C + c] as number) - max) / z;
      out[f * C + c] = (out[f * C + c] as number) - q * sumDu;
    }
  }
  return out;
}

/** z = E_c[x]·W_{c,f} + b_{c,f} over the batch, normalised with the batch statistics. */
export function candidateBatch(
  a: SearchArrays,
  ids: Uint32Array,
  fields: Uint32Array,
  ci: number,
  D: number,
): CandidateBatch {
  const c = a.cands[ci] as number;
  const E = a.tables[ci] as Float32Array;
  const W = a.projs[ci] as Float32Array;
  const b = a.biases[ci] as Float32Array;
  const N = ids.length;
  const xhat = new Float64Array(N * D);
  const mean = new Float64Array(D);
  const variance = new Float64Array(D);
  const invStd = new Float64Array(D);
  for (let i = 0; i < N; i += 1) {
    const f = fields[i] as number;
    const src = (ids[i] as number) * c;
    const w0 = f * c * D;
    for (let j = 0; j < D; j += 1) {
      let z = b[f * D + j] as number;
      for (let k = 0; k < c; k += 1) z += (E[src + k] as number) * (W[w0 + k * D + j] as number);
      xhat[i * D + j] = z;
      mean[j] = (mean[j] as number) + z;
    }
  }
  for (let j = 0; j < D; j += 1) mean[j] = (mean[j] as number) / Math.max(1, N);
  for (let i = 0; i < N * D; i += 1) {
    const d = (xhat[i] as number) - (mean[i % D] as number);
    variance[i % D] = (variance[i % D] as number) + d * d;
  }
  for (let j = 0; j < D; j += 1) {
    variance[j] = (variance[j] as number) / Math.max(1, N);
    invStd[j] = 1 / Math.sqrt((variance[j] as number) + BN_EPS);
  }
  for (let i = 0; i < N * D; i += 1)
    xhat[i] = ((xhat[i] as number) - (mean[i % D] as number)) * (invStd[i % D] as number);
  return { xhat, mean, variance, invStd };
}

/** One candidate's gradients of the training forward (weights `mix`), and its batch statistics. */
export interface CandidateGradients {
  batch: CandidateBatch;
  /** Per distinct id (`slotOf` order), c each. */
  dE: Float64Array;
  /** F × c × D. */
  dW: Float64Array;
  /** F × D. */
  db: Float64Array;
}

/**
 * BN backward dz = invStd·(dy − mean(dy) − x̂·mean(dy·x̂)) with dy_i = p_{f_i,c}·g_i, then
 * dE_c[x] = W_{c,f}·dz (summed over duplicates), dW_{c,f} = Σ E_c[x]ᵀ·dz, db_{c,f} = Σ dz.
 */
export function candidateGradients(
  a: SearchArrays,
  ids: Uint32Array,
  fields: Uint32Array,
  slotOf: Uint32Array,
  distinctRows: number,
  rowGrads: Float32Array,
  mix: Float32Array,
  ci: number,
  D: number,
): CandidateGradients {
  const C = a.cands.length;
  const F = mix.length / C;
  const N = ids.length;
  const c = a.cands[ci] as number;
  const dz = new Float64Array(D);
  const batch = candidateBatch(a, ids, fields, ci, D);
  const E = a.tables[ci] as Float32Array;
  const W = a.projs[ci] as Float32Array;
  // BN backward: dz = invStd·(dy − mean(dy) − x̂·mean(dy·x̂)), dy_i = p_{f_i,c}·g_i.
  const s1 = new Float64Array(D);
  const s2 = new Float64Array(D);
  for (let i = 0; i < N; i += 1) {
    const p = mix[(fields[i] as number) * C + ci] as number;
    for (let j = 0; j < D; j += 1) {
      const dy = p * (rowGrads[i * D + j] as number);
      s1[j] = (s1[j] as number) + dy;
      s2[j] = (s2[j] as number) + dy * (batch.xhat[i * D + j] as number);
    }
  }
  const dE = new Float64Array(distinctRows * c);
  const dW = new Float64Array(F * c * D);
  const db = new Float64Array(F * D);
  for (let i = 0; i < N; i += 1) {
    const f = fields[i] as number;
    const p = mix[f * C + ci] as number;
    for (let j = 0; j < D; j += 1) {
      const dy = p * (rowGrads[i * D + j] as number);
      dz[j] =
        (batch.invStd[j] as number) *
        (dy - (s1[j] as number) / N - ((batch.xhat[i * D + j] as number) * (s2[j] as number)) / N);
      db[f * D + j] = (db[f * D + j] as number) + (dz[j] as number);
    }
    const src = (ids[i] as number) * c;
    const dst = (slotOf[i] as number) * c;
    const w0 = f * c * D;
    for (let k = 0; k < c; k += 1) {
      const ek = E[src + k] as number;
      let s = 0;
      for (let j = 0; j < D; j += 1) {
        s += (W[w0 + k * D + j] as number) * (dz[j] as number);
        dW[w0 + k * D + j] = (dW[w0 + k * D + j] as number) + ek * (dz[j] as number);
      }
      dE[dst + k] = (dE[dst + k] as number) + s;
    }
  }
  return { batch, dE, dW, db };
}

// Evaluation metrics over all concatenated predictions of a split
// (docs/methods/reference.md#training-loop): ROC-AUC as sklearn computes it (ties share the
// average rank) and the mean binary cross-entropy.
import { MetricInputError } from './errors';

function checkLabels(scores: ArrayLike<number>, labels: ArrayLike<number>, what: string): void {
  if (scores.length !== labels.length)
    throw new MetricInputError(`${what}: ${scores.length} predictions but ${labels.length} labels`);
  for (let i = 0; i < labels.length; i += 1) {
    const y = labels[i];
    if (y !== 0 && y !== 1)
      throw new MetricInputError(`${what}: labels[${i}] = ${y}, expected 0 or 1`);
  }
}

/**
 * Exact ROC-AUC = P(score of a random positive > score of a random negative), ties counting ½
 * (the Mann-Whitney form of sklearn's roc_auc_score). Returns 0 when any score is NaN or ±Inf
 * (the reference's rule: a diverged model must never be selected) and NaN when the labels hold
 * only one class (AUC undefined; sklearn raises). O(n log n), no per-element JS objects.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLabels(scores, labels, 'rocAuc');
  let P = 0;
  for (let i = 0; i < labels.length; i += 1) {
    if (!Number.isFinite(scores[i] as number)) return 0;
    if (labels[i] === 1) P += 1;
  }
  const N = labels.length - P;
  if (P === 0 || N === 0) return Number.NaN;
  const pos = new Float64Array(P);
  const neg = new Float64Array(N);
  let p = 0;
  let n = 0;
  for (let i = 0; i < labels.length; i += 1) {
    if (labels[i] === 1) pos[p++] = scores[i] as number;
    else neg[n++] = scores[i] as number;
  }
  pos.sort();
  neg.sort();
  // Walk the distinct values in ascending order: each positive beats the negatives strictly
  // below it and ties with those equal to it.
  let wins = 0;
  let i = 0;
  let j = 0;
  while (i < P) {
    const v = pos[i] as number;
    let posHere = 0;
    while (i < P && pos[i] === v) {
      posHere += 1;
      i += 1;
    }
    while (j < N && (neg[j] as number) < v) j += 1;
    let negEqual = 0;
    while (j + negEqual < N && neg[j + negEqual] === v) negEqual += 1;
    wins += posHere * (j + negEqual / 2);
  }
  return wins / (P * N);
}

/** Mean binary cross-entropy of probabilities, clipped to [eps, 1 − eps] (eps 1e-7, float32 scale). */
export function logloss(probs: ArrayLike<number>, labels: ArrayLike<number>, eps = 1e-7): number {
  checkLabels(probs, labels, 'logloss');
  if (labels.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const q = Math.min(1 - eps, Math.max(eps, probs[i] as number));
    sum -= labels[i] === 1 ? Math.log(q) : Math.log(1 - q);
  }
  return sum / labels.length;
}

/** Mean BCE computed from logits (exact, no clipping): max(x,0) − x·y + log(1 + e^−|x|). */
export function bceWithLogits(logits: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLabels(logits, labels, 'bceWithLogits');
  if (labels.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const x = logits[i] as number;
    sum += Math.max(x, 0) - x * (labels[i] as number) + Math.log1p(Math.exp(-Math.abs(x)));
  }
  return sum / labels.length;
}

/** Logistic function into a new Float32Array (probabilities from logits). */
export function sigmoid(logits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i += 1) out[i] = 1 / (1 + Math.exp(-(logits[i] as number)));
  return out;
}

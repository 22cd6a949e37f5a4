// The two quality metrics of the paper's loop (docs/methods/reference.md#training-loop): ROC-AUC
// over all predictions and the binary cross-entropy.

// Local aliases: global lookups are slow inside jest's vm sandbox (tests score many rows).
const { isFinite } = Number;
const { log, min, max } = Math;

/**
 * ROC-AUC by the rank-sum (Mann-Whitney) formula, tied scores sharing their average rank (as
 * sklearn). Non-finite scores count as 0, like the reference. NaN when a class is absent.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`rocAuc: ${n} scores, ${labels.length} labels`);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    const v = scores[i] as number;
    s[i] = isFinite(v) ? v : 0;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i += 1) order[i] = i;
  order.sort((a, b) => (s[a] as number) - (s[b] as number));
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    const v = s[order[i] as number] as number;
    while (j < n && s[order[j] as number] === v) j += 1;
    const avgRank = (i + 1 + j) / 2; // ranks i+1..j
    for (let k = i; k < j; k += 1)
      if ((labels[order[k] as number] as number) > 0.5) {
        pos += 1;
        rankSum += avgRank;
      }
    i = j;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Mean binary cross-entropy of probabilities (clipped to [1e-12, 1 - 1e-12]). */
export function logLoss(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = probabilities.length;
  if (labels.length !== n) throw new Error(`logLoss: ${n} probabilities, ${labels.length} labels`);
  if (n === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < n; i += 1) {
    const p = min(1 - 1e-12, max(1e-12, probabilities[i] as number));
    sum -= (labels[i] as number) > 0.5 ? log(p) : log(1 - p);
  }
  return sum / n;
}

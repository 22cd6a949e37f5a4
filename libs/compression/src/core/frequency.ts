// Frequency statistics shared by the frequency-aware methods (mgqe, adapt):
// docs/methods/reference.md#data and docs/methods/mgqe.md#high-frequency-ids.
import { SpecError } from './errors';

/** How many of `counts` are ≥ `threshold`. */
function countAtLeast(counts: ArrayLike<number>, threshold: number): number {
  let c = 0;
  for (let i = 0; i < counts.length; i += 1) if ((counts[i] as number) >= threshold) c += 1;
  return c;
}

/**
 * The reference's top-percent split: the integer frequency threshold κ such that "count ≥ κ" is
 * the high-frequency set of one field. Target T = topPercent · counts.length (not rounded). A
 * bisection over κ in [min count, max count + 1): when #(count ≥ mid) > T the lower end moves up
 * to mid, when < T the upper end moves down to mid; an exact hit returns mid, otherwise the
 * search stops at width 1 and returns the lower end. So the high set is the smallest
 * "count ≥ κ" set with at least T members (ties at κ all included), or exactly T members when
 * some κ gives that. (When counts have gaps, several κ give the same set; which one is returned
 * follows the bisection's path — compare sets, not κ.)
 *
 * `counts` are one field's TRAINING-split counts (local ids in order); throws SpecError for an
 * empty field, a topPercent outside (0, 1], or a negative / non-integer count.
 */
export function topPercentThreshold(counts: ArrayLike<number>, topPercent: number): number {
  if (!(topPercent > 0 && topPercent <= 1))
    throw new SpecError(`topPercent must be in (0, 1], got ${topPercent}`);
  if (counts.length === 0) throw new SpecError('topPercentThreshold needs at least one count');
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < counts.length; i += 1) {
    const c = counts[i] as number;
    if (!(c >= 0) || !Number.isInteger(c))
      throw new SpecError(`counts[${i}] = ${c} is not a non-negative integer`);
    if (c < min) min = c;
    if (c > max) max = c;
  }
  const target = topPercent * counts.length;
  let left = min;
  let right = max + 1;
  while (right - left > 1) {
    const mid = Math.floor((left + right) / 2);
    const above = countAtLeast(counts, mid);
    if (above === target) return mid;
    if (above > target) left = mid;
    else right = mid;
  }
  return left;
}

/**
 * 0/1 high-frequency flags of one field: counts[i] ≥ topPercentThreshold(counts, topPercent).
 */
export function highFrequencyMask(counts: ArrayLike<number>, topPercent: number): Uint8Array {
  const kappa = topPercentThreshold(counts, topPercent);
  const mask = new Uint8Array(counts.length);
  for (let i = 0; i < counts.length; i += 1) mask[i] = (counts[i] as number) >= kappa ? 1 : 0;
  return mask;
}

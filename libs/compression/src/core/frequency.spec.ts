import { SpecError } from './errors';
import { highFrequencyMask, topPercentThreshold } from './frequency';
import { Rng } from './rng';

/** The largest κ in [min, max] whose "count ≥ κ" set has at least T members (brute force). */
function bruteThreshold(counts: number[], topPercent: number): number {
  const target = topPercent * counts.length;
  let best = Math.min(...counts);
  for (let k = Math.min(...counts); k <= Math.max(...counts); k += 1)
    if (counts.filter((c) => c >= k).length >= target) best = k;
  return best;
}

describe('topPercentThreshold (docs/methods/reference.md#frequencies)', () => {
  it('picks the top id of ten distinct counts at 10 %', () => {
    const counts = [3, 9, 1, 4, 10, 2, 8, 5, 7, 6];
    expect(topPercentThreshold(counts, 0.1)).toBe(10);
    expect(Array.from(highFrequencyMask(counts, 0.1))).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(topPercentThreshold(counts, 0.3)).toBe(8);
  });

  it('keeps ties at the threshold together (the high set may exceed T)', () => {
    const counts = [5, 5, 5, 1, 1, 1, 1, 1, 1, 1];
    expect(topPercentThreshold(counts, 0.1)).toBe(5);
    expect(Array.from(highFrequencyMask(counts, 0.1)).reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('does not round T: 15 ids at 10 % (T = 1.5) gives the two most frequent', () => {
    const counts = Array.from({ length: 15 }, (_, i) => i + 1);
    expect(topPercentThreshold(counts, 0.1)).toBe(14);
  });

  it('marks every id high when all counts are equal, and when topPercent is 1', () => {
    expect(topPercentThreshold([2, 2, 2, 2], 0.1)).toBe(2);
    expect(topPercentThreshold([0, 4, 7], 1)).toBe(0);
  });

  it('gives the brute-force high set on random power-law counts', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 40; trial += 1) {
      const n = 1 + Math.floor(rng.next() * 60);
      const counts = Array.from({ length: n }, () => Math.floor(1 / (rng.next() + 0.02)));
      for (const p of [0.05, 0.1, 0.3, 0.5]) {
        // κ itself may be any value of a gap between counts; the high set is what is defined.
        const brute = bruteThreshold(counts, p);
        const want = counts.map((c) => (c >= brute ? 1 : 0));
        expect(Array.from(highFrequencyMask(counts, p))).toEqual(want);
        expect(Array.from(highFrequencyMask(Uint32Array.from(counts), p))).toEqual(want);
      }
    }
  });

  it('rejects an empty field, a bad percent and negative counts with SpecError', () => {
    expect(() => topPercentThreshold([], 0.1)).toThrow(SpecError);
    expect(() => topPercentThreshold([1, 2], 0)).toThrow(SpecError);
    expect(() => topPercentThreshold([1, 2], 1.5)).toThrow(SpecError);
    expect(() => topPercentThreshold([1, -2], 0.1)).toThrow(SpecError);
  });
});

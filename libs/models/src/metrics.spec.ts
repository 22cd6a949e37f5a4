import { MetricInputError } from './errors';
import { bceWithLogits, logloss, rocAuc, sigmoid } from './metrics';
import { mulberry32 } from './rng';

/** P(pos > neg) + ½ P(pos = neg) by counting every pair. */
function bruteForceAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i += 1) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j += 1) {
      if (labels[j] !== 0) continue;
      pairs += 1;
      const a = scores[i] as number;
      const b = scores[j] as number;
      wins += a > b ? 1 : a === b ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('rocAuc', () => {
  it('equals the brute-force pair count, with many ties', () => {
    const rand = mulberry32(4);
    for (let trial = 0; trial < 20; trial += 1) {
      const n = 50 + trial * 17;
      const levels = 2 + (trial % 7); // few distinct scores: lots of ties
      const labels = Float32Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
      const scores = Float32Array.from(
        labels,
        (y) => Math.floor((rand() + y * 0.3) * levels) / levels,
      );
      expect(rocAuc(scores, labels)).toBeCloseTo(bruteForceAuc(scores, labels), 12);
    }
  });

  it('handles the textbook cases', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75); // sklearn's docstring example
    expect(rocAuc([1, 2, 3], [0, 1, 1])).toBe(1);
    expect(rocAuc([3, 2, 1], [0, 1, 1])).toBe(0);
    expect(rocAuc([5, 5, 5, 5], [0, 1, 0, 1])).toBe(0.5);
  });

  it('is 0 when a prediction is NaN or infinite, NaN with one class', () => {
    expect(rocAuc([0.1, Number.NaN, 0.3], [0, 1, 1])).toBe(0);
    expect(rocAuc([0.1, Number.POSITIVE_INFINITY, 0.3], [0, 1, 1])).toBe(0);
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
  });

  it('rejects labels that are not 0/1 and mismatched lengths', () => {
    expect(() => rocAuc([0.1, 0.2], [0, 2])).toThrow(MetricInputError);
    expect(() => rocAuc([0.1], [0, 1])).toThrow(/1 predictions but 2 labels/);
  });
});

describe('logloss', () => {
  it('is the mean BCE, from probabilities (clipped) or exactly from logits', () => {
    const logits = [-3, -0.5, 0, 2, 7];
    const labels = [0, 1, 1, 0, 1];
    const direct =
      logits.reduce((s, x, i) => {
        const p = 1 / (1 + Math.exp(-x));
        return s - (labels[i] === 1 ? Math.log(p) : Math.log(1 - p));
      }, 0) / logits.length;
    expect(bceWithLogits(logits, labels)).toBeCloseTo(direct, 12);
    expect(logloss(sigmoid(logits), labels)).toBeCloseTo(direct, 6);
    // a confident wrong prediction is clipped, not infinite
    expect(logloss([1], [0])).toBeCloseTo(-Math.log(1e-7), 6);
    expect(bceWithLogits([-1000], [1])).toBe(1000);
  });
});

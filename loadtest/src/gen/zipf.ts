// Zipf(n, s) ranks by rejection-inversion (Hörmann & Derflinger 1996, as in Apache Commons RNG):
// O(1) memory and set-up for any n, so a table of millions of rows costs nothing per VU in k6.
// @embpress/data has the same sampler with an alias table for small n; this one always uses
// rejection-inversion so that k6/gen.js (which cannot import TypeScript) draws the same ranks.
const { abs, exp, floor, log, log1p, expm1 } = Math;

export class ZipfRanks {
  private readonly hX1: number;
  private readonly hN: number;
  private readonly sq: number;

  constructor(
    readonly n: number,
    readonly exponent: number,
  ) {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`Zipf: n must be an integer ≥ 1, got ${n}`);
    if (!(exponent > 0)) throw new RangeError(`Zipf: exponent must be > 0, got ${exponent}`);
    this.hX1 = this.hIntegral(1.5) - 1;
    this.hN = this.hIntegral(n + 0.5);
    this.sq = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
  }

  /** A rank in 1..n (1 the most frequent), P(k) ∝ k^-s; `rng.next()` gives numbers in [0, 1). */
  sample(rng: { next(): number }): number {
    for (;;) {
      const u = this.hN + rng.next() * (this.hX1 - this.hN);
      const x = this.hIntegralInverse(u);
      let k = floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > this.n) k = this.n;
      if (k - x <= this.sq || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
  }

  private hIntegral(x: number): number {
    const logX = log(x);
    return helper2((1 - this.exponent) * logX) * logX;
  }

  private h(x: number): number {
    return exp(-this.exponent * log(x));
  }

  private hIntegralInverse(x: number): number {
    let t = x * (1 - this.exponent);
    if (t < -1) t = -1;
    return exp(helper1(t) * x);
  }
}

function helper1(x: number): number {
  return abs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

function helper2(x: number): number {
  return abs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}

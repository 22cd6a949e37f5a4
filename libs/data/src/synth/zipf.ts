// Zipf(n, s) sampler: P(k) proportional to k^-s for k in 1..n. Up to 2^20 values an alias table
// (Vose; 12 bytes per value, one uniform per draw); above, rejection-inversion (Hörmann &
// Derflinger 1996, as in Apache Commons RNG: O(1) memory, ~5x slower per draw), so a field of ten
// million values costs nothing to set up.

/** Largest n sampled through an alias table. */
export const ZIPF_ALIAS_MAX = 1 << 20;
// Local aliases: global lookups (Math.*) are slow inside jest's vm sandbox, where tests run
// these loops over hundreds of thousands of rows.
const { abs, exp, floor, log, log1p, expm1 } = Math;

export class ZipfSampler {
  private readonly hX1: number;
  private readonly hN: number;
  private readonly sq: number;
  private readonly aliasProb: Float64Array | undefined;
  private readonly alias: Uint32Array | undefined;
  private normalizer: number | undefined;

  constructor(
    readonly n: number,
    readonly exponent: number,
  ) {
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`Zipf: n must be a positive integer, got ${n}`);
    if (!(exponent > 0)) throw new Error(`Zipf: exponent must be > 0, got ${exponent}`);
    this.hX1 = this.hIntegral(1.5) - 1;
    this.hN = this.hIntegral(n + 0.5);
    this.sq = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
    if (n <= ZIPF_ALIAS_MAX) {
      const { prob, alias } = aliasTable(n, exponent);
      this.aliasProb = prob;
      this.alias = alias;
    }
  }

  /** A rank in 1..n (1 the most frequent); `uniform` gives numbers in [0, 1). */
  sample(uniform: () => number): number {
    if (this.aliasProb !== undefined) {
      // One 53-bit uniform: its integer part picks the column, its fraction the coin.
      const x = uniform() * this.n;
      const i = floor(x);
      return (
        (x - i < (this.aliasProb[i] as number) ? i : ((this.alias as Uint32Array)[i] as number)) + 1
      );
    }
    for (;;) {
      const u = this.hN + uniform() * (this.hX1 - this.hN);
      const x = this.hIntegralInverse(u);
      let k = floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > this.n) k = this.n;
      if (k - x <= this.sq || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
  }

  /** Exact P(k) (for tests and reports; the normalizer is summed once, O(n)). */
  probability(k: number): number {
    if (this.normalizer === undefined) {
      let z = 0;
      for (let i = 1; i <= this.n; i += 1) z += i ** -this.exponent;
      this.normalizer = z;
    }
    return k ** -this.exponent / this.normalizer;
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

/** Vose's alias method over P(i + 1) proportional to (i + 1)^-s, i in 0..n-1. */
function aliasTable(n: number, s: number): { prob: Float64Array; alias: Uint32Array } {
  const p = new Float64Array(n);
  let z = 0;
  for (let i = 0; i < n; i += 1) z += (i + 1) ** -s;
  for (let i = 0; i < n; i += 1) p[i] = ((i + 1) ** -s / z) * n;
  const prob = new Float64Array(n);
  const alias = new Uint32Array(n);
  const small = new Uint32Array(n);
  const large = new Uint32Array(n);
  let ns = 0;
  let nl = 0;
  for (let i = n - 1; i >= 0; i -= 1) {
    if ((p[i] as number) < 1) small[ns++] = i;
    else large[nl++] = i;
  }
  while (ns > 0 && nl > 0) {
    const l = small[--ns] as number;
    const g = large[--nl] as number;
    prob[l] = p[l] as number;
    alias[l] = g;
    p[g] = (p[g] as number) + (p[l] as number) - 1;
    if ((p[g] as number) < 1) small[ns++] = g;
    else large[nl++] = g;
  }
  while (nl > 0) prob[large[--nl] as number] = 1;
  while (ns > 0) prob[small[--ns] as number] = 1; // rounding leftovers
  return { prob, alias };
}

function helper1(x: number): number {
  return abs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

function helper2(x: number): number {
  return abs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}

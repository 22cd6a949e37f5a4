// Seeded random numbers for weight initialisation. We generate initial values ourselves on typed
// arrays (not tf.randomNormal) so a seed gives the same weights on every backend and version.

/** mulberry32: a small, fast 32-bit generator; uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviates (Box-Muller, both outputs used). */
export class NormalRng {
  private readonly uniform: () => number;
  private spare: number | undefined;

  constructor(seed: number) {
    this.uniform = mulberry32(seed);
  }

  next(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    // 1 - u keeps the log argument in (0, 1].
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** `n` values ~ N(0, sigma²). */
  fill(n: number, sigma: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 1) out[i] = this.next() * sigma;
    return out;
  }
}

/**
 * Xavier-normal standard deviation (docs/methods/reference.md#initializer):
 * sqrt(2 / (fan_in + fan_out)).
 */
export function xavierSigma(fanIn: number, fanOut: number): number {
  return Math.sqrt(2 / (fanIn + fanOut));
}

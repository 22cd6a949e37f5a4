// Seeded randomness for request generation. Every request i draws from its own stream, seeded by
// (scenario seed, i), so request i is the same whichever process, VU or order produces it: the
// Node runner and the k6 scripts (k6/gen.js, a hand port checked by gen-parity.spec.ts) send
// identical request streams for one scenario file.
const { imul, log, sqrt, cos, PI } = Math;

/** A bijective avalanche mix of 32 bits (same constants as @embpress/data's synth hash). */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export function combine(a: number, b: number): number {
  return mix32((a + imul(b, 0x9e3779b9) + 0x632be5ab) >>> 0);
}

/** mulberry32: small, fast, and trivially the same in k6's JavaScript runtime. */
export class RequestRng {
  private state: number;

  constructor(seed: number, index: number) {
    this.state = combine(seed >>> 0, index >>> 0);
  }

  /** Uniform in [0, 1) with 32 random bits. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller; one value per call, so the stream has no hidden state). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log stays finite
    const u2 = this.next();
    return sqrt(-2 * log(u1)) * cos(2 * PI * u2);
  }
}

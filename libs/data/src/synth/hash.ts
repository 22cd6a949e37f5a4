// Stateless hashing for the synthetic model: its parameters are functions of (seed, field, raw
// value), so the generator stores no weight table and anyone holding the seed can recompute the
// true probability of a row from the file alone.

// Local alias: global lookups (Math.*) are slow inside jest's vm sandbox.
const { imul } = Math;

/** A bijective avalanche mix of 32 bits (each step is invertible mod 2^32). */
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

/** FNV-1a over UTF-16 code units, then mixed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i += 1) h = imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h >>> 0);
}

/** Uniform in [-sqrt(3), sqrt(3)): zero mean, unit variance. */
export function unitUniform(h: number): number {
  return ((h >>> 0) / 4294967296 - 0.5) * 3.4641016151377544;
}

const HEX2 = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** 8 lowercase hex digits (Criteo's categorical format); 10x faster than toString(16).padStart. */
export function hex8(v: number): string {
  return (
    (HEX2[v >>> 24] as string) +
    (HEX2[(v >>> 16) & 255] as string) +
    (HEX2[(v >>> 8) & 255] as string) +
    (HEX2[v & 255] as string)
  );
}

/** One xorshift32 step: a cheap stream of further values from one hash (state must be non-zero). */
export function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/** A keyed bijection of uint32 (distinct ranks give distinct raw values). */
export function permute32(x: number, key: number): number {
  return mix32(((x >>> 0) ^ key) >>> 0);
}

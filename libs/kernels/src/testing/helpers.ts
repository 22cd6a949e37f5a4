// Test helpers of the kernel specs: a seeded generator, exact bit comparison, a float64 bound.
import { createKernels } from '../select';
import type { Kernels } from '../types';

export const wasm: Kernels = createKernels('wasm');
export const scalar: Kernels = createKernels('scalar');

/** mulberry32: a small seeded generator, so a failure reproduces. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [−scale, scale). */
export function randomF32(random: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 1) out[i] = (random() * 2 - 1) * scale;
  return out;
}

/**
 * Index of the first value whose bits differ (NaNs of any payload count as equal, as the kernels
 * canonicalize NaN), or −1 when the arrays are bit-identical.
 */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i += 1) {
    if (ua[i] === ub[i]) continue;
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    return i;
  }
  return -1;
}

/** Expects the same bits from both implementations (and the reference when given). */
export function expectSameBits(actual: Float32Array, expected: Float32Array, what = ''): void {
  const at = firstBitDifference(actual, expected);
  if (at >= 0)
    throw new Error(
      `${what}: lengths ${actual.length}/${expected.length}, first difference at ${at}: ` +
        `${actual[at]} vs ${expected[at]}`,
    );
}

/**
 * |actual − exact| ≤ 2^−20·(terms + 8)·magnitude for every value: the error bound of an f32 sum
 * of `terms` rounded terms whose absolute values add up to `magnitude` (with slack).
 */
export function expectWithin(
  actual: Float32Array,
  exact: Float64Array,
  magnitude: Float64Array,
  terms: number,
  what = '',
): void {
  expect(actual.length).toBe(exact.length);
  for (let i = 0; i < actual.length; i += 1) {
    const bound = 2 ** -20 * (terms + 8) * (magnitude[i] as number) + 1e-30;
    const error = Math.abs((actual[i] as number) - (exact[i] as number));
    if (!(error <= bound))
      throw new Error(`${what}: value ${i} is ${actual[i]}, exact ${exact[i]} (bound ${bound})`);
  }
}

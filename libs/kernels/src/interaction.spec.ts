import { expectSameBits, expectWithin, randomF32, rng, scalar, wasm } from './testing/helpers';

/** float64 forward and the sum of |products| per pair (for the error bound). */
function reference(z: Float32Array, batch: number, n: number, dim: number) {
  const pairs = (n * (n - 1)) / 2;
  const exact = new Float64Array(batch * pairs);
  const magnitude = new Float64Array(batch * pairs);
  let o = 0;
  for (let s = 0; s < batch; s += 1)
    for (let i = 1; i < n; i += 1)
      for (let j = 0; j < i; j += 1, o += 1)
        for (let d = 0; d < dim; d += 1) {
          const p = (z[(s * n + i) * dim + d] as number) * (z[(s * n + j) * dim + d] as number);
          exact[o] = (exact[o] as number) + p;
          magnitude[o] = (magnitude[o] as number) + Math.abs(p);
        }
  return { exact, magnitude };
}

/** float64 backward: dz_i = Σ_{j≠i} dy_(max,min) z_j. */
function referenceBackward(
  z: Float32Array,
  dy: Float32Array,
  batch: number,
  n: number,
  dim: number,
) {
  const pairs = (n * (n - 1)) / 2;
  const exact = new Float64Array(batch * n * dim);
  const magnitude = new Float64Array(batch * n * dim);
  for (let s = 0; s < batch; s += 1)
    for (let i = 0; i < n; i += 1)
      for (let j = 0; j < n; j += 1) {
        if (j === i) continue;
        const g = dy[s * pairs + (i > j ? (i * (i - 1)) / 2 + j : (j * (j - 1)) / 2 + i)] as number;
        for (let d = 0; d < dim; d += 1) {
          const p = g * (z[(s * n + j) * dim + d] as number);
          const o = (s * n + i) * dim + d;
          exact[o] = (exact[o] as number) + p;
          magnitude[o] = (magnitude[o] as number) + Math.abs(p);
        }
      }
  return { exact, magnitude };
}

const shapes: Array<[number, number, number]> = [];
for (const batch of [0, 1, 3])
  for (const n of [1, 2, 5, 27])
    for (const dim of [1, 3, 4, 5, 16, 17, 33, 64]) shapes.push([batch, n, dim]);

describe('dot interaction', () => {
  it.each(shapes)(
    'forward B=%i n=%i D=%i: wasm = scalar, within the bound of float64',
    (B, n, D) => {
      const random = rng(B * 1000 + n * 100 + D);
      const z = randomF32(random, B * n * D, 3);
      const w = wasm.dotInteraction(z, B, n, D);
      expectSameBits(w, scalar.dotInteraction(z, B, n, D), 'wasm vs scalar');
      const { exact, magnitude } = reference(z, B, n, D);
      expectWithin(w, exact, magnitude, D, 'vs float64');
    },
  );

  it.each(shapes)(
    'backward B=%i n=%i D=%i: wasm = scalar, within the bound of float64',
    (B, n, D) => {
      const random = rng(B * 1000 + n * 100 + D + 7);
      const z = randomF32(random, B * n * D, 3);
      const dy = randomF32(random, (B * n * (n - 1)) / 2, 2);
      const w = wasm.dotInteractionBackward(z, dy, B, n, D);
      expectSameBits(w, scalar.dotInteractionBackward(z, dy, B, n, D), 'wasm vs scalar');
      const { exact, magnitude } = referenceBackward(z, dy, B, n, D);
      expectWithin(w, exact, magnitude, n, 'vs float64');
    },
  );

  it('zero rows, signed zeros, huge and tiny values give the same bits', () => {
    for (const D of [3, 16, 17]) {
      const B = 2;
      const n = 6;
      const random = rng(D);
      const z = randomF32(random, B * n * D, 1);
      for (let d = 0; d < D; d += 1) {
        z[d] = 0; // sample 0, row 0: +0
        z[D + d] = -0; // sample 0, row 1: −0
        z[2 * D + d] = (z[2 * D + d] as number) * 1e18; // products near 1e36
        z[3 * D + d] = (z[3 * D + d] as number) * 1e-25; // subnormal products
      }
      const dy = randomF32(random, (B * n * (n - 1)) / 2, 1);
      dy[0] = 0;
      dy[1] = -0;
      expectSameBits(wasm.dotInteraction(z, B, n, D), scalar.dotInteraction(z, B, n, D), 'fwd');
      expectSameBits(
        wasm.dotInteractionBackward(z, dy, B, n, D),
        scalar.dotInteractionBackward(z, dy, B, n, D),
        'bwd',
      );
    }
  });

  it('writes into a given out array and checks its arguments', () => {
    const z = randomF32(rng(1), 2 * 4 * 5);
    const out = new Float32Array(2 * 6).fill(99);
    expect(wasm.dotInteraction(z, 2, 4, 5, out)).toBe(out);
    expectSameBits(out, scalar.dotInteraction(z, 2, 4, 5), 'out');
    const dz = new Float32Array(2 * 4 * 5).fill(99);
    scalar.dotInteractionBackward(z, new Float32Array(12), 2, 4, 5, dz);
    expect(Array.from(dz).every((v) => v === 0)).toBe(true); // a given out is overwritten
    for (const k of [wasm, scalar]) {
      expect(() => k.dotInteraction(z, 2, 4, 4)).toThrow(/z has 40 values, expected 32/);
      expect(() => k.dotInteraction(z, 2, 4, 5, new Float32Array(11))).toThrow(/out has 11/);
      expect(() => k.dotInteraction(z, 2, 0, 5)).toThrow(/n must be an integer ≥ 1/);
      expect(() => k.dotInteraction(z, 2.5, 4, 4)).toThrow(/batch must be an integer/);
    }
  });
});

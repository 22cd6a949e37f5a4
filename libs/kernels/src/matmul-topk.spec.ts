import { expectSameBits, expectWithin, randomF32, rng, scalar, wasm } from './testing/helpers';

describe('matmul', () => {
  const shapes: Array<[number, number, number]> = [
    [0, 3, 4],
    [3, 0, 4],
    [1, 1, 1],
    [4, 8, 8],
    [5, 7, 9],
    [7, 16, 13],
    [9, 33, 20],
    [64, 32, 16],
  ];
  it.each(shapes)(
    'C[%i×·] = A·B (k=%i, n=%i), bias and ReLU: wasm = scalar, ≈ float64',
    (m, k, n) => {
      const random = rng(m * 10000 + k * 100 + n);
      const a = randomF32(random, m * k, 2);
      const b = randomF32(random, k * n, 2);
      const bias = randomF32(random, n, 1);
      for (const options of [{}, { bias }, { bias, relu: true }, { relu: true }]) {
        const w = wasm.matmul(a, b, m, k, n, options);
        expectSameBits(
          w,
          scalar.matmul(a, b, m, k, n, options),
          JSON.stringify(Object.keys(options)),
        );
        const exact = new Float64Array(m * n);
        const magnitude = new Float64Array(m * n);
        for (let i = 0; i < m; i += 1)
          for (let j = 0; j < n; j += 1) {
            let s = 0;
            let mag = 0;
            for (let kk = 0; kk < k; kk += 1) {
              const p = (a[i * k + kk] as number) * (b[kk * n + j] as number);
              s += p;
              mag += Math.abs(p);
            }
            if ('bias' in options) {
              s += bias[j] as number;
              mag += Math.abs(bias[j] as number);
            }
            // ReLU's kink: compare max(0, ·) of both sides (a value within the bound of 0 may clip).
            exact[i * n + j] = 'relu' in options ? Math.max(0, s) : s;
            magnitude[i * n + j] = mag;
          }
        expectWithin(w, exact, magnitude, k + 1, 'vs float64');
      }
    },
  );

  it('ReLU maps NaN and −0 to +0 in both implementations', () => {
    const a = Float32Array.of(NaN, -0, 1, -1);
    const b = Float32Array.of(1, 1, 1, 1, 1, 1, 1, 1, 1);
    for (const k of [wasm, scalar]) {
      // 4×1 times 1×9: every row of C is a[i]·1, through the 4×8 block and the single column.
      const c = k.matmul(a, b, 4, 1, 9, { relu: true });
      expect(Array.from(c.subarray(0, 9)).every((v) => Object.is(v, 0))).toBe(true);
      expect(Array.from(c.subarray(9, 18)).every((v) => Object.is(v, 0))).toBe(true);
      expect(Array.from(c.subarray(18, 27))).toEqual(new Array(9).fill(1));
    }
  });

  it('takes B and the bias pinned, with the same bits as unpinned', () => {
    const random = rng(77);
    const [m, k, n] = [6, 19, 11];
    const a = randomF32(random, m * k, 2);
    const b = randomF32(random, k * n, 2);
    const bias = randomF32(random, n, 1);
    for (const kernels of [wasm, scalar]) {
      const pb = kernels.pin(b);
      const pbias = kernels.pin(bias);
      const plain = kernels.matmul(a, b, m, k, n, { bias, relu: true });
      expectSameBits(kernels.matmul(a, pb, m, k, n, { bias: pbias, relu: true }), plain, 'pinned');
      expectSameBits(kernels.matmul(a, pb, m, k, n, { bias, relu: true }), plain, 'pinned B');
      expect(() => kernels.matmul(a, pb, m, k, n + 1)).toThrow(/b has .* values, expected/);
      pb.dispose();
      expect(() => kernels.matmul(a, pb, m, k, n)).toThrow(/disposed/);
      pbias.dispose();
    }
    // A pin belongs to the kernels that made it.
    const foreign = scalar.pin(b);
    expect(() => wasm.matmul(a, foreign, m, k, n)).toThrow(/pinned by the scalar kernels/);
  });

  it('checks its arguments', () => {
    for (const k of [wasm, scalar]) {
      expect(() => k.matmul(new Float32Array(6), new Float32Array(6), 2, 3, 3)).toThrow(
        /b has 6 values, expected 9/,
      );
      expect(() =>
        k.matmul(new Float32Array(6), new Float32Array(6), 2, 3, 2, { bias: new Float32Array(3) }),
      ).toThrow(/bias has 3 values, expected 2/);
    }
  });
});

describe('topK', () => {
  /** Sort-based reference: descending score, ascending index on ties. */
  function reference(scores: Float32Array, k: number) {
    const order = Array.from(scores.keys()).sort(
      (x, y) => (scores[y] as number) - (scores[x] as number) || x - y,
    );
    const top = order.slice(0, Math.min(k, scores.length));
    return {
      indices: Uint32Array.from(top),
      scores: Float32Array.from(top, (i) => scores[i] as number),
    };
  }

  const cases: Array<[number, number, string]> = [];
  for (const count of [0, 1, 3, 4, 7, 100, 1001])
    for (const k of [0, 1, 2, 5, 64, 2000])
      for (const kind of ['random', 'ties']) cases.push([count, k, kind]);

  it.each(cases)('%i scores, k=%i (%s): wasm = scalar = sort', (count, k, kind) => {
    const random = rng(count * 7 + k);
    const scores = new Float32Array(count).map(() =>
      kind === 'ties' ? Math.floor(random() * 5) - 2 : random() * 2 - 1,
    );
    if (kind === 'ties' && count > 0) scores[count - 1] = 3; // the best is last
    const expected = reference(scores, k);
    for (const impl of [wasm, scalar]) {
      const got = impl.topK(scores, k);
      expect(Array.from(got.indices)).toEqual(Array.from(expected.indices));
      expectSameBits(got.scores, expected.scores, impl.impl);
    }
  });

  it('keeps ±inf, −0 and ties in index order', () => {
    const scores = Float32Array.of(0, -0, Infinity, -Infinity, 0, Infinity, 2, -0, 2);
    for (const impl of [wasm, scalar]) {
      const got = impl.topK(scores, 6);
      // −0 and +0 compare equal: the lower index wins, whatever the sign.
      expect(Array.from(got.indices)).toEqual([2, 5, 6, 8, 0, 1]);
    }
  });
});

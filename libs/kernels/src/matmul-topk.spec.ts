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

  // Every path of assembly/matmul.ts: 4-row blocks and a 3-, 2- or 1-row tail (m mod 4); 8- and
  // 4-column blocks, the overlapping last block (n mod 8 ≠ 0) and single columns (n < 4); k = 0, 1.
  it('wasm = scalar bit for bit on every row tail and column tail', () => {
    const random = rng(4242);
    for (const m of [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11])
      for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 22, 158])
        for (const k of [0, 1, 2, 5, 17]) {
          const a = randomF32(random, m * k, 2);
          const b = randomF32(random, k * n, 2);
          const bias = randomF32(random, n, 1);
          for (const options of [{}, { bias, relu: true }]) {
            const what = `m=${m} k=${k} n=${n} ${JSON.stringify(Object.keys(options))}`;
            expectSameBits(
              wasm.matmul(a, b, m, k, n, options),
              scalar.matmul(a, b, m, k, n, options),
              what,
            );
          }
        }
  });

  it('wasm = scalar on zero rows, ±0, subnormals, overflow and NaN', () => {
    const values = [0, -0, 1e-40, -3e-39, 3e38, -3e38, NaN, 1, -1.5, 7];
    const random = rng(99);
    const pick = (count: number) =>
      Float32Array.from({ length: count }, () => values[Math.floor(random() * values.length)] ?? 0);
    for (const [m, k, n] of [
      [7, 9, 13],
      [6, 3, 5],
      [5, 4, 3],
      [3, 1, 10],
    ] as const) {
      const a = pick(m * k);
      a.fill(0, 0, k); // a zero row
      a.fill(-0, k, 2 * k); // a row of −0
      const b = pick(k * n);
      const bias = pick(n);
      for (const options of [{}, { bias }, { bias, relu: true }, { relu: true }])
        expectSameBits(
          wasm.matmul(a, b, m, k, n, options),
          scalar.matmul(a, b, m, k, n, options),
          `m=${m} k=${k} n=${n} ${JSON.stringify(Object.keys(options))}`,
        );
    }
  });

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

describe('groupedMatmul', () => {
  /** The reference: matmul of each run's gathered rows, concatenated. */
  function perRun(
    kernels: typeof wasm,
    a: Float32Array,
    rows: Uint32Array,
    b: Float32Array,
    groups: Uint32Array,
    k: number,
    n: number,
    options: { bias?: Float32Array; relu?: boolean },
  ): Float32Array {
    const out = new Float32Array(rows.length * n);
    let at = 0;
    for (let g = 0; g < groups.length; g += 2) {
      const count = groups[g + 1] as number;
      const gathered = new Float32Array(count * k);
      for (let i = 0; i < count; i += 1) {
        const r = rows[at + i] as number;
        gathered.set(a.subarray(r * k, (r + 1) * k), i * k);
      }
      const m = groups[g] as number;
      out.set(
        kernels.matmul(gathered, b.subarray(m * k * n, (m + 1) * k * n), count, k, n, options),
        at * n,
      );
      at += count;
    }
    return out;
  }

  it.each([
    [1, 1],
    [3, 4],
    [5, 8],
    [7, 13],
    [16, 158],
    [17, 4],
    [9, 2],
  ])('k=%i, n=%i: wasm = scalar = matmul per run, runs of 0-9 rows', (k, n) => {
    const random = rng(k * 1000 + n);
    const aRows = 23;
    const matrices = 5;
    const a = randomF32(random, aRows * k, 2);
    const b = randomF32(random, matrices * k * n, 2);
    const bias = randomF32(random, n, 1);
    const pairs: number[] = [];
    const rowList: number[] = [];
    for (let g = 0; g < 12; g += 1) {
      const count = g % 10; // 0..9: every row tail, empty runs too
      pairs.push(Math.floor(random() * matrices), count);
      for (let i = 0; i < count; i += 1) rowList.push(Math.floor(random() * aRows));
    }
    const rows = Uint32Array.from(rowList);
    const groups = Uint32Array.from(pairs);
    for (const options of [{}, { bias }, { bias, relu: true }]) {
      const what = `${JSON.stringify(Object.keys(options))}`;
      const expected = perRun(scalar, a, rows, b, groups, k, n, options);
      expectSameBits(scalar.groupedMatmul(a, rows, b, groups, k, n, options), expected, what);
      expectSameBits(wasm.groupedMatmul(a, rows, b, groups, k, n, options), expected, what);
      expectSameBits(perRun(wasm, a, rows, b, groups, k, n, options), expected, what);
    }
  });

  it('reads A and B pinned with the same bits, and no rows gives an empty result', () => {
    const random = rng(5);
    const [k, n] = [6, 10];
    const a = randomF32(random, 8 * k);
    const b = randomF32(random, 3 * k * n);
    const rows = Uint32Array.of(7, 0, 3, 3, 5, 1, 2);
    const groups = Uint32Array.of(2, 3, 0, 0, 1, 4);
    for (const kernels of [wasm, scalar]) {
      const pa = kernels.pin(a);
      const pb = kernels.pin(b);
      expectSameBits(
        kernels.groupedMatmul(pa, rows, pb, groups, k, n),
        kernels.groupedMatmul(a, rows, b, groups, k, n),
        kernels.impl,
      );
      expect(kernels.groupedMatmul(pa, new Uint32Array(0), pb, new Uint32Array(0), k, n)).toEqual(
        new Float32Array(0),
      );
      pa.dispose();
      pb.dispose();
    }
  });

  it('checks its arguments', () => {
    const a = new Float32Array(12); // 4 rows of k = 3
    const b = new Float32Array(12); // 2 matrices of 3 × 2
    for (const k of [wasm, scalar]) {
      const call = (rows: number[], groups: number[], kk = 3, n = 2) =>
        k.groupedMatmul(a, Uint32Array.from(rows), b, Uint32Array.from(groups), kk, n);
      expect(call([0, 3], [1, 2]).length).toBe(4);
      expect(() => call([4], [0, 1])).toThrow(/row 4 at 0 is outside the 4-row A/);
      expect(() => call([0], [2, 1])).toThrow(/matrix 2 of group 0 is outside B's 2 matrices/);
      expect(() => call([0, 1], [0, 1])).toThrow(/groups cover 1 rows, rows has 2/);
      expect(() => call([0], [0, 1, 1])).toThrow(/\[matrix, count\] pairs/);
      expect(() => call([0], [0, 1], 5)).toThrow(/not whole rows of 20 bytes/);
      expect(() => call([0], [0, 1], 0)).toThrow(/k must be an integer ≥ 1/);
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

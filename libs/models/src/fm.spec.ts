import { FactorizationMachine } from './fm';
import { ModelConfigError, InputShapeError } from './errors';
import { bceWithLogits, rocAuc } from './metrics';
import { mulberry32 } from './rng';

/** Loss of the model's current parameters in float64 (for finite differences). */
function lossOf(fm: FactorizationMachine, ids: Uint32Array, dense: Float32Array, y: Float32Array) {
  return fm.gradients(ids, dense, y).loss;
}

describe('FactorizationMachine', () => {
  const config = { numFeatures: 7, numFields: 3, numDense: 2, factors: 3 };
  // Ids per field: field 0 → 0..2, field 1 → 3..4, field 2 → 5..6.
  const ids = Uint32Array.from([0, 3, 5, 1, 4, 6, 2, 3, 6, 0, 4, 5]);
  const dense = Float32Array.from([0.5, 1.5, 0, 2, 1.2, 0.3, 0.7, 0]);
  const labels = Float32Array.from([1, 0, 1, 0]);

  it('matches the pairwise definition Σ_{i<j} <v_i, v_j> x_i x_j', () => {
    const fm = new FactorizationMachine(config, { seed: 3, initStd: 0.5 });
    fm.bias = 0.2;
    fm.linear.set([0.1, -0.2, 0.3, 0.05, -0.4, 0.2, 0.15, 0.6, -0.3]);
    const logits = fm.predictLogits(ids, dense);
    const K = config.factors;
    for (let s = 0; s < 4; s += 1) {
      const active: { i: number; x: number }[] = [];
      for (let f = 0; f < 3; f += 1) active.push({ i: ids[s * 3 + f] as number, x: 1 });
      for (let j = 0; j < 2; j += 1) active.push({ i: 7 + j, x: dense[s * 2 + j] as number });
      let z = fm.bias;
      for (const { i, x } of active) z += (fm.linear[i] as number) * x;
      for (let a = 0; a < active.length; a += 1)
        for (let b = a + 1; b < active.length; b += 1) {
          const p = active[a] as { i: number; x: number };
          const q = active[b] as { i: number; x: number };
          let dot = 0;
          for (let k = 0; k < K; k += 1)
            dot += (fm.factors[p.i * K + k] as number) * (fm.factors[q.i * K + k] as number);
          z += dot * p.x * q.x;
        }
      expect(logits[s]).toBeCloseTo(z, 5);
    }
  });

  it('has gradients that agree with central finite differences', () => {
    const fm = new FactorizationMachine(config, { seed: 5, initStd: 0.4 });
    fm.linear.set([0.1, -0.2, 0.3, 0.05, -0.4, 0.2, 0.15, 0.6, -0.3]);
    const g = fm.gradients(ids, dense, labels);
    const h = 1e-3;
    const check = (arr: Float32Array, i: number, analytic: number) => {
      const orig = arr[i] as number;
      arr[i] = orig + h;
      const up = lossOf(fm, ids, dense, labels);
      arr[i] = orig - h;
      const down = lossOf(fm, ids, dense, labels);
      arr[i] = orig;
      // float32 parameters: compare at the precision a ±1e-3 step allows.
      expect(Math.abs((up - down) / (2 * h) - analytic)).toBeLessThan(2e-4);
    };
    for (let i = 0; i < fm.linear.length; i += 1) check(fm.linear, i, g.linear[i] as number);
    for (let i = 0; i < fm.factors.length; i += 1) check(fm.factors, i, g.factors[i] as number);
    const b0 = fm.bias;
    fm.bias = b0 + h;
    const up = lossOf(fm, ids, dense, labels);
    fm.bias = b0 - h;
    const down = lossOf(fm, ids, dense, labels);
    fm.bias = b0;
    expect(Math.abs((up - down) / (2 * h) - g.bias)).toBeLessThan(1e-5);
    expect(g.loss).toBeCloseTo(bceWithLogits(g.logits, labels), 6);
  });

  it('changes only the rows a batch touches', () => {
    const fm = new FactorizationMachine(
      { numFeatures: 10, numFields: 2, numDense: 1, factors: 2 },
      { seed: 1, optimizer: { kind: 'adam', lr: 0.1 } },
    );
    const before = fm.snapshot();
    fm.step(Uint32Array.from([1, 6, 2, 7]), Float32Array.from([0, 0]), Float32Array.from([1, 0]));
    for (let i = 0; i < 10; i += 1) {
      const touched = [1, 2, 6, 7].includes(i);
      expect(fm.linear[i] !== before.linear[i]).toBe(touched);
    }
    // The dense feature was 0 in every sample: its row did not move.
    expect(fm.linear[10]).toBe(before.linear[10]);
    expect(fm.factors.subarray(20, 22)).toEqual(before.factors.subarray(20, 22));
  });

  it.each(['adagrad', 'adam'] as const)(
    'learns a separable problem with a pairwise interaction (%s)',
    (kind) => {
      // Two fields of 4 values; label = 1 iff the two values have the same parity (XOR-like:
      // no first-order weight separates it, the pairwise term must).
      const rand = mulberry32(11);
      const n = 2048;
      const ids = new Uint32Array(n * 2);
      const y = new Float32Array(n);
      for (let s = 0; s < n; s += 1) {
        const a = Math.floor(rand() * 4);
        const b = Math.floor(rand() * 4);
        ids[s * 2] = a;
        ids[s * 2 + 1] = 4 + b;
        y[s] = a % 2 === b % 2 ? 1 : 0;
      }
      const fm = new FactorizationMachine(
        { numFeatures: 8, numFields: 2, numDense: 0, factors: 4 },
        { seed: 2, initStd: 0.1, optimizer: { kind, lr: kind === 'adam' ? 0.05 : 0.2 } },
      );
      const none = new Float32Array(0);
      const first = fm.step(ids.subarray(0, 512), none, y.subarray(0, 256)).loss;
      for (let epoch = 0; epoch < 30; epoch += 1)
        for (let lo = 0; lo < n; lo += 256)
          fm.step(ids.subarray(lo * 2, (lo + 256) * 2), none, y.subarray(lo, lo + 256));
      const logits = fm.predictLogits(ids, none);
      expect(rocAuc(logits, y)).toBe(1);
      expect(bceWithLogits(logits, y)).toBeLessThan(first / 4);
      for (let s = 0; s < n; s += 1) expect((logits[s] as number) > 0).toBe(y[s] === 1);
    },
  );

  it('rejects bad configurations and inputs', () => {
    expect(
      () => new FactorizationMachine({ numFeatures: 0, numFields: 1, numDense: 0, factors: 2 }),
    ).toThrow(ModelConfigError);
    expect(
      () =>
        new FactorizationMachine(
          { numFeatures: 4, numFields: 1, numDense: 0, factors: 2 },
          { optimizer: { kind: 'adam', lr: 0 } },
        ),
    ).toThrow(ModelConfigError);
    const fm = new FactorizationMachine({ numFeatures: 4, numFields: 2, numDense: 1, factors: 2 });
    expect(() => fm.predictLogits(Uint32Array.from([1, 2, 3]), new Float32Array(1))).toThrow(
      InputShapeError,
    );
    expect(() => fm.predictLogits(Uint32Array.from([1, 9]), new Float32Array(1))).toThrow(
      /outside/,
    );
    expect(() =>
      fm.step(Uint32Array.from([1, 2]), new Float32Array(1), new Float32Array(2)),
    ).toThrow(InputShapeError);
  });
});

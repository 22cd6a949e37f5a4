// The dense optimizer's AMSGrad against a two-step update computed by hand, and its checkpoint
// state (the extra `@vmax` slot).
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { ModelConfigError, WeightsError } from './errors';
import { DenseOptimizer } from './optimizer';

beforeAll(async () => {
  await initBackend('wasm');
});

/** One two-valued parameter w and the optimizer over it. */
function setup(amsgrad: boolean) {
  const variable = tf.variable(tf.tensor1d([1, -2]), true);
  // β2 = 0.9 (not 0.999) so that v falls visibly below its maximum in the second step.
  const opt = new DenseOptimizer({ kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.9, amsgrad }, [
    { name: 'w', variable },
  ]);
  const step = (g: number[]) => tf.tidy(() => opt.apply([tf.tensor1d(g)]));
  return { variable, opt, step, values: () => Array.from(variable.dataSync()) };
}

describe('DenseOptimizer amsgrad', () => {
  it('divides by the running maximum of v: two steps by hand', () => {
    const eps = 1e-8;
    // Gradients: step 1 g = (1, 0.5); step 2 g = (0, 2) (v of value 0 falls, of value 1 rises).
    const g1 = [1, 0.5];
    const g2 = [0, 2];
    const expected = (amsgrad: boolean) =>
      [0, 1].map((k) => {
        let w = k === 0 ? 1 : -2;
        const a = g1[k] as number;
        const b = g2[k] as number;
        // Step 1: m = 0.1 a, v = 0.1 a², c1 = c2 = 0.1 → w -= 0.1 · a / (|a| + ε).
        const m1 = 0.1 * a;
        const v1 = 0.1 * a * a;
        w -= (0.1 * (m1 / 0.1)) / (Math.sqrt(v1 / 0.1) + eps);
        // Step 2: m = 0.9 m1 + 0.1 b, v = 0.9 v1 + 0.1 b², c1 = c2 = 1 − 0.81 = 0.19.
        const m2 = 0.9 * m1 + 0.1 * b;
        const v2 = 0.9 * v1 + 0.1 * b * b;
        const vUsed = amsgrad ? Math.max(v1, v2) : v2;
        w -= (0.1 * (m2 / 0.19)) / (Math.sqrt(vUsed / 0.19) + eps);
        return w;
      });
    // The hand values written out (ε left out, hence 7 digits): amsgrad keeps v = 0.1 for value 0
    // (Adam's falls to 0.09).
    expect(expected(true)[0]).toBeCloseTo(
      1 - 0.1 - (0.1 * (0.09 / 0.19)) / Math.sqrt(0.1 / 0.19),
      7,
    );
    expect(expected(false)[0]).toBeCloseTo(
      1 - 0.1 - (0.1 * (0.09 / 0.19)) / Math.sqrt(0.09 / 0.19),
      7,
    );

    for (const amsgrad of [true, false]) {
      const s = setup(amsgrad);
      s.step(g1);
      s.step(g2);
      const got = s.values();
      const want = expected(amsgrad);
      expect(got[0]).toBeCloseTo(want[0] as number, 6);
      expect(got[1]).toBeCloseTo(want[1] as number, 6);
      s.opt.dispose();
      s.variable.dispose();
    }
    // The two really differ on value 0 (0.8347 vs 0.8312), by far more than the tolerance.
    expect(
      Math.abs((expected(true)[0] as number) - (expected(false)[0] as number)),
    ).toBeGreaterThan(1e-3);
  });

  it('checkpoints the maximum as <param>@vmax and restores it', () => {
    const a = setup(true);
    a.step([1, 0.5]);
    const state = a.opt.exportState();
    expect(state.slots.map((s) => s.name)).toEqual(['w@m', 'w@v', 'w@vmax']);
    const b = setup(true);
    b.variable.assign(tf.tensor1d(a.values()));
    b.opt.importState(state);
    a.step([0, 2]);
    b.step([0, 2]);
    expect(b.values()).toEqual(a.values());
    // A plain Adam's state lacks the maximum: refused, not silently zeroed.
    const plain = setup(false);
    expect(() => b.opt.importState(plain.opt.exportState())).toThrow(WeightsError);
    for (const s of [a, b, plain]) {
      s.opt.dispose();
      s.variable.dispose();
    }
  });

  it('is refused for sgd and adagrad', () => {
    const variable = tf.variable(tf.tensor1d([1]), true);
    expect(
      () =>
        new DenseOptimizer({ kind: 'adagrad', lr: 0.1, amsgrad: true }, [{ name: 'w', variable }]),
    ).toThrow(ModelConfigError);
    variable.dispose();
  });
});

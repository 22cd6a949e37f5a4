import { describeTrainableConformance } from '../conformance/suite';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import type { TableShape } from '../core/shape';
import { registry } from '../methods';
import { alpt, AlptTrainable, alptRange, isAlptTrainable, lsqGamma, MIN_STEP } from './alpt';

// δ ('scale', one value per row) is a real parameter of e = Q·δ: the suite's finite-difference
// check applies to it.
describeTrainableConformance({ spec: 'alpt', shape: { fields: [50, 7, 300], dim: 8 } });
describeTrainableConformance({ spec: 'alpt(bits=8)', shape: { fields: [50, 7, 300], dim: 8 } });

const make = (spec: string, shape: TableShape, opt: SparseOptimizer, seed = 1) => {
  const r = registry.resolve(spec);
  const m = r.method.kind === 'trainable' ? r.method : undefined;
  return m?.createTrainable(shape, r.params, { seed, optimizer: opt }) as AlptTrainable;
};
const sgd = (lr: number) => new SparseOptimizer({ kind: 'sgd', lr });
const stepsOf = (t: AlptTrainable) => (t.parameters()[0] as { data: Float32Array }).data;

describe('alpt', () => {
  it('resolves the reference defaults (16 bits, init_scale 0.01, scale_lr 2e-5)', () => {
    expect(registry.resolve('alpt').spec).toBe('alpt(bits=16,initScale=0.01,scaleLr=0.00002)');
    expect(registry.resolve('alpt(bits=8)').params).toMatchObject({ bits: 8 });
    expect(() => registry.resolve('alpt(bits=4)')).toThrow();
    expect(alpt.paramsForBudget).toBeUndefined();
  });

  it('counts codes + one f32 step per row; paper words b/32 per value + 1 per row', () => {
    const shape = { fields: [10, 6], dim: 4 };
    const p = { bits: 8 as const, initScale: 0.01, scaleLr: 2e-5 };
    expect(alpt.estimateBytes(shape, p)).toBe(16 * 4 + 16 * 4);
    expect(alpt.estimateBytes(shape, { ...p, bits: 16 })).toBe(16 * 4 * 2 + 16 * 4);
    expect(alpt.paperWords(shape, p)).toBe(16 + 16);
    expect(alptRange(8)).toEqual({ qmin: -128, qmax: 127 });
    expect(alptRange(16)).toEqual({ qmin: -32768, qmax: 32767 });
  });

  it('serves e = Q·δ and initialises δ = init_scale, Q = stochastic round(w/δ)', () => {
    const t = make('alpt(bits=8)', { fields: [300], dim: 8 }, sgd(1));
    const steps = stepsOf(t);
    expect(steps.every((s) => s === Math.fround(0.01))).toBe(true);
    // b = sqrt(1/300) ≈ 5.8 steps.
    for (const c of t.codes) expect(Math.abs(c)).toBeLessThanOrEqual(6);
    t.codes.set([3, -128, 127], 0);
    steps[0] = 0.5;
    const out = new Float32Array(8);
    t.forward(Uint32Array.of(0), out);
    expect(Array.from(out.subarray(0, 3))).toEqual([1.5, -64, 63.5]);
  });

  it('LSQ γ: round(v) − v inside the range, Qmax / Qmin when clamped', () => {
    expect(lsqGamma(9.87, -128, 127)).toBeCloseTo(0.13, 12);
    expect(lsqGamma(9.2, -128, 127)).toBeCloseTo(-0.2, 12);
    expect(lsqGamma(2.5, -128, 127)).toBe(0.5); // round = ⌊v + 0.5⌋
    expect(lsqGamma(127, -128, 127)).toBe(127);
    expect(lsqGamma(300, -128, 127)).toBe(127);
    expect(lsqGamma(-128, -128, 127)).toBe(-128);
    expect(lsqGamma(-1e9, -128, 127)).toBe(-128);
  });

  it('one step on a hand-computed row (SGD): w′, δ gradient scaled by 1/√(bs·D·Qmax), Q', () => {
    const shape = { fields: [4], dim: 2 };
    const t = make('alpt(bits=8,scaleLr=0.00002)', shape, sgd(0.1));
    t.codes.set([10, 127], 0);
    const g = Float32Array.of(0.013, -1);
    t.backward(Uint32Array.of(0), g);
    const w0 = Math.fround(0.1 - 0.1 * 0.013);
    const d0 = Math.fround(0.01);
    const gamma0 = lsqGamma(w0 / d0, -128, 127); // v ≈ 9.87 → 0.13; v1 ≈ 137 → Qmax
    const gd = (0.013 * gamma0 + -1 * 127) / Math.sqrt(1 * 2 * 127); // bs = 1 lookup / 1 field
    const expected = Math.fround(d0 - 2e-5 * Math.fround(gd));
    const d1 = stepsOf(t)[0] as number;
    expect(d1).toBe(expected);
    expect(d1).toBeGreaterThan(d0); // clamped values widen the step
    const v0 = w0 / d1;
    expect([Math.floor(v0), Math.floor(v0) + 1]).toContain(t.codes[0]);
    expect(t.codes[1]).toBe(127); // 1.37 / 0.0102 ≈ 135 > Qmax
    expect(Array.from(stepsOf(t).subarray(1))).toEqual([d0, d0, d0]);
  });

  it('keeps δ ≥ 1e-8 where the reference lets it go ≤ 0 (pitfall), codes then clamp', () => {
    const shape = { fields: [2], dim: 1 };
    const t = make('alpt(bits=8,scaleLr=10)', shape, sgd(1e-3));
    t.codes.set([10, 0]);
    // w′ = 0.1 − 0.001·3 = 0.097, v = 9.7 → round 10, γ = 0.3 > 0 and g > 0: δ decreases by
    // 10·3·0.3/√(bs·D·Qmax) = 9/√(2·1·127) ≈ 0.56 ≫ 0.01.
    t.backward(Uint32Array.of(0, 1), Float32Array.of(3, 0));
    expect(stepsOf(t)[0]).toBe(MIN_STEP);
    expect(t.codes[0]).toBe(127);
    const out = new Float32Array(1);
    t.toTable().lookup(Uint32Array.of(0), out);
    expect(Number.isFinite(out[0])).toBe(true);
  });

  it('backward equals the two-pass hook fed the same gradients; pass 1 returns ŵ and changes nothing', () => {
    const shape = { fields: [30, 10], dim: 4 };
    const ids = Uint32Array.of(1, 35, 1, 7, 20, 39);
    const rng = new Rng(4);
    const g = new Float32Array(ids.length * 4).map(() => rng.normal());
    const a = make('alpt(bits=8)', shape, new SparseOptimizer({ kind: 'adam', lr: 0.01 }), 5);
    const b = make('alpt(bits=8)', shape, new SparseOptimizer({ kind: 'adam', lr: 0.01 }), 5);
    a.backward(ids, g);
    const codes = b.codes.slice();
    const steps = stepsOf(b).slice();
    const hat = new Float32Array(ids.length * 4);
    b.alptFirstPass(ids, g, hat);
    expect(b.codes).toEqual(codes);
    expect(stepsOf(b)).toEqual(steps);
    // ŵ is on the old δ grid; the two lookups of id 1 get the same row.
    for (let i = 0; i < ids.length; i += 1) {
      const d = steps[ids[i] as number] as number;
      for (let j = 0; j < 4; j += 1) {
        const q = (hat[i * 4 + j] as number) / d;
        expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-3);
      }
    }
    expect(hat.subarray(0, 4)).toEqual(hat.subarray(8, 12));
    expect(() => b.alptStepSize(Uint32Array.of(1, 35), g)).toThrow(/ids/);
    b.alptStepSize(ids, g);
    expect(b.codes).toEqual(a.codes);
    expect(stepsOf(b)).toEqual(stepsOf(a));
    expect(() => b.alptStepSize(ids, g)).toThrow(/without alptFirstPass/);
    expect(isAlptTrainable(b)).toBe(true);
  });

  it('trains δ from the second-pass gradients, not the first-pass ones', () => {
    const shape = { fields: [8], dim: 4 };
    const ids = Uint32Array.of(2, 5);
    const g1 = new Float32Array(8).fill(0.5);
    const run = (g2: Float32Array) => {
      const t = make('alpt(bits=8,scaleLr=0.01)', shape, sgd(0.003), 2);
      t.alptFirstPass(ids, g1);
      t.alptStepSize(ids, g2);
      return stepsOf(t).slice();
    };
    const same = run(g1);
    const other = run(new Float32Array(8).fill(-3));
    expect(other[2]).not.toBe(same[2]);
    expect(other[0]).toBe(same[0]);
  });

  it('δ has the exact gradient of e = Q·δ (finite differences on a hand case)', () => {
    const t = make('alpt(bits=8)', { fields: [3], dim: 3 }, sgd(1));
    t.codes.set([1, -2, 5, 7, 0, -1, 3, 3, 3]);
    const ids = Uint32Array.of(1, 1, 0);
    const R = Float32Array.of(1, 2, 3, -1, 0.5, 2, 0.25, 1, -1);
    const grads = t.gradients(ids, R);
    const scale = grads.find((x) => x.name === 'scale');
    expect(Array.from(scale?.rows ?? [])).toEqual([1, 0]);
    // row 1: (1 − 1)·7 + (2 + 0.5)·0 + (3 + 2)·(−1) = −5; row 0: 0.25·1 + 1·(−2) − 1·5 = −6.75
    expect(Array.from(scale?.values ?? [])).toEqual([-5, -6.75]);
    const steps = stepsOf(t);
    const loss = () => {
      const out = new Float32Array(9);
      t.forward(ids, out);
      return out.reduce((s, v, i) => s + v * (R[i] as number), 0);
    };
    const h = 1e-3;
    steps[1] = 0.25 + h;
    const up = loss();
    steps[1] = 0.25 - h;
    const down = loss();
    expect((up - down) / (2 * h)).toBeCloseTo(-5, 3);
  });

  it('follows the main optimizer step counter for Adam bias correction', () => {
    const shape = { fields: [6], dim: 2 };
    const opt = new SparseOptimizer({ kind: 'adam', lr: 0.01 });
    const t = make('alpt(bits=16)', shape, opt);
    opt.nextStep();
    opt.nextStep();
    opt.nextStep();
    const before = stepsOf(t)[0] as number;
    t.backward(Uint32Array.of(0), Float32Array.of(1, -1));
    // The first Adam update of δ, at the GLOBAL t = 3: |Δδ| = scaleLr·m̂/√v̂ with
    // m̂ = 0.1g/(1 − .9³), v̂ = 0.001g²/(1 − .999³) (at t = 1 it would be scaleLr exactly).
    const ratio = 0.1 / (1 - 0.9 ** 3) / Math.sqrt(0.001 / (1 - 0.999 ** 3));
    expect(Math.abs((stepsOf(t)[0] as number) - before)).toBeCloseTo(2e-5 * ratio, 9);
  });
});

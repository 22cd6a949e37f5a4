import { describeTrainableConformance } from '../conformance/suite';
import { AVAZU_SHAPE, CRITEO_SHAPE } from '../core/datasets';
import { BudgetError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import { totalRows } from '../core/shape';
import { mde, mdeDims, mdeParamsForBudget, roundHalfEven, type MdeParams } from './mde';

// dims 8, 4, 2, 1: one field without projection, three with.
describeTrainableConformance({
  spec: 'mde(alpha=0.3)',
  shape: { fields: [4, 40, 300, 2000], dim: 8 },
});

const make = (shape: { fields: number[]; dim: number }, p: MdeParams, lr = 0.1) =>
  mde.createTrainable(shape, p, {
    seed: 1,
    optimizer: new SparseOptimizer({ kind: 'sgd', lr }),
  });

describe('mde: dimension rule', () => {
  const shape = { fields: [4, 40, 300, 2000], dim: 8 };

  it('rounds like Python (ties to even)', () => {
    expect([0.5, 1.5, 2.5, 2.4999, 2.5001, 3.5].map(roundHalfEven)).toEqual([0, 2, 2, 2, 3, 4]);
  });

  it('sets d_f = round(D·(n_min/n_f)^α), floored at 1, snapped to powers of two', () => {
    // α = 0.2: λ = 8·4^0.2 = 10.556; λ·n^−0.2 = 8, 5.05, 3.37, 2.31.
    expect(mdeDims(shape, 0.2, false)).toEqual([8, 5, 3, 2]);
    expect(mdeDims(shape, 0.2, true)).toEqual([8, 4, 4, 2]);
    expect(mdeDims(shape, 0.3)).toEqual([8, 4, 2, 1]);
    expect(mdeDims(shape, 0)).toEqual([8, 8, 8, 8]);
    expect(mdeDims(shape, 1)).toEqual([8, 1, 1, 1]);
  });

  it('caps d_f at D when D is not a power of two (the reference would snap 12 to 16)', () => {
    expect(mdeDims({ fields: [2, 1000], dim: 12 }, 0)).toEqual([12, 12]);
    expect(mdeDims({ fields: [2, 1000], dim: 12 }, 0.1, false)).toEqual([12, 6]);
  });

  it('counts tables and d_f × D projections, in words and exact bytes', () => {
    const words = 4 * 8 + (40 * 4 + 32) + (300 * 2 + 16) + (2000 + 8);
    expect(mde.paperWords(shape, { alpha: 0.3, roundDim: true })).toBe(words);
    expect(mde.estimateBytes(shape, { alpha: 0.3, roundDim: true })).toBe(4 * words);
    const t = make(shape, { alpha: 0.3, roundDim: true });
    expect(t.parameters().map((p) => [p.name, p.rowLength])).toEqual([
      ['f0.table', 8],
      ['f1.table', 4],
      ['f1.proj', undefined],
      ['f2.table', 2],
      ['f2.proj', undefined],
      ['f3.table', 1],
      ['f3.proj', undefined],
    ]);
    const notes = t.toTable().describe().notes.join(' ');
    expect(notes).toContain(`table-only ${4 * 8 + 160 + 600 + 2000} words`);
  });
});

describe('mde: rows and training', () => {
  const shape = { fields: [4, 40], dim: 8 }; // dims 8, 4 at α = 0.3

  it('computes e = E_f[x]·P_f, and E_f[x] when d_f = D', () => {
    const t = make(shape, { alpha: 0.3, roundDim: true });
    const rng = new Rng(2);
    for (const p of t.parameters())
      for (let i = 0; i < p.data.length; i += 1) p.data[i] = rng.uniform(-1, 1);
    const [E0, E1, P1] = t.parameters().map((p) => p.data) as [
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const at = (a: Float32Array, i: number) => a[i] as number;
    const out = new Float32Array(2 * 8);
    t.forward(Uint32Array.of(2, 4 + 17), out);
    for (let j = 0; j < 8; j += 1) {
      expect(out[j]).toBe(E0[2 * 8 + j]);
      let s = 0;
      for (let k = 0; k < 4; k += 1) s += at(E1, 17 * 4 + k) * at(P1, k * 8 + j);
      expect(out[8 + j]).toBeCloseTo(s, 6);
    }
  });

  it('updates each projection densely once per backward, with the gradient summed over the batch', () => {
    const t = make(shape, { alpha: 0.3, roundDim: true }, 1);
    const rng = new Rng(4);
    for (const p of t.parameters())
      for (let i = 0; i < p.data.length; i += 1) p.data[i] = rng.uniform(-1, 1);
    const [, E1, P1] = t.parameters().map((p) => p.data) as [
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const at = (a: Float32Array, i: number) => a[i] as number;
    const before = P1.slice();
    const E1Before = E1.slice();
    const ids = Uint32Array.of(4 + 3, 4 + 9, 4 + 3);
    const g = new Float32Array(3 * 8).map(() => rng.normal());
    t.backward(ids, g);
    for (let k = 0; k < 4; k += 1)
      for (let j = 0; j < 8; j += 1) {
        // SGD, lr 1: ΔP = −Σ_i E[x_i]ᵀ g_i (E read before its own update).
        let s = 0;
        ids.forEach((id, i) => (s += (E1Before[(id - 4) * 4 + k] as number) * at(g, i * 8 + j)));
        expect(at(P1, k * 8 + j) - at(before, k * 8 + j)).toBeCloseTo(-s, 4);
      }
    // E1 rows 3 and 9 moved, the others did not.
    expect(E1.slice(0, 12)).toEqual(E1Before.slice(0, 12));
    expect(E1.slice(12, 16)).not.toEqual(E1Before.slice(12, 16));
  });
});

describe('mde: budget solver', () => {
  const n = totalRows(CRITEO_SHAPE);
  const tableOnly = (p: MdeParams) =>
    mdeDims(CRITEO_SHAPE, p.alpha).reduce(
      (s, d, f) => s + d * (CRITEO_SHAPE.fields[f] as number),
      0,
    ) /
    (n * 16);

  it('reproduces the spec vectors in paper words', () => {
    const p5 = mdeParamsForBudget(CRITEO_SHAPE, 0.5, 'paper-words');
    expect(p5.alpha).toBeCloseTo(0.0703, 4);
    expect([...new Set(mdeDims(CRITEO_SHAPE, p5.alpha))].sort((a, b) => a - b)).toEqual([8, 16]);
    expect(tableOnly(p5)).toBeCloseTo(0.50001, 5);
    const p1 = mdeParamsForBudget(CRITEO_SHAPE, 0.1, 'paper-words');
    expect(p1.alpha).toBeCloseTo(0.16, 2);
    expect(new Set(mdeDims(CRITEO_SHAPE, p1.alpha))).toEqual(new Set([1, 2, 4, 8, 16]));
    expect(tableOnly(p1)).toBeCloseTo(0.0929, 4);
    // (pitfall) the reference keeps `left` by its table-only ratio: over budget with projections.
    expect(mde.paperWords(CRITEO_SHAPE, p5)).toBeGreaterThan(0.5 * n * 16);
  });

  it('meets the budget in bytes, projections included', () => {
    for (const shape of [CRITEO_SHAPE, AVAZU_SHAPE])
      for (const budget of [0.5, 0.25, 0.1]) {
        const p = mdeParamsForBudget(shape, budget);
        expect(mde.estimateBytes(shape, p)).toBeLessThanOrEqual(budget * totalRows(shape) * 64);
      }
  });

  it('throws BudgetError below the ~1/D floor (pitfall: the reference asserts)', () => {
    expect(() => mdeParamsForBudget(CRITEO_SHAPE, 0.05, 'paper-words')).toThrow(BudgetError);
    expect(() => mdeParamsForBudget(CRITEO_SHAPE, 0.05)).toThrow(/1\/D/);
    expect(mdeParamsForBudget(CRITEO_SHAPE, 1)).toEqual({ alpha: 0, roundDim: true });
  });
});

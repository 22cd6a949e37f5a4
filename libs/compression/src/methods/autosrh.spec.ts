import { describeTrainableConformance, syntheticFrequencies } from '../conformance/suite';
import { SpecError } from '../core/errors';
import { frequencyGroups } from '../core/frequency-groups';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import type { StageContext } from '../core/staged';
import { registry } from '../methods';
import { autosrh, type AutoSrhParams, type AutoSrhTrainable } from './autosrh';

const skip = {
  skip:
    'forward() serves the k largest |E ⊙ α[g]| while gradients() is the gradient of ' +
    'trainForward() (no pruning), the one backward() applies; checked by finite differences ' +
    'against trainForward in autosrh.spec.ts',
};
const small: TableShape = { fields: [40, 24], dim: 8 };
describeTrainableConformance({
  spec: 'autosrh(density=0.25,groups=3)',
  shape: small,
  gradientCheck: skip,
});
describeTrainableConformance({
  spec: 'autosrh(density=0.05,format=coo,alphaLr=0.1)',
  shape: small,
  gradientCheck: skip,
});

const rows = totalRows(small);
const dim = small.dim;
const all = Uint32Array.from({ length: rows }, (_, i) => i);
const counts = syntheticFrequencies(rows);
const P = (over: Partial<AutoSrhParams> = {}): AutoSrhParams =>
  autosrh.params.parse({ density: 0.25, groups: 3, ...over }) as AutoSrhParams;
const make = (p: AutoSrhParams = P(), seed = 1) => {
  const optimizer = new SparseOptimizer({ kind: 'adam', lr: 0.02 });
  const t = autosrh.createTrainable(small, p, {
    seed,
    optimizer,
    frequencies: counts,
  }) as AutoSrhTrainable;
  return { t, optimizer };
};
const enter = (t: AutoSrhTrainable, optimizer: SparseOptimizer, index: number, stage = index) =>
  t.enterStage({
    index,
    stage: autosrh.stages(P())[stage] as StageContext['stage'],
    seed: 1,
    plannedSteps: 10,
    optimizer,
    frequencies: counts,
    evaluate: () => Promise.resolve({ auc: 0.5, logloss: 0.69 }),
    log: () => undefined,
  });
const rowsOf = (t: AutoSrhTrainable, how: 'train' | 'serve', ids = all) => {
  const out = new Float32Array(ids.length * dim);
  if (how === 'train') t.trainForward(ids, out);
  else t.forward(ids, out);
  return out;
};
const table = (t: AutoSrhTrainable) => (t.parameters()[0] as { data: Float32Array }).data;
const alphaOf = (t: AutoSrhTrainable) => (t.parameters()[1] as { data: Float32Array }).data;

describe('autosrh', () => {
  it('has a canonical spec and three stages as data (dense model frozen in the search)', () => {
    expect(registry.resolve('autosrh').spec).toBe(
      'autosrh(density=0.25,format=auto,groups=6,alphaL1=0.00001,alphaLr=0.001)',
    );
    expect(autosrh.usesFrequencies).toBe(true);
    expect(
      autosrh
        .stages(P())
        .map((s) => [s.name, s.dense, s.optimizer, s.keep, s.validationStep === true]),
    ).toEqual([
      ['warmup', 'train', 'carry', 'best-val', false],
      ['search', 'frozen', 'reset', 'best-val', true],
      ['retrain', 'train', 'reset', 'meets-budget', false],
    ]);
    expect(() => registry.resolve('autosrh(groups=0)')).toThrow(SpecError);
    expect(() => registry.resolve('autosrh(alphaLr=0)')).toThrow(SpecError);
  });

  it('refuses to build without the training counts, or with counts of another table', () => {
    const optimizer = new SparseOptimizer({ kind: 'adam', lr: 0.01 });
    expect(() => autosrh.createTrainable(small, P(), { seed: 1, optimizer })).toThrow(SpecError);
    expect(() =>
      autosrh.createTrainable(small, P(), {
        seed: 1,
        optimizer,
        frequencies: new Uint32Array(rows - 1),
      }),
    ).toThrow(SpecError);
  });

  it('groups ids by training frequency (group 0 the rarest)', () => {
    const { t } = make();
    expect(t.groups()).toEqual(frequencyGroups(counts, 3));
    const g = t.groups();
    const rare = counts.indexOf(Math.min(...counts));
    const top = counts.indexOf(Math.max(...counts));
    expect(g[rare]).toBe(0);
    expect(g[top]).toBe(2);
  });

  it('warm-up is a plain table: e = E[x], updates of E only', () => {
    const { t, optimizer } = make();
    expect(rowsOf(t, 'train')).toEqual(table(t));
    optimizer.nextStep();
    const ids = Uint32Array.of(1, 5, 1);
    t.backward(ids, new Float32Array(3 * dim).fill(1));
    expect(alphaOf(t).every((a) => a === 1)).toBe(true);
    expect(rowsOf(t, 'train', Uint32Array.of(1))).toEqual(table(t).slice(dim, 2 * dim));
  });

  it('gradients match finite differences of trainForward (E and α)', () => {
    const { t } = make();
    const rng = new Rng(13);
    for (const p of t.parameters()) p.data.forEach((_, i) => (p.data[i] = rng.uniform(-0.5, 0.5)));
    const ids = Uint32Array.of(3, 17, 3, 50);
    const R = new Float32Array(ids.length * dim).map(() => rng.normal());
    const loss = () => rowsOf(t, 'train', ids).reduce((a, v, i) => a + v * (R[i] as number), 0);
    const grads = t.gradients(ids, R);
    for (const p of t.parameters()) {
      const g = grads.find((x) => x.name === p.name) as {
        rows?: Uint32Array;
        values: Float32Array;
      };
      const coords: Array<[number, number]> = [];
      if (g.rows !== undefined)
        g.rows.forEach((row, r) => {
          for (let j = 0; j < dim; j += 1)
            coords.push([row * dim + j, g.values[r * dim + j] as number]);
        });
      else p.data.forEach((_, i) => coords.push([i, g.values[i] as number]));
      for (const [i, analytic] of coords) {
        const h = 1e-3;
        const x = p.data[i] as number;
        p.data[i] = x + h;
        const up = loss();
        p.data[i] = x - h;
        const down = loss();
        p.data[i] = x;
        expect(Math.abs((up - down) / (2 * h) - analytic)).toBeLessThan(
          1e-3 + 1e-2 * Math.abs(analytic),
        );
      }
    }
  });

  it('search: α from validation batches, normalised per group, L1, clipped to [0, 1]', () => {
    const lr = 0.5;
    const l1 = 0.01;
    const { t, optimizer } = make(P({ alphaLr: lr, alphaL1: l1 }));
    const before = table(t).slice();
    // Outside the search, validation batches change nothing.
    t.validationStep(all, new Float32Array(rows * dim).fill(1));
    expect(alphaOf(t).every((a) => a === 1)).toBe(true);
    enter(t, optimizer, 1);
    const E = table(t);
    const g = t.groups();
    const id = g.findIndex((x) => x === 2);
    // One validation row of group 2: dα[2, j] = grad_j · E[id, j] + λ₁ (α = 1 > 0).
    const grad = Float32Array.from({ length: dim }, (_, j) => (j % 2 === 0 ? 1 : -1) * (j + 1));
    const raw = Array.from(
      { length: dim },
      (_, j) => (grad[j] as number) * (E[id * dim + j] as number) + l1,
    );
    const mean = raw.reduce((a, v) => a + Math.abs(v), 0) / dim;
    t.validationStep(Uint32Array.of(id), grad);
    const alpha = alphaOf(t);
    for (let j = 0; j < dim; j += 1) {
      const expected = Math.min(1, Math.max(0, 1 - (lr * (raw[j] as number)) / (mean + 1e-8)));
      expect(alpha[2 * dim + j]).toBeCloseTo(expected, 5);
    }
    // Groups absent from the batch: only the L1 term, normalised to ≈ 1 → α = 1 − lr.
    for (let j = 0; j < dim; j += 1) expect(alpha[j]).toBeCloseTo(1 - lr, 5);
    // Clipping: both ends reached.
    for (let s = 0; s < 4; s += 1) t.validationStep(Uint32Array.of(id), grad);
    expect(Math.min(...alpha)).toBe(0);
    expect(Math.max(...alpha.slice(2 * dim))).toBeLessThanOrEqual(1);
    expect(alpha.every((a) => a >= 0 && a <= 1)).toBe(true);
    // Validation batches never move E; training batches move E only.
    expect(table(t)).toEqual(before);
    const a0 = alpha.slice();
    optimizer.nextStep();
    t.backward(Uint32Array.of(id), grad);
    expect(alphaOf(t)).toEqual(a0);
    expect(table(t)).not.toEqual(before);
  });

  it('the search learns low saliency where the validation loss wants zeros', () => {
    const { t, optimizer } = make(P({ alphaLr: 0.02 }));
    enter(t, optimizer, 1);
    const E = table(t);
    E.forEach((_, i) => (E[i] = 0.3 * Math.sign(Math.sin(i + 1))));
    // Target: dims 0..3 zero, dims 4..7 equal to the weights.
    for (let s = 0; s < 60; s += 1) {
      const e = rowsOf(t, 'train');
      const grad = e.map((v, i) => (i % dim < 4 ? v : v - (E[i] as number)));
      t.validationStep(all, grad);
    }
    const alpha = alphaOf(t);
    for (let r = 0; r < 3; r += 1)
      for (let j = 0; j < dim; j += 1)
        if (j < 4) expect(alpha[r * dim + j]).toBeLessThan(0.1);
        else expect(alpha[r * dim + j]).toBeGreaterThan(0.9);
  });

  it('retrain: α frozen, E trains; serves the k largest |E ⊙ α[g]| exactly', () => {
    const { t, optimizer } = make();
    enter(t, optimizer, 1);
    const rng = new Rng(3);
    for (let s = 0; s < 5; s += 1) {
      const v = Uint32Array.from({ length: 16 }, () => rng.int(0, rows));
      t.validationStep(
        v,
        new Float32Array(16 * dim).map(() => rng.normal()),
      );
    }
    enter(t, optimizer, 2);
    const alpha = alphaOf(t).slice();
    expect(alpha.some((a) => a < 1)).toBe(true);
    t.validationStep(all, new Float32Array(rows * dim).fill(1));
    optimizer.nextStep();
    t.backward(
      all,
      new Float32Array(rows * dim).map(() => rng.normal()),
    );
    expect(alphaOf(t)).toEqual(alpha);
    // Independent top-k: sort the entries by |W| (ties by position) and keep k.
    const W = rowsOf(t, 'train');
    const k = Math.round(0.25 * rows * dim);
    const order = Array.from(W.keys()).sort(
      (a, b) => Math.abs(W[b] as number) - Math.abs(W[a] as number) || a - b,
    );
    const expected = new Float32Array(W.length);
    for (const i of order.slice(0, k)) expected[i] = W[i] as number;
    expect(rowsOf(t, 'serve')).toEqual(expected);
    const served = t.toTable();
    const out = new Float32Array(rows * dim);
    served.lookup(all, out);
    expect(out).toEqual(expected);
    expect(served.nnz).toBe(k);
    expect(t.meetsBudget()).toBe(true);
  });

  it('meets the budget in real bytes at every budget', () => {
    const shape: TableShape = { fields: [300, 200], dim: 16 };
    const frequencies = syntheticFrequencies(500);
    for (const budget of [0.5, 0.2, 0.1, 0.05]) {
      const p = autosrh.paramsForBudget?.(shape, budget) as AutoSrhParams;
      const t = autosrh.createTrainable(shape, p, {
        seed: 1,
        optimizer: new SparseOptimizer({ kind: 'adam', lr: 0.01 }),
        frequencies,
      });
      const served = t.toTable();
      expect(served.method).toBe('autosrh');
      expect(served.memoryBytes()).toBe(autosrh.estimateBytes(shape, p));
      expect(served.memoryBytes()).toBeLessThanOrEqual(budget * fullBytes(shape));
      expect(registry.load(served.encode()).memoryBytes()).toBe(served.memoryBytes());
    }
  });

  it('refuses an unknown stage', () => {
    const { t, optimizer } = make();
    expect(() => enter(t, optimizer, 3, 2)).toThrow(SpecError);
    expect(() => enter(t, optimizer, 0)).toThrow(SpecError);
    expect(() => enter(t, optimizer, 1, 2)).toThrow(SpecError);
  });
});

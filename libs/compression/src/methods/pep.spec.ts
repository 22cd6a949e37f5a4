import { describeTrainableConformance } from '../conformance/suite';
import { SpecError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import type { StageContext } from '../core/staged';
import { registry } from '../methods';
import { pep, pepThresholdInit, type PepParams, type PepTrainable } from './pep';

const skip = {
  skip:
    'forward() serves the k largest effective entries while gradients() is the gradient of ' +
    'trainForward() (the soft threshold / the mask), the one backward() applies; checked by ' +
    'finite differences against trainForward in pep.spec.ts',
};
const small: TableShape = { fields: [40, 24], dim: 8 };
describeTrainableConformance({ spec: 'pep(density=0.25)', shape: small, gradientCheck: skip });
describeTrainableConformance({
  spec: 'pep(density=0.1,format=coo,thresholdType=dimension,thresholdInit=-4)',
  shape: small,
  gradientCheck: skip,
});

const rows = totalRows(small);
const dim = small.dim;
const all = Uint32Array.from({ length: rows }, (_, i) => i);
const P = (over: Partial<PepParams> = {}): PepParams =>
  pep.params.parse({ density: 0.25, ...over }) as PepParams;
const make = (p: PepParams = P(), seed = 1, lr = 0.02) => {
  const optimizer = new SparseOptimizer({ kind: 'adam', lr });
  return {
    t: pep.createTrainable(small, p, { seed, optimizer }) as PepTrainable,
    optimizer,
  };
};
const context = (optimizer: SparseOptimizer, logs: string[] = []): StageContext => ({
  index: 1,
  stage: pep.stages(P())[1] as StageContext['stage'],
  seed: 1,
  plannedSteps: 10,
  optimizer,
  frequencies: new Uint32Array(rows),
  evaluate: () => Promise.resolve({ auc: 0.5, logloss: 0.69 }),
  log: (line) => logs.push(line),
});
const rowsOf = (t: PepTrainable, how: 'train' | 'serve', ids = all) => {
  const out = new Float32Array(ids.length * dim);
  if (how === 'train') t.trainForward(ids, out);
  else t.forward(ids, out);
  return out;
};
const thresholds = (t: PepTrainable) =>
  (t.parameters().find((v) => v.name === 'thresholds') as { data: Float32Array }).data;
const table = (t: PepTrainable) => (t.parameters()[0] as { data: Float32Array }).data;

/** Targets: 80 % of the entries 0, the others ±0.5 (a loss that wants a sparse table). */
const target = (() => {
  const rng = new Rng(5);
  return new Float32Array(rows * dim).map(() =>
    rng.next() < 0.8 ? 0 : rng.next() < 0.5 ? -0.5 : 0.5,
  );
})();
/** Steps of ½‖e − target‖² over every row (trainForward rows, as the engine feeds them). */
const train = (t: PepTrainable, optimizer: SparseOptimizer, steps: number) => {
  for (let s = 0; s < steps; s += 1) {
    optimizer.nextStep();
    const e = rowsOf(t, 'train');
    t.backward(
      all,
      e.map((v, i) => v - (target[i] as number)),
    );
  }
};

/** Trains in rounds of 20 steps until the target is reached (at most 30 rounds); prune ratios. */
const searchToTarget = (t: PepTrainable, optimizer: SparseOptimizer): number[] => {
  const ratios: number[] = [];
  for (let round = 0; round < 30 && !t.stageDone(); round += 1) {
    train(t, optimizer, 20);
    ratios.push(t.pruneRatio());
  }
  return ratios;
};

describe('pep', () => {
  it('has a canonical spec, two stages as data, and refuses bad params', () => {
    expect(registry.resolve('pep').spec).toBe(
      'pep(density=0.25,format=auto,thresholdType=feature_dimension,thresholdInit=auto,thresholdDecay=0.00001)',
    );
    expect(
      pep.stages(P()).map((s) => [s.name, s.end.kind, s.keep, s.denseStart, s.optimizer]),
    ).toEqual([
      ['search', 'target', 'meets-budget', 'keep', 'carry'],
      ['retrain', 'parts', 'best-val', 'reinit', 'reset'],
    ]);
    expect(() => registry.resolve('pep(thresholdType=field)')).toThrow(SpecError);
    expect(() => registry.resolve('pep(thresholdDecay=-1)')).toThrow(SpecError);
    expect(() => registry.resolve('pep(density=0)')).toThrow(SpecError);
  });

  it('auto threshold init: the soft threshold starts at 1 % of the initializer bound', () => {
    const b = defaultInitBound(small.fields);
    const s0 = pepThresholdInit(small, P());
    expect(1 / (1 + Math.exp(-s0))).toBeCloseTo(b / 100, 12);
    expect(pepThresholdInit(small, P({ thresholdInit: -150 }))).toBe(-150);
  });

  it('search: e = sign(v)·max(|v| − σ(s), 0), per threshold type', () => {
    for (const thresholdType of ['feature_dimension', 'dimension', 'feature', 'global'] as const) {
      const { t } = make(P({ thresholdType }));
      const S = thresholds(t);
      const rng = new Rng(2);
      S.forEach((_, i) => (S[i] = rng.uniform(-4, -1)));
      const E = table(t);
      const e = rowsOf(t, 'train');
      const cols = thresholdType === 'feature_dimension' || thresholdType === 'dimension';
      const perRow = thresholdType === 'feature_dimension' || thresholdType === 'feature';
      expect(S.length).toBe((perRow ? rows : 1) * (cols ? dim : 1));
      for (let r = 0; r < rows; r += 1)
        for (let j = 0; j < dim; j += 1) {
          const s = S[(perRow ? r * (cols ? dim : 1) : 0) + (cols ? j : 0)] as number;
          const v = E[r * dim + j] as number;
          const expected = Math.sign(v) * Math.max(Math.abs(v) - 1 / (1 + Math.exp(-s)), 0);
          expect(e[r * dim + j]).toBeCloseTo(expected, 6);
        }
    }
  });

  it('gradients match finite differences of trainForward in both stages', () => {
    const check = (t: PepTrainable) => {
      const rng = new Rng(13);
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
        else
          for (const i of [3 * dim + 1, 17 * dim + 5, 50 * dim])
            if (i < p.data.length) coords.push([i, g.values[i] as number]);
        for (const [i, analytic] of coords) {
          const h = 1e-3;
          const x = p.data[i] as number;
          p.data[i] = x + h;
          const up = loss();
          p.data[i] = x - h;
          const down = loss();
          p.data[i] = x;
          expect(Math.abs((up - down) / (2 * h) - analytic)).toBeLessThan(
            2e-3 + 2e-2 * Math.abs(analytic),
          );
        }
      }
    };
    const { t, optimizer } = make(P({ thresholdInit: -2 }));
    // Weights well away from the thresholds (no kink inside ±h).
    const E = table(t);
    const rng = new Rng(4);
    E.forEach((_, i) => (E[i] = rng.uniform(0.2, 0.6) * (rng.next() < 0.5 ? -1 : 1)));
    check(t);
    t.enterStage(context(optimizer));
    check(t);
  });

  it('pitfall: with the reference init −150 and no decay the thresholds never move', () => {
    const { t, optimizer } = make(P({ thresholdInit: -150, thresholdDecay: 0 }));
    train(t, optimizer, 30);
    expect(thresholds(t).every((s) => s === -150)).toBe(true);
    expect(t.pruneRatio()).toBe(0);
    expect(t.stageDone()).toBe(false);
  });

  it('fix: with the decay the thresholds move, the prune ratio grows and the target ends the stage', () => {
    const { t, optimizer } = make();
    const s0 = thresholds(t)[0] as number;
    const before = t.pruneRatio();
    expect(before).toBeLessThan(0.05);
    expect(t.stageDone()).toBe(false);
    expect(t.meetsBudget()).toBe(false);
    const ratios = searchToTarget(t, optimizer);
    expect(t.stageDone()).toBe(true);
    expect(ratios[ratios.length - 1]).toBeGreaterThanOrEqual(0.75);
    expect(ratios[0]).toBeGreaterThan(before);
    // The decay lifts the thresholds (the loss holds back those of the entries it needs).
    const S = thresholds(t);
    expect(S.reduce((a, v) => a + v, 0) / S.length).toBeGreaterThan(s0 + 1);
    expect(t.meetsBudget()).toBe(true);
    // Once the target is reached the served table is the trained one.
    expect(rowsOf(t, 'serve')).toEqual(rowsOf(t, 'train'));
    // The entries the loss wants non-zero survive the search.
    const e = rowsOf(t, 'train');
    let wanted = 0;
    let kept = 0;
    target.forEach((v, i) => {
      if (v === 0) return;
      wanted += 1;
      if (Math.sign(e[i] as number) === Math.sign(v)) kept += 1;
    });
    expect(kept / wanted).toBeGreaterThan(0.9);
  });

  it('retrain: lottery ticket (the search start re-drawn) under the mask, masked entries get no gradient', () => {
    const { t, optimizer } = make();
    const start = table(t).slice();
    searchToTarget(t, optimizer);
    expect(t.stageDone()).toBe(true);
    const searched = rowsOf(t, 'train');
    const logs: string[] = [];
    t.enterStage(context(optimizer, logs));
    expect(logs.join('\n')).toMatch(/retrain under a mask/);
    expect(t.parameters().map((p) => p.name)).toEqual(['table']);
    const E = table(t);
    for (let i = 0; i < E.length; i += 1) {
      const inMask = searched[i] !== 0;
      expect(E[i]).toBe(inMask ? start[i] : 0);
    }
    // Stage 1 and a fresh table of the same seed start from the same values.
    expect(table(make().t)).toEqual(start);
    // Gradients of masked entries are zero, and training keeps them at zero.
    const [g] = t.gradients(all, new Float32Array(rows * dim).fill(1));
    (g as { values: Float32Array }).values.forEach((v, i) =>
      expect(v).toBe(searched[i] === 0 ? 0 : 1),
    );
    train(t, optimizer, 20);
    const after = rowsOf(t, 'train');
    after.forEach((v, i) => {
      if (searched[i] === 0) expect(v).toBe(0);
    });
    expect(t.activeEntries()).toBeLessThanOrEqual(Math.round(0.25 * rows * dim));
    expect(rowsOf(t, 'serve')).toEqual(after);
    expect(t.meetsBudget()).toBe(true);
  });

  it('a search that stops short of the target still retrains and serves exactly k entries', () => {
    const { t, optimizer } = make(P({ thresholdInit: -150, thresholdDecay: 0 }));
    expect(t.stageDone()).toBe(false);
    const k = Math.round(0.25 * rows * dim);
    t.enterStage(context(optimizer));
    expect(t.activeEntries()).toBe(k);
    const served = t.toTable();
    expect(served.nnz).toBe(k);
    expect(rowsOf(t, 'serve')).toEqual(rowsOf(t, 'train'));
  });

  it('meets the budget in real bytes; the paper rule gives the reference P', () => {
    const shape: TableShape = { fields: [300, 200], dim: 16 };
    for (const budget of [0.5, 0.2, 0.1, 0.05]) {
      const p = pep.paramsForBudget?.(shape, budget) as PepParams;
      const t = pep.createTrainable(shape, p, {
        seed: 1,
        optimizer: new SparseOptimizer({ kind: 'adam', lr: 0.01 }),
      });
      const served = t.toTable();
      expect(served.memoryBytes()).toBe(pep.estimateBytes(shape, p));
      expect(served.memoryBytes()).toBeLessThanOrEqual(budget * fullBytes(shape));
      expect(served.method).toBe('pep');
      expect(registry.load(served.encode()).spec).toBe(registry.resolve(served.spec).spec);
    }
    // D = 16, cr 0.5: CSR keeping 7/32 (P = 0.78125); cr 0.1: COO keeping 1/30.
    expect(pep.paramsForBudget?.(shape, 0.5, 'paper-words')).toMatchObject({
      density: 7 / 32,
      format: 'csr',
    });
    expect(pep.paramsForBudget?.(shape, 0.1, 'paper-words')).toMatchObject({
      density: 0.1 / 3,
      format: 'coo',
    });
  });

  it('refuses an unknown stage', () => {
    const { t, optimizer } = make();
    expect(() => t.enterStage({ ...context(optimizer), index: 2 })).toThrow(SpecError);
  });
});

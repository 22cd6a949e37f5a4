import { describeTrainableConformance } from '../conformance/suite';
import { SpecError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import { fullBytes, totalRows, type TableShape } from '../core/shape';
import type { StageContext } from '../core/staged';
import { registry } from '../methods';
import {
  DEEPLIGHT_RAMP_UNITS,
  deeplight,
  deeplightTarget,
  deeplightTau,
  type DeepLightParams,
  type DeepLightTrainable,
} from './deeplight';

const skip = {
  skip:
    'forward() serves the k largest |w| while gradients() is the gradient of trainForward() ' +
    '(the table as trained), the one backward() applies; checked by finite differences against ' +
    'trainForward in deeplight.spec.ts',
};
const small: TableShape = { fields: [40, 24], dim: 8 };
describeTrainableConformance({
  spec: 'deeplight(density=0.25)',
  shape: small,
  gradientCheck: skip,
});
describeTrainableConformance({
  spec: 'deeplight(density=0.05,format=coo,warmupParts=2,pruneEvery=2,ramp=0.25)',
  shape: small,
  gradientCheck: skip,
});

const rows = totalRows(small);
const dim = small.dim;
const all = Uint32Array.from({ length: rows }, (_, i) => i);
const P = (over: Partial<DeepLightParams> = {}): DeepLightParams =>
  deeplight.params.parse({ density: 0.25, ...over }) as DeepLightParams;
const make = (p: DeepLightParams = P(), seed = 1, lr = 0.02) => {
  const optimizer = new SparseOptimizer({ kind: 'adam', lr });
  return {
    t: deeplight.createTrainable(small, p, { seed, optimizer }) as DeepLightTrainable,
    optimizer,
  };
};
const context = (
  optimizer: SparseOptimizer,
  plannedSteps: number,
  logs: string[] = [],
): StageContext => ({
  index: 1,
  stage: deeplight.stages(P())[1] as StageContext['stage'],
  seed: 1,
  plannedSteps,
  optimizer,
  frequencies: new Uint32Array(rows),
  evaluate: () => Promise.resolve({ auc: 0.5, logloss: 0.69 }),
  log: (line) => logs.push(line),
});
const rowsOf = (t: DeepLightTrainable, how: 'train' | 'serve', ids = all) => {
  const out = new Float32Array(ids.length * dim);
  if (how === 'train') t.trainForward(ids, out);
  else t.forward(ids, out);
  return out;
};
const tableOf = (t: DeepLightTrainable) => (t.parameters()[0] as { data: Float32Array }).data;
/** Targets: ±0.5 everywhere (a loss that regrows pruned entries: every entry wants to move). */
const target = (() => {
  const rng = new Rng(5);
  return new Float32Array(rows * dim).map(() => (rng.next() < 0.5 ? -0.5 : 0.5) * rng.next());
})();
/** Steps of ½‖e − target‖² over every row (trainForward rows, as the engine feeds them). */
const train = (t: DeepLightTrainable, optimizer: SparseOptimizer, steps: number) => {
  for (let s = 0; s < steps; s += 1) {
    optimizer.nextStep();
    const e = rowsOf(t, 'train');
    t.backward(
      all,
      e.map((v, i) => v - (target[i] as number)),
    );
  }
};

describe('deeplight: budget', () => {
  it("reproduces the paper's storage rule in paper words (D = 16)", () => {
    const criteoLike: TableShape = { fields: [1000, 500], dim: 16 };
    const half = deeplight.paramsForBudget?.(criteoLike, 0.5, 'paper-words');
    expect(half).toMatchObject({ format: 'csr', density: 7 / 32 });
    expect(1 - (half?.density as number)).toBeCloseTo(0.78125, 12);
    const tenth = deeplight.paramsForBudget?.(criteoLike, 0.1, 'paper-words');
    expect(tenth).toMatchObject({ format: 'coo' });
    expect(1 - (tenth?.density as number)).toBeCloseTo(0.96667, 5);
  });

  it('meets the budget in honestly counted bytes (u8 columns, u32 row pointers)', () => {
    for (const budget of [0.5, 0.25, 0.1]) {
      const p = deeplight.paramsForBudget?.(small, budget, 'bytes') as DeepLightParams;
      const bytes = deeplight.estimateBytes(small, p);
      expect(bytes).toBeLessThanOrEqual(budget * fullBytes(small));
      const { t } = make(p);
      expect(t.toTable().memoryBytes()).toBe(bytes);
      expect(t.memoryBytes()).toBe(bytes);
      // One more entry would not fit.
      const more = deeplight.params.parse({ ...p, density: p.density + 1 / (rows * dim) });
      expect(deeplight.estimateBytes(small, more)).toBeGreaterThan(budget * fullBytes(small));
    }
    // Bytes keep more entries than the paper's words at 0.5 (an entry is 5 bytes, not 2 words).
    const bytes = deeplight.paramsForBudget?.(small, 0.5, 'bytes') as DeepLightParams;
    const words = deeplight.paramsForBudget?.(small, 0.5, 'paper-words') as DeepLightParams;
    expect(bytes.density).toBeGreaterThan(words.density);
    expect(registry.resolve(registry.format('deeplight', bytes)).spec).toBe(
      registry.format('deeplight', bytes),
    );
  });
});

describe('deeplight: stages', () => {
  it('declares warm-up (best-val) then prune (carry the dense optimizer, meets-budget)', () => {
    expect(deeplight.stages(P())).toEqual([
      {
        name: 'warmup',
        end: { kind: 'parts' },
        dense: 'train',
        denseStart: 'keep',
        optimizer: 'carry',
        keep: 'best-val',
      },
      {
        name: 'prune',
        end: { kind: 'parts' },
        dense: 'train',
        denseStart: 'keep',
        optimizer: 'carry',
        keep: 'meets-budget',
      },
    ]);
    expect(deeplight.stages(P({ warmupParts: 3 }))[0]?.end).toEqual({ kind: 'parts', parts: 3 });
  });

  it('has gradients of trainForward that match finite differences', () => {
    const { t } = make();
    const rng = new Rng(3);
    const W = tableOf(t);
    for (let i = 0; i < W.length; i += 1) W[i] = rng.uniform(-0.5, 0.5);
    const ids = Uint32Array.of(3, 17, 3, 60);
    const R = new Float32Array(ids.length * dim).map(() => rng.normal());
    const loss = () => rowsOf(t, 'train', ids).reduce((s, v, i) => s + v * (R[i] as number), 0);
    const [g] = t.gradients(ids, R);
    const h = 1e-2;
    (g?.rows as Uint32Array).forEach((row, r) => {
      for (let j = 0; j < dim; j += 1) {
        const at = row * dim + j;
        const original = W[at] as number;
        W[at] = original + h;
        const up = loss();
        W[at] = original - h;
        const down = loss();
        W[at] = original;
        expect(Math.abs((up - down) / (2 * h) - (g?.values[r * dim + j] as number))).toBeLessThan(
          1e-3,
        );
      }
    });
  });

  it('starts the table slots fresh on entering the prune stage; the global step carries', () => {
    const { t, optimizer } = make();
    train(t, optimizer, 5);
    const logs: string[] = [];
    t.enterStage(context(optimizer, 100, logs));
    expect(optimizer.step).toBe(5);
    // A fresh Adam slot: the first prune-stage update of an entry is lr·sign(g) (m̂/√v̂ = ±1 at
    // t = 1 of fresh moments would be; here t = 6, so |Δ| = lr·(1−β1)/√(1−β2)·√(1−β2^6)/(1−β1^6)).
    const before = tableOf(t).slice();
    train(t, optimizer, 1);
    const after = tableOf(t);
    const b1 = 0.9;
    const b2 = 0.999;
    const expected = (0.02 * (1 - b1) * Math.sqrt(1 - b2 ** 6)) / (1 - b1 ** 6) / Math.sqrt(1 - b2);
    expect(Math.abs((after[0] as number) - (before[0] as number))).toBeCloseTo(expected, 5);
    expect(logs.join('\n')).toMatch(/pruning to P = 0\.75000 .* after 50 of 100 planned steps/);
  });

  it('ramps the sparsity to P within the ramp fraction of the stage, pruning every 10 steps', () => {
    const { t, optimizer } = make();
    train(t, optimizer, 3);
    t.enterStage(context(optimizer, 200));
    const total = rows * dim;
    const k = Math.round(0.25 * total);
    const targets: number[] = [];
    const nonZero: number[] = [];
    for (let step = 1; step <= 200; step += 1) {
      train(t, optimizer, 1);
      if (step % 10 === 0) {
        targets.push(t.currentTarget());
        // Right after a prune step: exactly n·D − round(s_t·n·D) entries left.
        nonZero.push(t.nonZero());
        expect(t.nonZero()).toBe(Math.max(k, total - Math.round(t.currentTarget() * total)));
      }
      // Not yet at the final rate before step 100 (= ramp 0.5 × 200), at it afterwards.
      if (step === 90) expect(t.meetsBudget()).toBe(false);
      if (step === 100) expect(t.meetsBudget()).toBe(true);
    }
    expect(targets[0]).toBeGreaterThan(0);
    for (let i = 1; i < targets.length; i += 1)
      expect(targets[i] as number).toBeGreaterThanOrEqual(targets[i - 1] as number);
    expect(nonZero[nonZero.length - 1]).toBe(k);
    // τ: s_t reaches 1 − 1e-3 of P at ramp × plannedSteps.
    const tau = deeplightTau(200, 0.5);
    expect(deeplightTarget(0.75, 100, tau)).toBeCloseTo(0.75 * (1 - 1e-3), 9);
    // The reference's τ = 100 reaches it only after ~68,700 steps.
    expect(Math.round(100 * DEEPLIGHT_RAMP_UNITS)).toBe(68_732);
  });

  it('re-prunes weights regrown after the last prune step before export (density meets the budget)', () => {
    const { t, optimizer } = make();
    train(t, optimizer, 3);
    t.enterStage(context(optimizer, 40));
    train(t, optimizer, 40); // last prune step at 40: exactly k entries
    const k = Math.round(0.25 * rows * dim);
    expect(t.nonZero()).toBe(k);
    train(t, optimizer, 5); // no prune step: zeroed entries regrow
    expect(t.nonZero()).toBeGreaterThan(k);
    const table = t.toTable();
    expect(table.nnz).toBe(k);
    expect(table.memoryBytes()).toBe(deeplight.estimateBytes(small, P()));
    const served = new Float32Array(rows * dim);
    table.lookup(all, served);
    let nonZeroServed = 0;
    for (const v of served) if (v !== 0) nonZeroServed += 1;
    expect(nonZeroServed).toBeLessThanOrEqual(k);
    // Served = the trainable's serving rows = the k largest |w| of the regrown table.
    expect(served).toEqual(rowsOf(t, 'serve'));
    const W = tableOf(t);
    const kth = Float32Array.from(W, Math.abs).sort().reverse()[k - 1] as number;
    for (let i = 0; i < W.length; i += 1)
      if (Math.abs(W[i] as number) > kth) expect(served[i]).toBe(W[i]);
    // Through the artifact: the store serves it as deeplight.
    const loaded = registry.load(table.encode());
    expect(loaded.method).toBe('deeplight');
    expect(loaded.spec).toBe(t.spec);
  });

  it('refuses a stage it does not have', () => {
    const { t, optimizer } = make();
    expect(() =>
      t.enterStage({
        ...context(optimizer, 10),
        index: 2,
        stage: { ...context(optimizer, 10).stage, name: 'x' },
      }),
    ).toThrow(SpecError);
  });
});

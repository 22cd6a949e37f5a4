import { describeTrainableConformance } from '../conformance/suite';
import { readArtifact, writeArtifact } from '../core/artifact';
import { ArtifactError } from '../core/errors';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import type { TableShape } from '../core/shape';
import type { StageContext } from '../core/staged';
import { registry } from '../methods';
import { optembed, OptembedTrainable, steDerivative } from './optembed';
import { crossover, crossoverPairs, evolve, mutate } from './optembed-evolution';

const skip = {
  skip:
    'the row mask is a step function whose derivative is the straight-through g(z), not the ' +
    'finite difference (0 almost everywhere); the STE gradient is checked in optembed.spec.ts',
};
const shape: TableShape = { fields: [30, 7, 120], dim: 8 };
describeTrainableConformance({ spec: 'optembed', shape, gradientCheck: skip });

const P = registry.resolve('optembed').params as never;
const make = (spec = 'optembed', lr = 0.1) =>
  optembed.createTrainable(shape, registry.resolve(spec).params as never, {
    seed: 3,
    optimizer: new SparseOptimizer({ kind: 'sgd', lr }),
  }) as OptembedTrainable;

function contextFor(
  index: number,
  evaluate: StageContext['evaluate'],
  log: string[] = [],
  optimizer = new SparseOptimizer({ kind: 'adam', lr: 0.01 }),
): StageContext {
  const stage = optembed.stages(P)[index];
  if (stage === undefined) throw new Error('no stage');
  return {
    index,
    stage,
    seed: 5,
    plannedSteps: 0,
    optimizer,
    frequencies: new Uint32Array(0),
    evaluate,
    log: (line) => log.push(line),
  };
}

describe('optembed: stages', () => {
  it('declares supernet → search (no training) → retrain (optimizer reset)', () => {
    const stages = optembed.stages(P);
    expect(stages.map((s) => s.name)).toEqual(['supernet', 'search', 'retrain']);
    expect(stages[1]?.end).toEqual({ kind: 'none' });
    expect(stages[0]?.keep).toBe('best-val');
    expect(stages[2]).toMatchObject({ optimizer: 'reset', keep: 'best-val', denseStart: 'keep' });
  });

  it('has the reference evolution settings as params, 10 generations by default', () => {
    expect(registry.resolve('optembed').spec).toBe(
      'optembed(alphaReg=0.00001,threshLr=0.0001,keep=0,mutations=10,crossovers=10,mutationProb=0.1,generations=10)',
    );
    expect(() => registry.resolve('optembed(keep=0,mutations=0,crossovers=0)')).toThrow();
  });
});

describe('optembed: supernet', () => {
  it('has the straight-through derivative 2 − 4|z| / 0.4 / 0', () => {
    expect([0, 0.1, -0.1, 0.4, 0.41, -1, 1.01, -3].map(steDerivative)).toEqual([
      2,
      1.6,
      1.6,
      2 - 1.6,
      0.4,
      0.4,
      0,
      0,
    ]);
  });

  it('masks rows with ‖v‖₁ ≤ t_f in forward, and draws a dimension mask in training only', () => {
    const t = make();
    const D = shape.dim;
    const [E] = t.parameters().map((p) => p.data) as [Float32Array];
    E.fill(0.25, 0, 2 * D); // ids 0, 1: ‖v‖₁ = 2
    E.fill(-0.5, 30 * D, 31 * D); // id 30 (field 1): ‖v‖₁ = 4
    const th = t.fieldThresholds();
    th[0] = 2; // 2 − 2 = 0: not > 0, masked
    th[1] = 3.5;
    const out = new Float32Array(3 * D);
    t.forward(Uint32Array.of(0, 30, 1), out);
    expect(Array.from(out.subarray(0, D))).toEqual(new Array(D).fill(0));
    expect(Array.from(out.subarray(D, 2 * D))).toEqual(new Array(D).fill(-0.5));
    const again = new Float32Array(3 * D);
    t.forward(Uint32Array.of(0, 30, 1), again);
    expect(again).toEqual(out);
    // Training: the first k+1 entries of the masked row, k drawn per lookup.
    const ids = Uint32Array.from({ length: 64 }, () => 30);
    const rows = new Float32Array(64 * D);
    t.trainForward(ids, rows);
    const ks = t.lastMasks() as Uint32Array;
    ks.forEach((k, i) => {
      for (let j = 0; j < D; j += 1) expect(rows[i * D + j]).toBe(j <= k ? -0.5 : 0);
    });
    expect(new Set(ks).size).toBeGreaterThan(4);
  });

  it('back-propagates through the mask with the STE, and trains t with plain SGD plus the regulariser', () => {
    const t = make('optembed(alphaReg=0.01,threshLr=0.5)');
    const D = shape.dim;
    const rng = new Rng(4);
    const [E] = t.parameters().map((p) => p.data) as [Float32Array];
    for (let i = 0; i < E.length; i += 1) E[i] = rng.uniform(-0.1, 0.1);
    const th = t.fieldThresholds();
    th.set([0.3, 0.2, 0.5]);
    const ids = Uint32Array.of(2, 31, 2, 100);
    const ks = Uint32Array.of(3, 7, 1, 5);
    const g = new Float32Array(ids.length * D).map(() => rng.normal());
    const [gE, gt] = t.gradientsWith(ids, g, ks) as unknown as [
      { rows: Uint32Array; values: Float32Array },
      { values: Float32Array },
    ];
    expect(Array.from(gE.rows)).toEqual([2, 31, 100]);
    const expectE = new Float64Array(3 * D);
    const expectT = new Float64Array(3);
    const slot = [0, 1, 0, 2];
    const field = [0, 1, 0, 2];
    ids.forEach((id, i) => {
      const v = E.subarray(id * D, (id + 1) * D);
      const z = v.reduce((s, x) => s + Math.abs(x), 0) - (th[field[i] as number] as number);
      const m = z > 0 ? 1 : 0;
      const s = steDerivative(z);
      let inner = 0;
      for (let j = 0; j <= (ks[i] as number); j += 1)
        inner += (g[i * D + j] as number) * (v[j] as number);
      for (let j = 0; j < D; j += 1) {
        const at = (slot[i] as number) * D + j;
        expectE[at] =
          (expectE[at] as number) +
          (j <= (ks[i] as number) ? m * (g[i * D + j] as number) : 0) +
          s * inner * Math.sign(v[j] as number);
      }
      const f = field[i] as number;
      expectT[f] = (expectT[f] as number) - s * inner;
    });
    expectE.forEach((x, k) => expect(gE.values[k]).toBeCloseTo(x, 5));
    expectT.forEach((x, f) => expect(gt.values[f]).toBeCloseTo(x, 5));
    expect(expectT.some((x) => Math.abs(x) > 1e-3)).toBe(true);
    // backward after trainForward uses that forward's masks; t takes one plain SGD step.
    t.trainForward(ids, new Float32Array(ids.length * D));
    const drawn = (t.lastMasks() as Uint32Array).slice();
    const gt2 = (t.gradientsWith(ids, g, drawn)[1] as { values: Float32Array }).values;
    expect(t.gradients(ids, g)).toEqual(t.gradientsWith(ids, g, drawn));
    const before = th.slice();
    t.backward(ids, g);
    before.forEach((b, f) =>
      expect(th[f]).toBeCloseTo(b - 0.5 * ((gt2[f] as number) - 0.01 * Math.exp(-b)), 6),
    );
    expect(t.lastMasks()).toBeUndefined();
  });
});

describe('optembed: evolution', () => {
  it('mutates a copy and leaves the parent alone', () => {
    const rng = new Rng(1);
    const parent = Uint32Array.of(1, 2, 3, 4, 5, 6);
    const child = mutate(parent, 8, 1, rng);
    expect(Array.from(parent)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(child).not.toBe(parent);
    expect(child).not.toEqual(parent);
  });

  it('cuts crossovers over fields: cut ~ UniformInt[1, F), also when F > D or F < D', () => {
    const rng = new Rng(2);
    for (const F of [20, 3]) {
      const x = new Uint32Array(F).fill(0);
      const y = new Uint32Array(F).fill(1);
      const cuts = new Set<number>();
      for (let i = 0; i < 400; i += 1) {
        const child = crossover(x, y, rng);
        const cut = child.indexOf(1);
        expect(child.subarray(cut).every((v) => v === 1)).toBe(true);
        cuts.add(cut);
      }
      // Every cut point 1..F−1 occurs (a cut over [1, D) with D = 4 would never exceed 3, and with
      // F = 3 would often copy x whole); x and y are unchanged.
      expect([...cuts].sort((a, b) => a - b)).toEqual(
        Array.from({ length: F - 1 }, (_, i) => i + 1),
      );
      expect(x.every((v) => v === 0) && y.every((v) => v === 1)).toBe(true);
    }
    expect(Array.from(crossover(Uint32Array.of(4), Uint32Array.of(5), rng))).toEqual([4]);
  });

  it('draws distinct ordered parent pairs', () => {
    const pairs = crossoverPairs(10, 10, new Rng(3));
    expect(new Set(pairs.map(([a, b]) => `${a},${b}`)).size).toBe(10);
    for (const [a, b] of pairs) expect(a).not.toBe(b);
    expect(crossoverPairs(1, 2, new Rng(3))).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it('finds a planted κ, never changing a candidate after scoring it', async () => {
    const target = [5, 0, 7, 2, 3, 6];
    const scored: Array<[Uint32Array, Uint32Array]> = [];
    const result = await evolve(
      {
        fields: 6,
        dim: 8,
        keep: 0,
        mutations: 10,
        crossovers: 10,
        mutationProb: 0.1,
        generations: 30,
      },
      new Rng(11),
      (kappa) => {
        scored.push([kappa, kappa.slice()]);
        return Promise.resolve(
          -kappa.reduce((s, k, f) => s + Math.abs(k - (target[f] as number)), 0),
        );
      },
    );
    expect(Array.from(result.best)).toEqual(target);
    expect(result.score).toEqual(-0);
    expect(result.evaluations).toBe(scored.length);
    expect(result.evaluations).toBeLessThanOrEqual(600);
    for (const [live, snapshot] of scored) expect(live).toEqual(snapshot);
  });
});

describe('optembed: search and retrain', () => {
  it('prunes rows by threshold (remap in id order), searches κ on validation, keeps κ_f + 1 columns', async () => {
    // A search that moves on three fields: keep the best two, redraw half the entries.
    const t = make('optembed(generations=30,keep=2,mutationProb=0.5)');
    const D = shape.dim;
    const rng = new Rng(6);
    const [E] = t.parameters().map((p) => p.data) as [Float32Array];
    for (let i = 0; i < E.length; i += 1) E[i] = rng.uniform(-0.2, 0.2);
    t.fieldThresholds().set([0.8, -1, 0.9]);
    const keptIds: number[] = [];
    const offsets = [0, 30, 37];
    for (let id = 0; id < 157; id += 1) {
      const f = id < 30 ? 0 : id < 37 ? 1 : 2;
      const l1 = E.subarray(id * D, (id + 1) * D).reduce((s, x) => s + Math.abs(x), 0);
      if (l1 > (t.fieldThresholds()[f] as number)) keptIds.push(id);
    }
    expect(keptIds.length).toBeGreaterThan(20);
    expect(keptIds.length).toBeLessThan(150);
    const supernetRows = new Float32Array(157 * D);
    const all = Uint32Array.from({ length: 157 }, (_, i) => i);
    t.forward(all, supernetRows);
    // Planted validation: the AUC rewards field 0 keeping 3 columns, field 1 all 8, field 2 one.
    const want = [3, 8, 1];
    let passes = 0;
    const evaluate: StageContext['evaluate'] = (lookup) => {
      passes += 1;
      const out = new Float32Array(157 * D);
      lookup(all, out);
      let score = 0;
      for (let id = 0; id < 157; id += 1) {
        const f = id < 30 ? 0 : id < 37 ? 1 : 2;
        let width = 0;
        for (let j = 0; j < D; j += 1) if (out[id * D + j] !== 0) width = j + 1;
        if (width > 0) score -= Math.abs(width - (want[f] as number));
      }
      return Promise.resolve({ auc: 0.5 + score / 1e4, logloss: 0.69 });
    };
    const log: string[] = [];
    await t.enterStage(contextFor(1, evaluate, log));
    expect(passes).toBeGreaterThan(20);
    expect(passes).toBeLessThanOrEqual(30 * 22);
    expect(Array.from(t.keptColumns())).toEqual(want);
    const remap = t.rowRemap();
    expect(Array.from(remap).filter((r) => r >= 0)).toEqual(keptIds.map((_, i) => i));
    keptIds.forEach((id, i) => expect(remap[id]).toBe(i));
    expect(log.join('\n')).toContain(`kept ${keptIds.length} of 157 rows`);
    // Rows: kept rows keep their first d_f values, the rest and pruned rows are zero.
    const out = new Float32Array(157 * D);
    t.forward(all, out);
    for (let id = 0; id < 157; id += 1) {
      const f = id < 30 ? 0 : id < 37 ? 1 : 2;
      for (let j = 0; j < D; j += 1)
        expect(out[id * D + j]).toBe(
          (remap[id] as number) >= 0 && j < (want[f] as number) ? supernetRows[id * D + j] : 0,
        );
    }
    // Bytes: per-field kept columns, the i32 remap and the F dims.
    const perField = [0, 1, 2].map(
      (f) =>
        keptIds.filter(
          (id) => id >= (offsets[f] as number) && id < ((offsets[f + 1] ?? 157) as number),
        ).length,
    );
    const floats = perField.reduce((s, n, f) => s + n * (want[f] as number), 0);
    expect(t.memoryBytes()).toBe(4 * floats + 4 * 157 + 4 * 3);
    expect(t.toTable().describe().paperWords).toBe(floats);

    // Retrain: only the kept columns of kept rows train; pruned rows have no gradient.
    const opt = new SparseOptimizer({ kind: 'sgd', lr: 1 });
    await t.enterStage(contextFor(2, evaluate, log, opt));
    const pruned = all.find((id) => (remap[id] as number) < 0) as number;
    const kept0 = keptIds[0] as number;
    const grads = t.gradients(Uint32Array.of(pruned, kept0), new Float32Array(2 * D).fill(1));
    expect(grads.map((g) => g.rows?.length)).toEqual([1, 0, 0]);
    expect(grads[0]?.values.length).toBe(3);
    opt.nextStep();
    t.backward(Uint32Array.of(pruned, kept0), new Float32Array(2 * D).fill(1));
    const after = new Float32Array(2 * D);
    t.forward(Uint32Array.of(pruned, kept0), after);
    expect(Array.from(after.subarray(0, D))).toEqual(new Array(D).fill(0));
    for (let j = 0; j < D; j += 1)
      expect(after[D + j]).toBeCloseTo(j < 3 ? (supernetRows[kept0 * D + j] as number) - 1 : 0, 6);
    await expect(t.enterStage(contextFor(1, evaluate))).rejects.toThrow(/cannot enter stage/);
  });

  it('refuses a pruned artifact whose remap is not the rank of the kept ids', async () => {
    const t = make('optembed(generations=1)');
    await t.enterStage(contextFor(1, () => Promise.resolve({ auc: 0.5, logloss: 0.69 })));
    const table = t.toTable();
    const loaded = registry.load(table.encode());
    expect(loaded.memoryBytes()).toBe(table.memoryBytes());
    // Rebuild with a shuffled remap (valid checksums, wrong content).
    const content = readArtifact(table.encode());
    const sections = new Map(content.sections);
    const remap = (sections.get('remap') as Int32Array).slice();
    [remap[0], remap[1]] = [remap[1] as number, remap[0] as number];
    sections.set('remap', remap);
    expect(() => registry.load(writeArtifact({ ...content, sections }))).toThrow(ArtifactError);
  });
});

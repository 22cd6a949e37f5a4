import { describeTrainableConformance } from '../conformance/suite';
import { SparseOptimizer } from '../core/optim';
import { Rng } from '../core/rng';
import type { TableShape } from '../core/shape';
import type { StageContext } from '../core/staged';
import { registry } from '../methods';
import { autodim, autodimCandidates, AutodimTrainable, mixtureWeights } from './autodim';

const skip = {
  skip:
    'forward() is inference (no Gumbel noise, BatchNorm on running statistics) while gradients() is ' +
    'the gradient of trainForward() (batch statistics), the one backward() applies; checked by ' +
    'finite differences against the training forward in autodim.spec.ts',
};
// D = 8: candidates 2, 4, 8.
const shape: TableShape = { fields: [30, 7, 120], dim: 8 };
describeTrainableConformance({ spec: 'autodim', shape, gradientCheck: skip });

const make = (s: TableShape = shape, spec = 'autodim', lr = 0.05) => {
  const resolved = registry.resolve(spec);
  return autodim.createTrainable(s, resolved.params as never, {
    seed: 3,
    optimizer: new SparseOptimizer({ kind: 'sgd', lr }),
  }) as AutodimTrainable;
};

/** Ids of `batch` samples, one per field (sample-major, as the engine's batches). */
function batchIds(rng: Rng, s: TableShape, batch: number): Uint32Array {
  const ids = new Uint32Array(batch * s.fields.length);
  let off = 0;
  const offsets = s.fields.map((n) => ((off += n), off - n));
  for (let i = 0; i < ids.length; i += 1) {
    const f = i % s.fields.length;
    ids[i] = (offsets[f] as number) + rng.int(0, s.fields[f] as number);
  }
  return ids;
}

const contextFor = (
  index: number,
  optimizer: SparseOptimizer,
  log: string[] = [],
): StageContext => {
  const stage = autodim.stages({ alphaLr: 1e-3, tauDecay: 2.5e-8 })[index];
  if (stage === undefined) throw new Error('no stage');
  return {
    index,
    stage,
    seed: 3,
    plannedSteps: 10,
    optimizer,
    frequencies: new Uint32Array(0),
    evaluate: () => Promise.reject(new Error('not used')),
    log: (line) => log.push(line),
  };
};

/** Moves every parameter (and α) away from the tiny init so products have real gradients. */
function randomize(t: AutodimTrainable, rng: Rng): void {
  for (const p of t.parameters())
    for (let i = 0; i < p.data.length; i += 1) p.data[i] = rng.uniform(-0.5, 0.5);
  const a = t.architecture();
  for (let i = 0; i < a.length; i += 1) a[i] = rng.uniform(-1, 1);
}

describe('autodim: candidates and stages', () => {
  it('doubles from 2 below D, then D', () => {
    expect(autodimCandidates(16)).toEqual([2, 4, 8, 16]);
    expect(autodimCandidates(12)).toEqual([2, 4, 8, 12]);
    expect(autodimCandidates(8)).toEqual([2, 4, 8]);
    expect(autodimCandidates(2)).toEqual([2]);
    expect(autodimCandidates(1)).toEqual([1]);
  });

  it('declares search (validation step, keep best) then retrain (optimizer reset)', () => {
    const [search, retrain] = autodim.stages({ alphaLr: 1e-3, tauDecay: 2.5e-8 });
    expect(search).toMatchObject({ name: 'search', validationStep: true, keep: 'best-val' });
    expect(retrain).toMatchObject({ name: 'retrain', optimizer: 'reset', keep: 'best-val' });
    expect(retrain?.validationStep).toBeUndefined();
  });
});

describe('autodim: search stage', () => {
  it('draws Gumbel noise in trainForward only: forward is repeatable and leaves τ alone', () => {
    const t = make(shape, 'autodim(tauDecay=0.001)');
    const rng = new Rng(5);
    randomize(t, rng);
    const ids = batchIds(rng, shape, 8);
    const D = shape.dim;
    const a = new Float32Array(ids.length * D);
    const b = new Float32Array(ids.length * D);
    const tau0 = t.temperature();
    t.forward(ids, a);
    t.forward(ids, b);
    expect(b).toEqual(a);
    expect(t.temperature()).toBe(tau0);
    // forward is the noiseless mixture at the current τ.
    expect(t.inferenceMix()).toEqual(mixtureWeights(t.architecture(), 3, tau0));
    // Two training forwards of the same batch: different noise, τ advanced by 8 samples each.
    t.trainForward(ids, a);
    const m1 = (t.lastTrainMix() as Float32Array).slice();
    t.trainForward(ids, b);
    const m2 = t.lastTrainMix() as Float32Array;
    expect(m2).not.toEqual(m1);
    expect(m1).not.toEqual(t.inferenceMix());
    expect(b).not.toEqual(a);
    expect(t.temperature()).toBeCloseTo(1 - 0.001 * 16, 12);
    // ... and the training rows are those of the noisy weights (batch statistics).
    const c = new Float32Array(ids.length * D);
    t.trainForwardWith(ids, c, m2);
    expect(c).toEqual(b);
  });

  it('anneals τ = max(0.01, 1 − tauDecay·samples)', () => {
    const t = make(shape, 'autodim(tauDecay=0.01)');
    const ids = batchIds(new Rng(1), shape, 50);
    const out = new Float32Array(ids.length * shape.dim);
    expect(t.temperature()).toBe(1);
    t.trainForward(ids, out);
    expect(t.temperature()).toBeCloseTo(0.5, 12);
    t.trainForward(ids, out);
    t.trainForward(ids, out);
    expect(t.temperature()).toBe(0.01);
  });

  it('backward applies the gradient of the noisy forward it follows, and only then clears it', () => {
    const t = make();
    const rng = new Rng(6);
    randomize(t, rng);
    const ids = batchIds(rng, shape, 4);
    const g = new Float32Array(ids.length * shape.dim).map(() => rng.normal());
    t.trainForward(ids, new Float32Array(g.length));
    const mix = (t.lastTrainMix() as Float32Array).slice();
    expect(t.gradients(ids, g)).toEqual(t.gradientsWith(ids, g, mix));
    expect(t.gradients(ids, g)).not.toEqual(t.gradientsWith(ids, g, t.inferenceMix()));
    // Other ids: the noiseless weights.
    const other = batchIds(rng, shape, 4);
    expect(t.gradients(other, g)).toEqual(t.gradientsWith(other, g, t.inferenceMix()));
    t.backward(ids, g);
    expect(t.lastTrainMix()).toBeUndefined();
  });

  it('has training gradients (batch-statistics BN, fixed weights) equal to finite differences', () => {
    const t = make();
    const rng = new Rng(7);
    randomize(t, rng);
    const ids = Uint32Array.of(3, 31, 40, 3, 36, 100, 12, 30);
    const D = shape.dim;
    const mix = mixtureWeights(t.architecture(), 3, 0.7);
    const R = new Float32Array(ids.length * D).map(() => rng.normal());
    const loss = () => {
      const out = new Float32Array(ids.length * D);
      t.trainForwardWith(ids, out, mix);
      let s = 0;
      for (let i = 0; i < out.length; i += 1) s += (out[i] as number) * (R[i] as number);
      return s;
    };
    const grads = t.gradientsWith(ids, R, mix);
    const h = 1e-2;
    let checked = 0;
    for (const p of t.parameters()) {
      const g = grads.find((x) => x.name === p.name);
      if (g === undefined) throw new Error(`no gradient for ${p.name}`);
      const coords: Array<[number, number]> = [];
      if (g.rows !== undefined) {
        const L = p.rowLength as number;
        g.rows.forEach((row, r) => {
          for (let j = 0; j < L; j += 1) coords.push([row * L + j, g.values[r * L + j] as number]);
        });
      } else {
        for (let k = 0; k < 10; k += 1) {
          const index = rng.int(0, p.data.length);
          coords.push([index, g.values[index] as number]);
        }
      }
      for (const [index, analytic] of coords.slice(0, 16)) {
        const original = p.data[index] as number;
        p.data[index] = original + h;
        const up = loss();
        p.data[index] = original - h;
        const down = loss();
        p.data[index] = original;
        const numeric = (up - down) / (2 * h);
        expect(Math.abs(numeric - analytic)).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('trains α on validation gradients only: α −= alphaLr·dL/dα of forward (finite differences)', () => {
    const t = make(shape, 'autodim(alphaLr=0.5)');
    const rng = new Rng(8);
    randomize(t, rng);
    // Running statistics away from (0, 1), so the inference BN matters.
    const stepIds = batchIds(rng, shape, 16);
    t.trainForward(stepIds, new Float32Array(stepIds.length * shape.dim));
    t.backward(
      stepIds,
      new Float32Array(stepIds.length * shape.dim).map(() => rng.normal()),
    );
    const ids = batchIds(rng, shape, 6);
    const D = shape.dim;
    const R = new Float32Array(ids.length * D).map(() => rng.normal());
    const alpha = t.architecture();
    const loss = () => {
      const out = new Float32Array(ids.length * D);
      t.forward(ids, out);
      let s = 0;
      for (let i = 0; i < out.length; i += 1) s += (out[i] as number) * (R[i] as number);
      return s;
    };
    const numeric = Array.from(alpha, (_, k) => {
      const original = alpha[k] as number;
      alpha[k] = original + 1e-3;
      const up = loss();
      alpha[k] = original - 1e-3;
      const down = loss();
      alpha[k] = original;
      return (up - down) / 2e-3;
    });
    const before = alpha.slice();
    const params = t.parameters().map((p) => p.data.slice());
    t.validationStep(ids, R);
    const applied = Array.from(alpha, (a, k) => ((before[k] as number) - a) / 0.5);
    applied.forEach((g, k) => expect(g).toBeCloseTo(numeric[k] as number, 2));
    expect(numeric.some((g) => Math.abs(g) > 1e-2)).toBe(true);
    // Nothing but α moved, and τ did not advance.
    t.parameters().forEach((p, k) => expect(p.data).toEqual(params[k]));
    expect(t.temperature()).toBe(1 - 2.5e-8 * 16);
  });
});

describe('autodim: switch to the retrain stage', () => {
  it('takes d_f = argmax α_f and starts E′_f, W′_f, b′_f as the slices of the chosen candidate', async () => {
    const t = make();
    const rng = new Rng(9);
    randomize(t, rng);
    const C = 3;
    const alpha = t.architecture();
    // Field 0 → candidate 2 (dim 8), field 1 → 0 (dim 2), field 2 → 1 (dim 4).
    const winners = [2, 0, 1];
    winners.forEach((w, f) => {
      for (let c = 0; c < C; c += 1) alpha[f * C + c] = c === w ? 1 : -1;
    });
    const before = t.parameters().map((p) => p.data.slice());
    const log: string[] = [];
    const opt = new SparseOptimizer({ kind: 'adam', lr: 0.01 });
    await t.enterStage(contextFor(1, opt, log));
    expect(Array.from(t.fieldDims())).toEqual([8, 2, 4]);
    expect(log.join(' ')).toContain('searched dims 8,2,4');
    const offsets = [0, 30, 37];
    const D = shape.dim;
    const views = t.parameters();
    expect(views.map((v) => v.name)).toEqual(
      [0, 1, 2].flatMap((f) => [`f${f}.table`, `f${f}.proj`, `f${f}.bias`]),
    );
    winners.forEach((w, f) => {
      const d = [2, 4, 8][w] as number;
      const n = shape.fields[f] as number;
      const off = offsets[f] as number;
      const [E, W, b] = [0, 1, 2].map((k) => before[3 * w + k] as Float32Array) as [
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      expect(views[3 * f]?.data).toEqual(E.slice(off * d, (off + n) * d));
      expect(views[3 * f + 1]?.data).toEqual(W.slice(f * d * D, (f + 1) * d * D));
      expect(views[3 * f + 2]?.data).toEqual(b.slice(f * D, (f + 1) * D));
    });
    // e = E′[x]·W′ + b′ (always projected, no BN), and the bytes are the per-field form's.
    const out = new Float32Array(D);
    t.forward(Uint32Array.of(37 + 5), out);
    const [E2, W2, b2] = [6, 7, 8].map((k) => views[k]?.data as Float32Array) as [
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    for (let j = 0; j < D; j += 1) {
      let s = b2[j] as number;
      for (let k = 0; k < 4; k += 1) s += (E2[5 * 4 + k] as number) * (W2[k * D + j] as number);
      expect(out[j]).toBeCloseTo(s, 6);
    }
    const words = 30 * 8 + 8 * 8 + 8 + (7 * 2 + 2 * 8 + 8) + (120 * 4 + 4 * 8 + 8);
    expect(t.memoryBytes()).toBe(4 * words + 4 * 3);
    const d = t.toTable().describe();
    expect(d.paperWords).toBe(words);
    expect(d.notes.join(' ')).toContain('per-field dims 8,2,4');
    // Training moves only the tables of the fields in the batch; a second switch is refused.
    const table1 = views[3]?.data.slice() as Float32Array;
    opt.nextStep();
    t.backward(Uint32Array.of(2, 40), new Float32Array(2 * D).fill(1));
    expect(views[3]?.data).toEqual(table1);
    expect(views[0]?.data).not.toEqual(before[6]?.slice(0, 240));
    expect(() => t.enterStage(contextFor(1, opt))).toThrow(/cannot enter stage/);
  });

  it('keeps every stage array in its own fields (no Map or Set, the retrain slots named from the start)', async () => {
    const t = make();
    const fresh = make();
    const names = (x: AutodimTrainable) =>
      (x as unknown as { retrainSlots: Array<{ name: string }> }).retrainSlots.map((s) => s.name);
    await t.enterStage(contextFor(1, new SparseOptimizer({ kind: 'adam', lr: 0.01 })));
    expect(names(t)).toEqual(names(fresh));
    const walk = (v: unknown): void => {
      if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return;
      expect(v instanceof Map || v instanceof Set).toBe(false);
      Object.values(v).forEach(walk);
    };
    walk(t);
  });
});

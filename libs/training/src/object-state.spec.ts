// An exact resume of every trainable method: train a few steps, checkpoint (through bytes), keep
// training; a fresh table restored from the checkpoint and trained on the same batches ends with
// the same bytes. Anything a method keeps between steps and the walk missed (a hidden generator,
// optimizer moments, the global step) makes the two differ. Staged methods are checked in every
// stage: the table restored into a FRESH createTrainable (stage-0 form) must take its stage form
// back from the state alone (docs/adr/0016-staged-training.md).
import {
  isStagedMethod,
  registry,
  Rng,
  SparseOptimizer,
  type StageContext,
  type StagedTrainable,
  type TableShape,
  type TrainableEmbedding,
} from '@embpress/compression';
import { captureState, decodeState, encodeState, restoreState } from './object-state';

const shape: TableShape = { fields: [40, 25, 9], dim: 8 };
const BATCH = 16;
const ROWS = shape.fields.reduce((a, b) => a + b, 0);
/** Power-law training counts (some ids never seen), for the methods that need frequencies. */
const FREQUENCIES = Uint32Array.from({ length: ROWS }, (_, i) =>
  Math.floor(200 / (1 + ((i * 31) % ROWS))),
);

function build(spec: string): { t: TrainableEmbedding; opt: SparseOptimizer } {
  const resolved = registry.resolve(spec);
  if (resolved.method.kind !== 'trainable') throw new Error(`${spec} is not trainable`);
  const opt = new SparseOptimizer({ kind: 'adam', lr: 0.01 });
  return {
    t: resolved.method.createTrainable(shape, resolved.params, {
      seed: 7,
      optimizer: opt,
      frequencies: FREQUENCIES,
    }),
    opt,
  };
}

/** `steps` training steps on batches drawn from `rng` (ids within each field, random gradients). */
function trainSteps(t: TrainableEmbedding, opt: SparseOptimizer, rng: Rng, steps: number): void {
  const fields = shape.fields.length;
  const offsets = shape.fields.map((_, f) => shape.fields.slice(0, f).reduce((a, b) => a + b, 0));
  const rows = new Float32Array(BATCH * fields * shape.dim);
  for (let s = 0; s < steps; s += 1) {
    const ids = new Uint32Array(BATCH * fields);
    for (let i = 0; i < ids.length; i += 1) {
      const f = i % fields;
      ids[i] = (offsets[f] as number) + rng.int(0, shape.fields[f] as number);
    }
    const grads = new Float32Array(ids.length * shape.dim);
    for (let i = 0; i < grads.length; i += 1) grads[i] = rng.uniform(-1, 1);
    opt.nextStep();
    (t.trainForward ?? t.forward).call(t, ids, rows);
    t.backward(ids, grads);
  }
}

const trainableSpecs = registry
  .list()
  .filter((m) => m.kind === 'trainable')
  .map((m) => m.id);

describe('captureState / restoreState', () => {
  it('covers the trainable methods', () => {
    expect(trainableSpecs).toEqual(expect.arrayContaining(['full', 'qr', 'alpt', 'dhe', 'int8']));
  });

  it.each(trainableSpecs)('%s resumes exactly from its checkpoint bytes', (spec) => {
    const a = build(spec);
    const rngA = new Rng(3);
    trainSteps(a.t, a.opt, rngA, 5);
    const bytes = encodeState(captureState({ table: a.t, optimizer: a.opt }), a.t.spec, shape);
    const rngB = new Rng(3);
    const skip = build(spec);
    trainSteps(skip.t, skip.opt, rngB, 5); // rngB now draws the batches that follow the checkpoint
    trainSteps(a.t, a.opt, rngA, 6);

    const b = build(spec);
    restoreState({ table: b.t, optimizer: b.opt }, decodeState(bytes, b.t.spec));
    expect(b.opt.step).toBe(5);
    trainSteps(b.t, b.opt, rngB, 6);

    expect(Buffer.from(b.t.toTable().encode()).equals(Buffer.from(a.t.toTable().encode()))).toBe(
      true,
    );
    // And the continued table is not the untrained one (the steps did something).
    const fresh = build(spec).t.toTable().encode();
    expect(Buffer.from(a.t.toTable().encode()).equals(Buffer.from(fresh))).toBe(false);
  });

  const stagedSpecs = trainableSpecs.filter((id) => isStagedMethod(registry.resolve(id).method));

  /** Enters stages 1..upTo of a staged table, training a few steps in each (as the engine). */
  async function enterStages(
    spec: string,
    t: TrainableEmbedding,
    opt: SparseOptimizer,
    upTo: number,
  ) {
    const resolved = registry.resolve(spec);
    if (!isStagedMethod(resolved.method)) throw new Error(`${spec} is not staged`);
    const stages = resolved.method.stages(resolved.params);
    const rng = new Rng(5);
    for (let index = 1; index <= upTo; index += 1) {
      const stage = stages[index];
      if (stage === undefined) throw new Error(`${spec} has no stage ${index}`);
      const context: StageContext = {
        index,
        stage,
        seed: 7,
        plannedSteps: 20,
        optimizer: opt,
        frequencies: FREQUENCIES,
        evaluate: async (lookup) => {
          const ids = Uint32Array.from({ length: 32 }, (_, i) => (i * 13) % ROWS);
          const out = new Float32Array(ids.length * shape.dim);
          lookup(ids, out);
          return { auc: 0.5 + Math.tanh(out.reduce((a, b) => a + b, 0)) / 4, logloss: 0.69 };
        },
        log: () => undefined,
      };
      await (t as StagedTrainable).enterStage(context);
      if (stage.end.kind !== 'none') trainSteps(t, opt, rng, 3);
    }
  }

  it.each(
    stagedSpecs.flatMap((spec) => {
      const resolved = registry.resolve(spec);
      const n = isStagedMethod(resolved.method)
        ? resolved.method.stages(resolved.params).length
        : 1;
      return Array.from({ length: n - 1 }, (_, i) => [spec, i + 1] as const);
    }),
  )('%s resumes exactly in stage %i from a fresh table', async (spec, stage) => {
    const a = build(spec);
    await enterStages(spec, a.t, a.opt, stage);
    const bytes = encodeState(captureState({ table: a.t, optimizer: a.opt }), a.t.spec, shape);
    const rng = new Rng(8);
    trainSteps(a.t, a.opt, rng, 4);

    const b = build(spec);
    restoreState({ table: b.t, optimizer: b.opt }, decodeState(bytes, b.t.spec));
    trainSteps(b.t, b.opt, new Rng(8), 4);
    expect(Buffer.from(b.t.toTable().encode()).equals(Buffer.from(a.t.toTable().encode()))).toBe(
      true,
    );
  });

  it('refuses state of another method', () => {
    const a = build('full');
    const bytes = encodeState(captureState({ table: a.t, optimizer: a.opt }), a.t.spec, shape);
    const b = build('hash');
    expect(() => decodeState(bytes, b.t.spec)).toThrow(/table state is of full/);
    expect(() =>
      restoreState({ table: b.t, optimizer: b.opt }, decodeState(bytes, 'full')),
    ).toThrow(/does not fit this table at \$\.table/);
  });

  it('names a corrupt state file', () => {
    const a = build('full');
    const bytes = encodeState(captureState({ table: a.t, optimizer: a.opt }), a.t.spec, shape);
    const bad = bytes.slice();
    bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 0xff;
    expect(() => decodeState(bad, 'full')).toThrow(/crc|checksum/i);
    expect(() => decodeState(bytes.subarray(0, 100), 'full')).toThrow();
  });
});

// An exact resume of every trainable method: train a few steps, checkpoint (through bytes), keep
// training; a fresh table restored from the checkpoint and trained on the same batches ends with
// the same bytes. Anything a method keeps between steps and the walk missed (a hidden generator,
// optimizer moments, the global step) makes the two differ.
import {
  registry,
  Rng,
  SparseOptimizer,
  type TableShape,
  type TrainableEmbedding,
} from '@embpress/compression';
import { captureState, decodeState, encodeState, restoreState } from './object-state';

const shape: TableShape = { fields: [40, 25, 9], dim: 8 };
const BATCH = 16;

function build(spec: string): { t: TrainableEmbedding; opt: SparseOptimizer } {
  const resolved = registry.resolve(spec);
  if (resolved.method.kind !== 'trainable') throw new Error(`${spec} is not trainable`);
  const opt = new SparseOptimizer({ kind: 'adam', lr: 0.01 });
  return {
    t: resolved.method.createTrainable(shape, resolved.params, { seed: 7, optimizer: opt }),
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

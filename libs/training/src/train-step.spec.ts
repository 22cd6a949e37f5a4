// The engine's step: ALPT takes the reference's two passes (a second forward of the updated dense
// model on the re-quantized rows trains the step size), other methods the one-pass step.
import {
  isAlptTrainable,
  registry,
  Rng,
  SparseOptimizer,
  type TableShape,
} from '@embpress/compression';
import { createModel, initBackend, parseModelConfig, type CtrModel } from '@embpress/models';
import { makeTrainStep, type StepInput } from './train-step';

const shape: TableShape = { fields: [30, 20, 10], dim: 4 };
const B = 32;

function setup(spec: string) {
  const resolved = registry.resolve(spec);
  if (resolved.method.kind !== 'trainable') throw new Error(spec);
  const optimizer = new SparseOptimizer({ kind: 'adam', lr: 0.01 });
  const trainable = resolved.method.createTrainable(shape, resolved.params, { seed: 2, optimizer });
  const model = createModel(
    parseModelConfig({ kind: 'dlrm', numDense: 2, numFields: 3, dim: 4, bottom: [8], top: [8] }),
    { seed: 2, optimizer: { kind: 'adam', lr: 0.01 } },
  );
  return { trainable, optimizer, model };
}

function batches(n: number): StepInput[] {
  const rng = new Rng(5);
  return Array.from({ length: n }, () => {
    const sparse = new Uint32Array(B * 3);
    for (let i = 0; i < sparse.length; i += 1) {
      const f = i % 3;
      sparse[i] = ([0, 30, 50][f] as number) + rng.int(0, shape.fields[f] as number);
    }
    const dense = new Float32Array(B * 2).map(() => rng.uniform(0, 2));
    const labels = new Float32Array(B).map(() => (rng.next() < 0.3 ? 1 : 0));
    return { sparse, dense, labels };
  });
}

const encoded = (s: ReturnType<typeof setup>) => Buffer.from(s.trainable.toTable().encode());
const models: CtrModel[] = [];
afterAll(() => models.forEach((m) => m.dispose()));

beforeAll(async () => {
  await initBackend('wasm');
});

describe('makeTrainStep', () => {
  it('runs ALPT two-pass: pass 1, a second forward on the re-quantized rows, then the step size', () => {
    const engine = setup('alpt');
    const manual = setup('alpt');
    const onePass = setup('alpt');
    models.push(engine.model, manual.model, onePass.model);
    const step = makeTrainStep(engine.trainable, engine.optimizer, engine.model, B);
    const width = 3 * 4;
    for (const b of batches(4)) {
      step(b);

      const t = manual.trainable;
      if (!isAlptTrainable(t)) throw new Error('not alpt');
      const rows = new Float32Array(B * width);
      const grads = new Float32Array(B * width);
      const requantized = new Float32Array(B * width);
      manual.optimizer.nextStep();
      t.forward(b.sparse, rows);
      manual.model.step(b.dense, rows, b.labels, grads);
      t.alptFirstPass(b.sparse, grads, requantized);
      const second = manual.model.gradients(b.dense, requantized, b.labels);
      t.alptStepSize(b.sparse, second.rowGrads, B);

      onePass.optimizer.nextStep();
      onePass.trainable.forward(b.sparse, rows);
      const r = onePass.model.step(b.dense, rows, b.labels, grads);
      onePass.trainable.backward(b.sparse, grads);
      expect(r.loss).toBeGreaterThan(0);
    }
    expect(encoded(engine).equals(encoded(manual))).toBe(true);
    // The one-pass approximation (backward) ends elsewhere: the second pass is what changed it.
    expect(encoded(engine).equals(encoded(onePass))).toBe(false);
  });

  it('takes the one-pass step for other methods', () => {
    const engine = setup('qr(collisions=2)');
    const manual = setup('qr(collisions=2)');
    models.push(engine.model, manual.model);
    const step = makeTrainStep(engine.trainable, engine.optimizer, engine.model, B);
    const rows = new Float32Array(B * 12);
    const grads = new Float32Array(B * 12);
    for (const b of batches(3)) {
      const out = step(b);
      manual.optimizer.nextStep();
      manual.trainable.forward(b.sparse, rows);
      const r = manual.model.step(b.dense, rows, b.labels, grads);
      manual.trainable.backward(b.sparse, grads);
      expect(out.loss).toBe(r.loss);
      expect(Array.from(out.logits)).toEqual(Array.from(r.logits));
    }
    expect(encoded(engine).equals(encoded(manual))).toBe(true);
  });

  it('trains the table alone when the dense model is frozen (row gradients from model.gradients)', () => {
    const engine = setup('full');
    const manual = setup('full');
    models.push(engine.model, manual.model);
    const weights = () => engine.model.exportWeights().map((w) => Array.from(w.values));
    const before = weights();
    const tableBefore = encoded(engine);
    const step = makeTrainStep(engine.trainable, engine.optimizer, engine.model, B, 'frozen');
    const rows = new Float32Array(B * 12);
    for (const b of batches(3)) {
      const out = step(b);
      manual.optimizer.nextStep();
      manual.trainable.forward(b.sparse, rows);
      const g = manual.model.gradients(b.dense, rows, b.labels);
      manual.trainable.backward(b.sparse, g.rowGrads);
      expect(out.loss).toBe(g.loss);
    }
    expect(weights()).toEqual(before);
    expect(engine.model.steps).toBe(0);
    expect(engine.optimizer.step).toBe(3);
    expect(encoded(engine).equals(tableBefore)).toBe(false);
    expect(encoded(engine).equals(encoded(manual))).toBe(true);
  });
});

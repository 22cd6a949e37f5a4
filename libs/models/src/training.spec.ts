// End to end with a sparse side: a synthetic logistic problem with known parameters, embedding
// rows kept in a typed array and updated lazily from the model's row gradients (the way the
// trainer drives libs/compression), the dense weights by the model's own optimizer.
import { initBackend } from './backend';
import type { ModelConfigInput } from './config';
import { rocAuc, bceWithLogits } from './metrics';
import { createModel } from './model';
import { NormalRng, mulberry32 } from './rng';

beforeAll(async () => {
  await initBackend('wasm');
});

const F = 4;
const V = 12; // values per field
const D = 8;
const NUM_DENSE = 3;

interface Split {
  dense: Float32Array;
  ids: Uint32Array; // global row ids, n × F
  labels: Float32Array;
}

/** Labels from a known logistic model: per-value weights, pairwise factor interactions, dense. */
function makeProblem(n: number, seed: number): { train: Split; test: Split } {
  const g = new NormalRng(seed);
  const u = mulberry32(seed + 1);
  const a = Float64Array.from({ length: F * V }, () => g.next());
  const factors = Float64Array.from({ length: F * V * 3 }, () => g.next() * 0.8);
  const wDense = Float64Array.from({ length: NUM_DENSE }, () => g.next());
  const gen = (count: number): Split => {
    const dense = new Float32Array(count * NUM_DENSE);
    const ids = new Uint32Array(count * F);
    const labels = new Float32Array(count);
    for (let s = 0; s < count; s += 1) {
      let logit = -0.5;
      for (let k = 0; k < NUM_DENSE; k += 1) {
        const x = u() * 2 - 1;
        dense[s * NUM_DENSE + k] = x;
        logit += (wDense[k] as number) * x;
      }
      for (let f = 0; f < F; f += 1) {
        const id = f * V + Math.floor(u() ** 2 * V); // skewed value frequencies
        ids[s * F + f] = id;
        logit += a[id] as number;
      }
      for (let f = 1; f < F; f += 1)
        for (let h = 0; h < f; h += 1)
          for (let k = 0; k < 3; k += 1)
            logit +=
              (factors[(ids[s * F + f] as number) * 3 + k] as number) *
              (factors[(ids[s * F + h] as number) * 3 + k] as number);
      labels[s] = u() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    }
    return { dense, ids, labels };
  };
  return { train: gen(n), test: gen(2048) };
}

/** Gathers rows of `table` for ids (n × F) into n × F × D. */
function gather(table: Float32Array, ids: Uint32Array): Float32Array {
  const out = new Float32Array(ids.length * D);
  ids.forEach((id, i) => out.set(table.subarray(id * D, (id + 1) * D), i * D));
  return out;
}

const CONFIGS: ModelConfigInput[] = [
  { kind: 'dlrm', numDense: NUM_DENSE, numFields: F, dim: D, bottom: [16], top: [32, 16] },
  { kind: 'wdl', numDense: NUM_DENSE, numFields: F, dim: D, deep: [32, 16] },
  { kind: 'dcn', numDense: NUM_DENSE, numFields: F, dim: D, crossLayers: 3, deep: [32, 16] },
  { kind: 'deepfm', numDense: NUM_DENSE, numFields: F, dim: D, deep: [32, 16] },
];

describe.each(CONFIGS.map((c) => [c.kind, c] as const))(
  '%s on a synthetic logistic problem',
  (_kind, config) => {
    it('drives the test loss down and the test AUC up in 160 steps of 128', () => {
      const { train, test } = makeProblem(8192, 42);
      const model = createModel(config, { seed: 1, optimizer: { kind: 'adam', lr: 3e-3 } });
      // Sparse side: an fp32 table with lazy Adagrad on the touched rows (as libs/compression does).
      const rand = mulberry32(9);
      const table = Float32Array.from({ length: F * V * D }, () => (rand() - 0.5) * 0.2);
      const acc = new Float32Array(table.length);
      const evaluate = (): { auc: number; loss: number } => {
        const logits = model.predictLogits(test.dense, gather(table, test.ids));
        return { auc: rocAuc(logits, test.labels), loss: bceWithLogits(logits, test.labels) };
      };
      const start = evaluate();
      const B = 128;
      const steps = 160; // 2.5 epochs of 8192
      const lossByStep: number[] = [];
      for (let step = 0; step < steps; step += 1) {
        const lo = (step * B) % train.labels.length;
        const ids = train.ids.subarray(lo * F, (lo + B) * F);
        const rows = gather(table, ids);
        const { loss, rowGrads } = model.step(
          train.dense.subarray(lo * NUM_DENSE, (lo + B) * NUM_DENSE),
          rows,
          train.labels.subarray(lo, lo + B),
        );
        lossByStep.push(loss);
        // Row gradients are of the MEAN loss; duplicates within the batch add up.
        ids.forEach((id, i) => {
          for (let d = 0; d < D; d += 1) {
            const gr = rowGrads[i * D + d] as number;
            const k = id * D + d;
            acc[k] = (acc[k] as number) + gr * gr;
            table[k] = (table[k] as number) - (0.05 * gr) / (Math.sqrt(acc[k] as number) + 1e-7);
          }
        });
      }
      const end = evaluate();
      const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
      expect(mean(lossByStep.slice(-64))).toBeLessThan(mean(lossByStep.slice(0, 64)) - 0.05);
      expect(end.loss).toBeLessThan(start.loss - 0.05);
      expect(end.auc).toBeGreaterThan(start.auc + 0.1);
      expect(end.auc).toBeGreaterThan(0.75);
      model.dispose();
    });
  },
);

// The factorization-machine baseline of `embpress bench train --what quality`: trained on the
// same prepared dataset (same vocabulary, same train / validation / test split) as the DLRM, in
// epochs with a validation pass after each; the best epoch by validation AUC (never test) is
// restored and scored on the test split once.
import type { PreparedDataset, SplitName } from '@embpress/data';
import { FactorizationMachine, logloss, rocAuc, type FmOptimizerKind } from '@embpress/models';

export interface FmTrainOptions {
  factors: number;
  maxEpochs: number;
  /** Stop after this many epochs without a better validation AUC. */
  patience: number;
  batchSize: number;
  optimizer: FmOptimizerKind;
  lr: number;
  l2: number;
  seed: number;
  log: (line: string) => void;
}

export interface FmResult {
  factors: number;
  optimizer: FmOptimizerKind;
  lr: number;
  l2: number;
  epochsRun: number;
  bestEpoch: number;
  valAuc: number;
  valLogloss: number;
  testAuc: number;
  testLogloss: number;
  trainSeconds: number;
  samplesPerSec: number;
  parameters: number;
}

async function evaluate(
  ds: PreparedDataset,
  split: SplitName,
  fm: FactorizationMachine,
  batchSize: number,
): Promise<{ auc: number; logloss: number }> {
  const total = ds.split(split).rows;
  const p = new Float32Array(total);
  const y = new Float32Array(total);
  let at = 0;
  for await (const b of ds.batches(split, { batchSize, dropLast: false })) {
    p.set(fm.predict(b.sparse, b.dense), at);
    y.set(b.labels, at);
    at += b.size;
  }
  return { auc: rocAuc(p, y), logloss: logloss(p, y) };
}

export async function trainFm(ds: PreparedDataset, o: FmTrainOptions): Promise<FmResult> {
  const fm = new FactorizationMachine(
    {
      numFeatures: ds.vocabulary.size,
      numFields: ds.info.layout.categorical.length,
      numDense: ds.info.layout.dense.length,
      factors: o.factors,
    },
    { seed: o.seed, optimizer: { kind: o.optimizer, lr: o.lr }, l2: o.l2 },
  );
  let best: { epoch: number; auc: number; logloss: number; state: ReturnType<typeof fm.snapshot> };
  best = { epoch: 0, auc: Number.NEGATIVE_INFINITY, logloss: Number.NaN, state: fm.snapshot() };
  let epochsRun = 0;
  let stepSeconds = 0;
  let samples = 0;
  const start = performance.now();
  for (let epoch = 1; epoch <= o.maxEpochs; epoch += 1) {
    for await (const b of ds.batches('train', { batchSize: o.batchSize })) {
      const t0 = performance.now();
      const r = fm.step(b.sparse, b.dense, b.labels);
      stepSeconds += (performance.now() - t0) / 1000;
      samples += b.size;
      if (!Number.isFinite(r.loss))
        throw new Error(`fm diverged: loss ${r.loss} in epoch ${epoch} (lower the fm lr)`);
    }
    epochsRun = epoch;
    const val = await evaluate(ds, 'validation', fm, 4096);
    o.log(`fm epoch ${epoch}: val AUC ${val.auc.toFixed(4)}, logloss ${val.logloss.toFixed(4)}`);
    // Ties count as better (as the trainer's part selection).
    if (val.auc >= best.auc)
      best = { epoch, auc: val.auc, logloss: val.logloss, state: fm.snapshot() };
    else if (epoch - best.epoch >= o.patience) break;
  }
  const trainSeconds = (performance.now() - start) / 1000;
  fm.restore(best.state);
  const test = await evaluate(ds, 'test', fm, 4096);
  return {
    factors: o.factors,
    optimizer: o.optimizer,
    lr: o.lr,
    l2: o.l2,
    epochsRun,
    bestEpoch: best.epoch,
    valAuc: best.auc,
    valLogloss: best.logloss,
    testAuc: test.auc,
    testLogloss: test.logloss,
    trainSeconds,
    samplesPerSec: stepSeconds > 0 ? samples / stepSeconds : 0,
    parameters: fm.parameterCount(),
  };
}

// One full evaluation pass over a split: every row scored (the last partial batch is kept), rows
// looked up in the serving form of the table, AUC and logloss over all concatenated predictions
// (docs/methods/reference.md#training-loop; AUC is 0 when a prediction is NaN/Inf, as the
// reference's).
import type { PreparedDataset, SplitName } from '@embpress/data';
import { logloss, rocAuc, type CtrModel } from '@embpress/models';

/** Rows of `ids` into `out`: a serving table's lookup or a trainable's forward. */
export type RowLookup = (ids: Uint32Array, out: Float32Array) => void;

export interface Evaluation {
  auc: number;
  logloss: number;
  rows: number;
  seconds: number;
  /** Click probabilities, in the split's row order. */
  predictions: Float32Array;
  labels: Float32Array;
}

export async function evaluateSplit(
  ds: PreparedDataset,
  split: SplitName,
  model: CtrModel,
  lookup: RowLookup,
  batchSize: number,
): Promise<Evaluation> {
  const t0 = performance.now();
  const total = ds.split(split).rows;
  const fields = ds.vocabulary.fields.length;
  const dim = model.config.dim;
  const predictions = new Float32Array(total);
  const labels = new Float32Array(total);
  let rows = new Float32Array(batchSize * fields * dim);
  let at = 0;
  for await (const b of ds.batches(split, { batchSize, dropLast: false })) {
    if (rows.length !== b.size * fields * dim) rows = new Float32Array(b.size * fields * dim);
    lookup(b.sparse, rows);
    predictions.set(model.predict(b.dense, rows), at);
    labels.set(b.labels, at);
    at += b.size;
  }
  return {
    auc: total === 0 ? Number.NaN : rocAuc(predictions, labels),
    logloss: total === 0 ? Number.NaN : logloss(predictions, labels),
    rows: total,
    seconds: (performance.now() - t0) / 1000,
    predictions,
    labels,
  };
}

// One training step of the embedding table and the dense model. Most methods take the reference's
// one-pass step: rows forward, one backward pass of the dense model (which updates the dense
// weights and returns d(loss)/d(rows)), then the table's lazy optimizer update.
//
// ALPT takes the reference's two passes over the same batch (docs/methods/alpt.md): after pass 1
// the table computes the optimizer's new rows w' without writing them and re-quantizes them with
// the current step δ (ŵ); the dense model, already updated, is run again on ŵ for d(loss)/d(ŵ)
// (no weight change), and that gradient trains δ before the codes are written.
//
// A stage with a FROZEN dense model (docs/adr/0016-staged-training.md) takes the row gradients
// from `model.gradients` (nothing of the dense model changes, its optimizer's step included) and
// trains the table alone.
import {
  isAlptTrainable,
  type SparseOptimizer,
  type TrainableEmbedding,
} from '@embpress/compression';
import type { CtrModel } from '@embpress/models';

export interface StepInput {
  sparse: Uint32Array;
  dense: Float32Array;
  labels: Float32Array;
}

export interface StepOutput {
  loss: number;
  /** Logits before the update (training AUC). */
  logits: Float32Array;
}

export type TrainStep = (batch: StepInput) => StepOutput;

/** The step for this table (two-pass for ALPT), with buffers for batches of `batchSize` rows. */
export function makeTrainStep(
  trainable: TrainableEmbedding,
  optimizer: SparseOptimizer,
  model: CtrModel,
  batchSize: number,
  dense: 'train' | 'frozen' = 'train',
): TrainStep {
  const width = trainable.shape.fields.length * trainable.shape.dim;
  const rows = new Float32Array(batchSize * width);
  const rowGrads = new Float32Array(batchSize * width);
  const rowsOf = (trainable.trainForward ?? trainable.forward).bind(trainable);
  const fit = (buffer: Float32Array, n: number) =>
    buffer.length === n * width ? buffer : buffer.subarray(0, n * width);
  if (dense === 'frozen')
    return ({ sparse, dense: denseIn, labels }) => {
      const n = labels.length;
      optimizer.nextStep();
      rowsOf(sparse, fit(rows, n));
      const r = model.gradients(denseIn, fit(rows, n), labels);
      trainable.backward(sparse, r.rowGrads);
      return { loss: r.loss, logits: r.logits };
    };
  if (isAlptTrainable(trainable)) {
    const requantized = new Float32Array(batchSize * width);
    return ({ sparse, dense, labels }) => {
      const n = labels.length;
      optimizer.nextStep();
      rowsOf(sparse, fit(rows, n));
      const r = model.step(dense, fit(rows, n), labels, fit(rowGrads, n));
      trainable.alptFirstPass(sparse, fit(rowGrads, n), fit(requantized, n));
      const second = model.gradients(dense, fit(requantized, n), labels);
      trainable.alptStepSize(sparse, second.rowGrads, n);
      return { loss: r.loss, logits: r.logits };
    };
  }
  return ({ sparse, dense, labels }) => {
    const n = labels.length;
    optimizer.nextStep();
    rowsOf(sparse, fit(rows, n));
    const r = model.step(dense, fit(rows, n), labels, fit(rowGrads, n));
    trainable.backward(sparse, fit(rowGrads, n));
    return { loss: r.loss, logits: r.logits };
  };
}

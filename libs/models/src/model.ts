// A CTR model for the sparse engine: the embedding tables live elsewhere (libs/compression, typed
// arrays); the model receives the gathered rows of a batch as an input and hands back
// d(mean loss)/d(rows) for the caller's lazy sparse optimizer. Dense weights are trained here,
// from the same single backward pass that produces the row gradients.
import * as tf from '@tensorflow/tfjs';
import { parseModelConfig, type ModelConfig, type ModelConfigInput } from './config';
import { InputShapeError, ModelConfigError, WeightsError } from './errors';
import { DataParallelStep } from './data-parallel';
import { makeDropout, ParamStore, type Param, type RowSlice } from './layers';
import { DlrmServing } from './dlrm-serving';
import { sigmoid } from './metrics';
import { defaultImpl } from './interaction';
import { buildNetwork, DlrmNet, type Network } from './networks';
import { DenseOptimizer, type DenseOptimizerConfig } from './optimizer';
import { mulberry32 } from './rng';
import { readInto } from './wasm-memory';

/** A named dense array (row-major float32) of a weight or optimizer slot. */
export interface WeightTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface CreateModelOptions {
  /** Seed of the weight initialisation (reference global seed: 123). */
  seed?: number;
  /** Optimizer of the dense weights (reference default: sgd, lr 1e-3). */
  optimizer?: DenseOptimizerConfig;
  /**
   * Dropout rate of the MLPs' hidden layers in `step()` only (default 0: none). A training
   * option, not part of the architecture: predict, loss, gradients and the exported weights are
   * the same with or without it (docs/models.md#dropout).
   */
  dropout?: number;
  /**
   * Threads of the training step (default 1): with more, `step()` splits each batch between
   * this thread and workers − 1 worker threads holding copies of the model
   * (docs/models.md#data-parallel-step). Only on the wasm and cpu backends (tfjs-node threads
   * its own kernels); elsewhere it is 1.
   */
  workers?: number;
}

export interface StepResult {
  /** Mean BCE-with-logits loss of the batch, before the update. */
  loss: number;
  /** d(mean loss)/d(rows), B × F × D, for the sparse optimizer. */
  rowGrads: Float32Array;
  /** Logits of the batch before the update (training AUC). */
  logits: Float32Array;
}

export interface GradientResult extends StepResult {
  /** d(mean loss)/d(weight) per dense weight, in exportWeights() order. */
  weightGrads: WeightTensor[];
}

export const DEFAULT_SEED = 123;
export const DEFAULT_OPTIMIZER: DenseOptimizerConfig = { kind: 'sgd', lr: 1e-3 };

/** mean over the batch of max(x,0) − x·y + log(1 + e^−|x|): BCE with logits, stable for any x. */
export function bceWithLogitsMean(logits: tf.Tensor1D, labels: tf.Tensor1D): tf.Scalar {
  const perSample = tf.add(
    tf.sub(tf.relu(logits), tf.mul(logits, labels)),
    tf.log1p(tf.exp(tf.neg(tf.abs(logits)))),
  );
  return tf.mean(perSample);
}

export class CtrModel {
  readonly config: ModelConfig;
  readonly net: Network;
  private readonly store: ParamStore;
  private readonly optimizer: DenseOptimizer;
  private readonly seed: number;
  readonly dropout: number;
  private disposed = false;
  /** The DLRM's weights as plain arrays for predict (dlrm-serving.ts); dropped when they change. */
  private serving: DlrmServing | undefined;
  /** The worker replicas of a data-parallel step (options.workers > 1). */
  private parallel: DataParallelStep | undefined;

  constructor(config: ModelConfigInput | ModelConfig, options: CreateModelOptions = {}) {
    this.config = parseModelConfig(config);
    const dropout = options.dropout ?? 0;
    if (!(Number.isFinite(dropout) && dropout >= 0 && dropout < 1))
      throw new ModelConfigError(`dropout must be in [0, 1), got ${options.dropout}`);
    this.dropout = dropout;
    this.seed = options.seed ?? DEFAULT_SEED;
    this.store = new ParamStore(this.seed);
    this.net = buildNetwork(this.config, this.store);
    this.optimizer = new DenseOptimizer(options.optimizer ?? DEFAULT_OPTIMIZER, this.store.params);
    const workers = options.workers ?? 1;
    if (!(Number.isInteger(workers) && workers >= 1))
      throw new ModelConfigError(`workers must be an integer >= 1, got ${options.workers}`);
    const backend = tf.getBackend();
    if (workers > 1 && (backend === 'wasm' || backend === 'cpu'))
      this.parallel = new DataParallelStep(
        this,
        {
          seed: this.seed,
          optimizer: options.optimizer ?? DEFAULT_OPTIMIZER,
          dropout,
          backend,
        },
        workers - 1,
      );
  }

  /** Threads of a training step (1 unless options.workers asked for more on wasm or cpu). */
  get workers(): number {
    return this.parallel?.size ?? 1;
  }

  get kind(): ModelConfig['kind'] {
    return this.config.kind;
  }

  /** The dense weights in their stable order. */
  get params(): readonly Param[] {
    return this.store.params;
  }

  /** Number of dense weights (floats). */
  parameterCount(): number {
    return this.store.params.reduce((n, p) => n + p.variable.size, 0);
  }

  get optimizerKind(): DenseOptimizerConfig['kind'] {
    return this.optimizer.kind;
  }

  /** Whether the dense Adam keeps the running maximum of v (AMSGrad). */
  get amsgrad(): boolean {
    return this.optimizer.amsgrad;
  }

  /** Dense optimizer steps taken so far. */
  get steps(): number {
    return this.optimizer.step;
  }

  get learningRate(): number {
    return this.optimizer.lr;
  }

  set learningRate(lr: number) {
    if (!(Number.isFinite(lr) && lr > 0))
      throw new ModelConfigError(`learning rate must be > 0, got ${lr}`);
    this.optimizer.lr = lr;
  }

  /**
   * One training step: forward, one backward pass for the dense weights and the rows together,
   * dense optimizer update. Returns the loss, the row gradients (into `rowGradsOut` when given)
   * and the logits, all from before the update.
   */
  step(
    dense: Float32Array,
    rows: Float32Array,
    labels: Float32Array,
    rowGradsOut?: Float32Array,
  ): StepResult {
    this.settle();
    if (this.parallel?.takes(labels.length) === true) {
      this.checkInputs(dense, rows, labels.length);
      const rowGrads = rowGradsBuffer(rows, rowGradsOut);
      const r = this.parallel.step(dense, rows, labels, rowGrads);
      this.dropServing();
      return { loss: r.loss, rowGrads, logits: r.logits };
    }
    return this.run(dense, rows, labels, rowGradsOut, true);
  }

  /**
   * For the data-parallel step (data-parallel.ts): the mean loss and logits of a slice of a
   * batch, its row gradients and its weight gradients (flat, in exportWeights() order) written
   * into the outputs; nothing changes. Dropout draws the masks of the slice's rows of the batch.
   */
  sliceGradients(
    dense: Float32Array,
    rows: Float32Array,
    labels: Float32Array,
    slice: RowSlice,
    weightGradsOut: Float32Array,
    rowGradsOut: Float32Array,
  ): { loss: number; logits: Float32Array } {
    const n = this.checkInputs(dense, rows, labels.length);
    const dropout =
      this.dropout > 0 ? makeDropout(this.dropout, this.maskStream(), slice) : undefined;
    return scoped(() => {
      const { loss, logits, grads } = this.pass(dense, rows, labels, n, dropout);
      readInto(grads[0] as tf.Tensor, rowGradsOut);
      let offset = 0;
      for (const g of grads.slice(1)) {
        readInto(g, weightGradsOut, offset);
        offset += g.size;
      }
      return { loss, logits };
    });
  }

  /**
   * For the data-parallel step: one optimizer update from the weighted sum of flat gradients
   * (exportWeights() order; see DenseOptimizer.applySum), at `lr` if given.
   */
  applyGradientSum(
    parts: readonly Float32Array[],
    weights: readonly number[],
    lr?: number,
    shard?: { from: number; to: number; out: Float32Array },
  ): void {
    if (lr !== undefined) this.learningRate = lr;
    this.optimizer.applySum(parts, weights, shard);
    this.dropServing();
  }

  /** For the data-parallel step: every weight from a flat array (exportWeights() order). */
  assignFlatWeights(values: Float32Array): void {
    this.optimizer.assignFlat(values);
    this.dropServing();
  }

  /** Each worker replica's weights, flat (tests: they equal this thread's after every step). */
  replicaWeights(): Float32Array[] {
    this.settle();
    return this.parallel?.replicaWeights() ?? [];
  }

  /** Loss, row gradients and weight gradients without changing anything (gradient checks). */
  gradients(dense: Float32Array, rows: Float32Array, labels: Float32Array): GradientResult {
    this.settle();
    return this.run(dense, rows, labels, undefined, false) as GradientResult;
  }

  /** Mean BCE-with-logits loss of a batch (no gradients). */
  loss(dense: Float32Array, rows: Float32Array, labels: Float32Array): number {
    this.settle();
    const B = this.checkInputs(dense, rows, labels.length);
    return scoped(() => {
      const [d, r] = this.tensors(dense, rows, B);
      return bceWithLogitsMean(
        this.net.logits(d, r),
        tf.tensor1d(labels, 'float32'),
      ).dataSync()[0] as number;
    });
  }

  /** Logits of a batch (inference: no gradients, nothing recorded). */
  predictLogits(dense: Float32Array, rows: Float32Array): Float32Array {
    this.settle();
    const B = this.batchSizeOf(rows);
    this.checkInputs(dense, rows, B);
    return scoped(() => copy(this.inferenceLogits(dense, rows, B)));
  }

  /** Click probabilities sigmoid(logit) of a batch. */
  predict(dense: Float32Array, rows: Float32Array): Float32Array {
    this.settle();
    const B = this.batchSizeOf(rows);
    this.checkInputs(dense, rows, B);
    return scoped(() => sigmoid(this.inferenceLogits(dense, rows, B)));
  }

  /**
   * Logits without gradients, inside a scope. A DLRM on wasm/cpu takes the tfjs-free path of
   * dlrm-serving.ts (the ranker's hot path); the others, and any model on the tensorflow backend
   * (where data should stay on the device), run their network's graph.
   */
  private inferenceLogits(dense: Float32Array, rows: Float32Array, B: number): ArrayLike<number> {
    if (this.net instanceof DlrmNet && defaultImpl() === 'js') {
      this.serving ??= new DlrmServing(this.net);
      return this.serving.logits(dense, rows, B);
    }
    const [d, r] = this.tensors(dense, rows, B);
    return this.net.logits(d, r).dataSync();
  }

  /** The serving path's copy of the weights is stale once they change: freed, rebuilt on use. */
  private dropServing(): void {
    this.serving?.dispose();
    this.serving = undefined;
  }

  /** Copies of the dense weights, in a stable order with stable names. */
  exportWeights(): WeightTensor[] {
    this.settle();
    return this.store.params.map((p) => ({
      name: p.name,
      shape: p.shape.slice(),
      values: copy(p.variable.dataSync()),
    }));
  }

  /** Replaces every dense weight; names and shapes must match this model exactly. */
  importWeights(weights: readonly WeightTensor[]): void {
    this.settle();
    const byName = new Map(weights.map((w) => [w.name, w]));
    const problems: string[] = [];
    for (const p of this.store.params) {
      const w = byName.get(p.name);
      if (w === undefined) problems.push(`missing ${p.name}`);
      else if (!sameShape(w.shape, p.shape))
        problems.push(`${p.name}: shape [${w.shape}], expected [${p.shape}]`);
      else if (w.values.length !== p.variable.size)
        problems.push(`${p.name}: ${w.values.length} values, expected ${p.variable.size}`);
    }
    for (const name of byName.keys())
      if (!this.store.params.some((p) => p.name === name)) problems.push(`unexpected ${name}`);
    if (byName.size !== weights.length) problems.push('duplicate weight names');
    if (problems.length > 0)
      throw new WeightsError(
        'mismatch',
        `weights do not fit this ${this.config.kind} model: ${problems.join('; ')}`,
      );
    for (const p of this.store.params) {
      const w = byName.get(p.name) as WeightTensor;
      tf.tidy(() => p.variable.assign(tf.tensor(w.values, p.shape, 'float32')));
    }
    this.dropServing();
    this.replicasOutdated();
  }

  /** Dense optimizer state (Adam m/v, Adagrad accumulators, step) for checkpoints. */
  exportOptimizerState(): { step: number; slots: WeightTensor[] } {
    this.settle();
    const state = this.optimizer.exportState();
    // With worker replicas each keeps the state of its shard of the weights current.
    this.parallel?.gatherOptimizerState(state);
    return state;
  }

  importOptimizerState(state: { step: number; slots: readonly WeightTensor[] }): void {
    this.settle();
    this.optimizer.importState(state);
    // The replicas' shards of the old state are moot: they get this one at the next step.
    this.parallel?.markStale();
  }

  /**
   * Completes a data-parallel step's update (its workers' shards, then the new weights here and
   * in every replica): called first by everything that uses the weights or the optimizer state.
   */
  private settle(): void {
    this.parallel?.finish();
  }

  /**
   * This thread's weights were just replaced: the replicas get them, and the optimizer state, at
   * the next step. Their shards of the optimizer state are gathered here first: an import of the
   * weights alone keeps the state the steps made.
   */
  private replicasOutdated(): void {
    if (this.parallel === undefined) return;
    if (this.parallel.sharded) this.optimizer.importState(this.exportOptimizerState());
    this.parallel.markStale();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.parallel?.dispose();
    this.dropServing();
    this.optimizer.dispose();
    this.net.dispose();
    this.store.dispose();
  }

  private run(
    dense: Float32Array,
    rows: Float32Array,
    labels: Float32Array,
    rowGradsOut: Float32Array | undefined,
    update: boolean,
  ): StepResult | GradientResult {
    const B = this.checkInputs(dense, rows, labels.length);
    const rowGrads = rowGradsBuffer(rows, rowGradsOut);
    const dropout =
      update && this.dropout > 0 ? makeDropout(this.dropout, this.maskStream()) : undefined;
    return scoped(() => {
      const { loss, logits, grads } = this.pass(dense, rows, labels, B, dropout);
      readInto(grads[0] as tf.Tensor, rowGrads);
      const weightGrads = grads.slice(1);
      if (update) {
        this.optimizer.apply(weightGrads);
        this.dropServing();
        return { loss, rowGrads, logits };
      }
      return {
        loss,
        rowGrads,
        logits,
        weightGrads: this.store.params.map((p, i) => ({
          name: p.name,
          shape: p.shape.slice(),
          values: copy((weightGrads[i] as tf.Tensor).dataSync()),
        })),
      };
    });
  }

  /**
   * Dropout masks drawn from (seed, step): the same run draws the same masks, a resumed one
   * included (the step is in the checkpoint's optimizer state).
   */
  private maskStream(): () => number {
    return mulberry32((this.seed ^ Math.imul(this.optimizer.step + 1, 0x9e3779b1)) >>> 0);
  }

  /** Forward and one backward pass (inside the caller's scope): loss, logits, [dRows, ...dWeights]. */
  private pass(
    dense: Float32Array,
    rows: Float32Array,
    labels: Float32Array,
    B: number,
    dropout: ReturnType<typeof makeDropout> | undefined,
  ): { loss: number; logits: Float32Array; grads: tf.Tensor[] } {
    const vars = this.store.params.map((p) => p.variable);
    const [d, r] = this.tensors(dense, rows, B);
    const y = tf.tensor1d(labels, 'float32');
    let logitsT: tf.Tensor | undefined;
    // One backward pass: the rows input and every dense weight are the differentiated args.
    const { value, grads } = tf.valueAndGrads((rowsArg: tf.Tensor) => {
      const logits = this.net.logits(d, rowsArg as tf.Tensor3D, dropout);
      logitsT = tf.keep(logits);
      return bceWithLogitsMean(logits, y);
    })([r, ...vars] as tf.Tensor[]);
    const loss = value.dataSync()[0] as number;
    const logits = copy((logitsT as tf.Tensor).dataSync());
    (logitsT as tf.Tensor).dispose();
    return { loss, logits, grads };
  }

  private tensors(
    dense: Float32Array,
    rows: Float32Array,
    B: number,
  ): [tf.Tensor2D | null, tf.Tensor3D] {
    const { numDense, numFields, dim } = this.config;
    const d = numDense > 0 ? tf.tensor2d(dense, [B, numDense], 'float32') : null;
    return [d, tf.tensor3d(rows, [B, numFields, dim], 'float32')];
  }

  private batchSizeOf(rows: Float32Array): number {
    const per = this.config.numFields * this.config.dim;
    if (rows.length % per !== 0)
      throw new InputShapeError(
        `rows: ${rows.length} floats is not a whole number of samples of F×D = ${this.config.numFields}×${this.config.dim}`,
      );
    return rows.length / per;
  }

  /** Checks sizes against the batch size B; returns B. */
  private checkInputs(dense: Float32Array, rows: Float32Array, B: number): number {
    if (this.disposed) throw new Error('model was disposed');
    const { numDense, numFields: F, dim: D } = this.config;
    if (!Number.isInteger(B) || B <= 0)
      throw new InputShapeError(`labels: batch size must be > 0, got ${B}`);
    if (rows.length !== B * F * D)
      throw new InputShapeError(
        `rows: expected B×F×D = ${B}×${F}×${D} = ${B * F * D} floats, got ${rows.length}`,
      );
    if (dense.length !== B * numDense)
      throw new InputShapeError(
        `dense: expected B×numDense = ${B}×${numDense} = ${B * numDense} floats, got ${dense.length}`,
      );
    return B;
  }
}

/**
 * Runs `f` in a tfjs scope (its tensors are disposed at the end) and returns its plain-JS result.
 * Not tf.tidy(() => result): tidy walks a returned object key by key looking for tensors, which
 * for a Float32Array of row gradients (B·F·D elements) cost more than the training step itself.
 */
function scoped<T>(f: () => T): T {
  let result: T | undefined;
  tf.tidy(() => {
    result = f();
  });
  return result as T;
}

/** Where a step's row gradients go: the caller's array (checked against rows), else a new one. */
function rowGradsBuffer(rows: Float32Array, rowGradsOut: Float32Array | undefined): Float32Array {
  if (rowGradsOut === undefined) return new Float32Array(rows.length);
  if (rowGradsOut.length !== rows.length)
    throw new InputShapeError(
      `rowGradsOut: ${rowGradsOut.length} floats, expected ${rows.length} (like rows)`,
    );
  return rowGradsOut;
}

/** An owned float32 copy (backends may hand out views of their own memory). */
function copy(values: ArrayLike<number>): Float32Array {
  return values instanceof Float32Array ? values.slice() : Float32Array.from(values);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Builds a model (weights initialised from the seed). */
export function createModel(
  config: ModelConfigInput | ModelConfig,
  options: CreateModelOptions = {},
): CtrModel {
  return new CtrModel(config, options);
}

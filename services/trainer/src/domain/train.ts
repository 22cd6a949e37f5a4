// The training engine (issue #4, methods-spec §6): prepare or open the dataset, build the
// compressed embedding table over the vocabulary and the dense model, train in parts with a
// validation pass after each, keep the best part by validation AUC (ties count as better), stop
// early, score TEST once with the best state, and export that exact state as a model version.
//
// Serving = training by construction: the best state is kept as the serving table
// (`toTable()`, a snapshot) and the dense weights' bytes (`saveModel`); the final test pass runs
// on a model rebuilt from those bytes and on that table, i.e. on exactly what is exported.
import { join, resolve } from 'node:path';
import { fullBytes, type CompressedTable, type TableShape } from '@embpress/compression';
import { type PreparedDataset } from '@embpress/data';
import { ModelRegistryDir, type Manifest } from '@embpress/model-registry';
import {
  createModel,
  initBackend,
  loadModel,
  MODEL_KINDS,
  parseModelConfig,
  rocAuc,
  saveModel,
  type BackendChoice,
  type CtrModel,
  type ModelConfig,
  type ModelKind,
} from '@embpress/models';
import { openDataset } from './dataset-input';
import { setupEmbedding } from './embedding-setup';
import { evaluateSplit, type Evaluation } from './evaluate';
import { TrainError } from './train-errors';

export const OPTIMIZER_KINDS = ['sgd', 'adagrad', 'adam'] as const;
export type TrainOptimizer = (typeof OPTIMIZER_KINDS)[number];

export interface TrainOptions {
  /** `criteo:PATH`, `avazu:PATH`, `csv:PATH` (prepared into `<registryRoot>/.datasets/`) or a prepared directory. */
  data: string;
  /** A separate test file for raw sources. */
  test?: string;
  /** CSV schema for csv: sources (default: beside the file). */
  schema?: string;
  model: ModelKind;
  /** Layer sizes and `dim` over the reference defaults (tests use small ones). */
  modelOverrides?: Record<string, unknown>;
  /** Method spec, e.g. `full`, `qr(collisions=4)`, `hash`, `rowwise-int8`. */
  method: string;
  /** Fraction of the fp32 table's bytes for budget-driven methods. */
  budget?: number;
  /** Epochs (a fraction trains that share of the parts). */
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: TrainOptimizer;
  /** Parts per epoch: a validation pass after each. */
  partsPerEpoch: number;
  /** Stop after this many parts without a better validation AUC. */
  earlyStopParts: number;
  seed: number;
  backend: BackendChoice;
  registryRoot: string;
  modelName: string;
  /** Default: a UTC timestamp. */
  version?: string;
  /** Where raw sources are prepared (default `<registryRoot>/.datasets`). */
  datasetCacheDir?: string;
  onProgress?: (event: TrainProgress) => void;
}

export interface PartProgress {
  kind: 'part';
  /** 1-based. */
  part: number;
  parts: number;
  epoch: number;
  batches: number;
  samples: number;
  /** Training samples per second of this part (training steps only). */
  samplesPerSec: number;
  /** Mean training loss over the part's batches. */
  loss: number;
  /** AUC of the part's training logits (before each step's update). */
  trainAuc: number;
  valAuc: number;
  valLogloss: number;
  improved: boolean;
  bestPart: number;
  bestValAuc: number;
  partsWithoutImprovement: number;
}

export type TrainProgress =
  | { kind: 'log'; message: string }
  | PartProgress
  | { kind: 'early-stop'; part: number; bestPart: number }
  | { kind: 'test'; auc: number; logloss: number; rows: number };

export interface TrainMetrics {
  valAuc: number;
  valLogloss: number;
  testAuc: number;
  testLogloss: number;
}

export interface TrainResult {
  modelDir: string;
  manifest: Manifest;
  method: string;
  spec: string;
  budget: number | null;
  memoryBytes: number;
  fullBytes: number;
  metrics: TrainMetrics;
  backend: string;
  /** Wall time of the part loop (training and validation passes). */
  trainSeconds: number;
  /** Training samples / seconds spent in training steps. */
  samplesPerSec: number;
  samplesTrained: number;
  partsRun: number;
  bestPart: number;
  stoppedEarly: boolean;
  /** The exported serving table (the best snapshot, finalized). */
  table: CompressedTable;
  /** Per-row test predictions of the exported state (in test split order). */
  test: Evaluation;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new TrainError('bad-argument', message);
}

function validate(o: TrainOptions): void {
  check(
    (MODEL_KINDS as readonly string[]).includes(o.model),
    `model must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(o.model)}`,
  );
  check(
    (OPTIMIZER_KINDS as readonly string[]).includes(o.optimizer),
    `optimizer must be one of ${OPTIMIZER_KINDS.join(', ')}, got ${JSON.stringify(o.optimizer)}`,
  );
  check(Number.isFinite(o.epochs) && o.epochs > 0, `epochs must be > 0, got ${o.epochs}`);
  check(
    Number.isInteger(o.batchSize) && o.batchSize >= 1,
    `batchSize must be an integer >= 1, got ${o.batchSize}`,
  );
  check(Number.isFinite(o.lr) && o.lr > 0, `lr must be > 0, got ${o.lr}`);
  check(
    Number.isInteger(o.partsPerEpoch) && o.partsPerEpoch >= 1,
    `partsPerEpoch must be an integer >= 1, got ${o.partsPerEpoch}`,
  );
  check(
    Number.isInteger(o.earlyStopParts) && o.earlyStopParts >= 1,
    `earlyStopParts must be an integer >= 1, got ${o.earlyStopParts}`,
  );
  check(
    Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff,
    `seed must be an integer in [0, 2^32), got ${o.seed}`,
  );
  if (o.budget !== undefined)
    check(
      Number.isFinite(o.budget) && o.budget > 0 && o.budget <= 1,
      `budget must be in (0, 1], got ${o.budget}`,
    );
}

/** `20261128T044211123Z`: sorts by time and is a valid version name. */
export function defaultVersion(now = new Date()): string {
  return now.toISOString().replace(/[-:.]/g, '');
}

/** Batches of each part (methods-spec §6): ⌊B/P⌋, +1 for the first B mod P parts. */
export function partBatches(batchesPerEpoch: number, parts: number): number[] {
  const base = Math.floor(batchesPerEpoch / parts);
  const extra = batchesPerEpoch % parts;
  return Array.from({ length: parts }, (_, k) => base + (k < extra ? 1 : 0));
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  validate(options);
  const emit = options.onProgress ?? (() => undefined);
  const log = (message: string) => emit({ kind: 'log', message });
  const registryRoot = resolve(options.registryRoot);
  const registryDir = new ModelRegistryDir(registryRoot);
  const version = options.version ?? defaultVersion();
  // Fail on a bad or taken name before any work.
  const modelDir = registryDir.path(options.modelName, version);
  if (registryDir.versions(options.modelName).includes(version))
    throw new TrainError(
      'bad-argument',
      `${options.modelName}/${version} already exists in ${registryRoot}`,
    );

  const backend = await initBackend(options.backend);
  log(
    `backend ${backend.name}${backend.skipped.length > 0 ? ` (skipped: ${backend.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')})` : ''}`,
  );
  const ds: PreparedDataset = await openDataset({
    data: options.data,
    ...(options.test === undefined ? {} : { test: options.test }),
    ...(options.schema === undefined ? {} : { schema: options.schema }),
    cacheRoot: options.datasetCacheDir ?? join(registryRoot, '.datasets'),
    log,
  });
  const info = ds.info;
  const numFields = info.layout.categorical.length;
  const numDense = info.layout.dense.length;
  const trainRows = info.rows.train;
  const batchesPerEpoch = Math.floor(trainRows / options.batchSize);
  if (batchesPerEpoch === 0)
    throw new TrainError(
      'no-data',
      `${trainRows} train rows make no batch of ${options.batchSize}`,
    );
  if (info.rows.validation === 0)
    throw new TrainError(
      'no-data',
      'the validation split is empty: nothing to select the best part on',
    );

  const modelInput = {
    dim: 16,
    ...options.modelOverrides,
    kind: options.model,
    numDense,
    numFields,
  };
  // Validated first (ModelConfigError names the field); the model is built once nothing else
  // can fail before the loop, which disposes it.
  const architecture: ModelConfig = parseModelConfig(modelInput);
  const dim = architecture.dim;
  const shape: TableShape = { fields: ds.vocabulary.cardinalities(), dim };
  const emb = setupEmbedding({
    spec: options.method,
    ...(options.budget === undefined ? {} : { budget: options.budget }),
    shape,
    seed: options.seed,
    optimizer: options.optimizer,
    lr: options.lr,
    log,
  });
  const trainable = emb.trainable;
  const trainRowsOf = (trainable.trainForward ?? trainable.forward).bind(trainable);
  const serveRowsOf = trainable.forward.bind(trainable);
  log(
    `${options.model} ${JSON.stringify(architecture)}; table ${emb.spec}: ${ds.vocabulary.size} ids x ${dim}, ${trainable.memoryBytes()} of ${fullBytes(shape)} fp32 bytes`,
  );

  // The part schedule.
  const parts = Math.min(options.partsPerEpoch, batchesPerEpoch);
  const schedule = partBatches(batchesPerEpoch, parts);
  const totalParts = Math.max(1, Math.floor(options.epochs * parts));
  log(
    `train ${trainRows} rows = ${batchesPerEpoch} batches of ${options.batchSize} per epoch in ${parts} parts; ${totalParts} parts at most; validation ${info.rows.validation}, test ${info.rows.test} rows`,
  );

  const rowWidth = numFields * dim;
  const rows = new Float32Array(options.batchSize * rowWidth);
  const rowGrads = new Float32Array(options.batchSize * rowWidth);
  let best:
    | { part: number; val: Evaluation; table: CompressedTable; dense: Uint8Array }
    | undefined;
  let sinceBest = 0;
  let stepSeconds = 0;
  let samplesTrained = 0;
  let partsRun = 0;
  let stoppedEarly = false;
  const model: CtrModel = createModel(architecture, {
    seed: options.seed,
    optimizer: { kind: options.optimizer, lr: options.lr },
  });
  const loopStart = performance.now();
  try {
    for (let p = 0; p < totalParts; p += 1) {
      const epoch = Math.floor(p / parts);
      const k = p % parts;
      const n = schedule[k] as number;
      const startBatch = schedule.slice(0, k).reduce((a, b) => a + b, 0);
      const logits = new Float32Array(n * options.batchSize);
      const labels = new Float32Array(n * options.batchSize);
      let lossSum = 0;
      let batches = 0;
      let partStepSeconds = 0;
      for await (const b of ds.batches('train', {
        batchSize: options.batchSize,
        start: startBatch * options.batchSize,
        end: (startBatch + n) * options.batchSize,
      })) {
        const t0 = performance.now();
        emb.optimizer.nextStep();
        trainRowsOf(b.sparse, rows);
        const r = model.step(b.dense, rows, b.labels, rowGrads);
        trainable.backward(b.sparse, rowGrads);
        partStepSeconds += (performance.now() - t0) / 1000;
        if (!Number.isFinite(r.loss))
          throw new TrainError(
            'bad-argument',
            `training diverged: loss ${r.loss} at part ${p + 1}, batch ${batches + 1} (lower --lr)`,
          );
        logits.set(r.logits, batches * options.batchSize);
        labels.set(b.labels, batches * options.batchSize);
        lossSum += r.loss;
        batches += 1;
      }
      stepSeconds += partStepSeconds;
      samplesTrained += batches * options.batchSize;
      partsRun += 1;
      const val = await evaluateSplit(ds, 'validation', model, serveRowsOf, options.batchSize);
      // Ties count as improvements (methods-spec §6); a NaN AUC never improves.
      const improved = best === undefined || val.auc >= best.val.auc;
      if (improved) {
        best = { part: p + 1, val, table: trainable.toTable(), dense: saveModel(model) };
        sinceBest = 0;
      } else {
        sinceBest += 1;
      }
      emit({
        kind: 'part',
        part: p + 1,
        parts: totalParts,
        epoch: epoch + 1,
        batches,
        samples: batches * options.batchSize,
        samplesPerSec: partStepSeconds > 0 ? (batches * options.batchSize) / partStepSeconds : 0,
        loss: batches > 0 ? lossSum / batches : Number.NaN,
        trainAuc:
          batches > 0
            ? rocAuc(
                logits.subarray(0, batches * options.batchSize),
                labels.subarray(0, batches * options.batchSize),
              )
            : Number.NaN,
        valAuc: val.auc,
        valLogloss: val.logloss,
        improved,
        bestPart: best?.part ?? 0,
        bestValAuc: best?.val.auc ?? Number.NaN,
        partsWithoutImprovement: sinceBest,
      });
      if (sinceBest >= options.earlyStopParts && p + 1 < totalParts) {
        stoppedEarly = true;
        emit({ kind: 'early-stop', part: p + 1, bestPart: best?.part ?? 0 });
        break;
      }
    }
  } finally {
    model.dispose();
  }
  const trainSeconds = (performance.now() - loopStart) / 1000;
  if (best === undefined) throw new TrainError('no-data', 'no part was trained');

  // The exported state: the best snapshot (compressed now for codecs) and its dense weights.
  const table = emb.finalize(best.table);
  const served = loadModel(best.dense);
  let val = best.val;
  let test: Evaluation;
  try {
    const lookup = (ids: Uint32Array, out: Float32Array) => table.lookup(ids, out);
    // A codec changes the rows: its validation numbers are those of the compressed table.
    if (emb.kind === 'codec')
      val = await evaluateSplit(ds, 'validation', served, lookup, options.batchSize);
    test = await evaluateSplit(ds, 'test', served, lookup, options.batchSize);
  } finally {
    served.dispose();
  }
  emit({ kind: 'test', auc: test.auc, logloss: test.logloss, rows: test.rows });

  const metrics: TrainMetrics = {
    valAuc: val.auc,
    valLogloss: val.logloss,
    testAuc: test.auc,
    testLogloss: test.logloss,
  };
  // JSON has no NaN: an empty test split is reported as null.
  const finite = (v: number) => (Number.isFinite(v) ? v : null);
  const memoryBytes = table.memoryBytes();
  const full = fullBytes(shape);
  const manifest = registryDir.writeVersion({
    model: options.modelName,
    version,
    tables: [
      {
        name: 'sparse',
        method: table.method,
        spec: table.spec,
        rows: table.rows,
        dim: table.dim,
        memoryBytes,
        bytes: table.encode(),
      },
    ],
    files: new Map<string, Uint8Array>([
      ['dense.weights', best.dense],
      ['vocabulary.json', new TextEncoder().encode(JSON.stringify(ds.vocabulary.toJSON()))],
    ]),
    extra: {
      architecture,
      feature: {
        fields: info.layout.categorical,
        dense: info.layout.dense,
        cardinalities: shape.fields,
        offsets: Array.from(ds.vocabulary.offsets),
        dim,
      },
      metrics: {
        valAuc: finite(metrics.valAuc),
        valLogloss: finite(metrics.valLogloss),
        testAuc: finite(metrics.testAuc),
        testLogloss: finite(metrics.testLogloss),
      },
      method: emb.spec,
      budget: emb.budgetApplied,
      memoryBytes,
      fullBytes: full,
      datasetFingerprint: info.fingerprint,
      backend: backend.name,
      training: {
        data: options.data,
        epochs: options.epochs,
        batchSize: options.batchSize,
        lr: options.lr,
        optimizer: options.optimizer,
        partsPerEpoch: parts,
        earlyStopParts: options.earlyStopParts,
        seed: options.seed,
        partsRun,
        bestPart: best.part,
        stoppedEarly,
        samplesTrained,
        trainSeconds,
      },
    },
  });
  log(`exported ${modelDir}`);
  return {
    modelDir,
    manifest,
    method: emb.method,
    spec: emb.spec,
    budget: emb.budgetApplied,
    memoryBytes,
    fullBytes: full,
    metrics,
    backend: backend.name,
    trainSeconds,
    samplesPerSec: stepSeconds > 0 ? samplesTrained / stepSeconds : 0,
    samplesTrained,
    partsRun,
    bestPart: best.part,
    stoppedEarly,
    table,
    test,
  };
}

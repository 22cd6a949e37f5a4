// The training engine (issue #4, docs/methods/reference.md#training-loop): prepare or open the
// dataset, build the compressed embedding table over the vocabulary and the dense model, train
// in parts with a validation pass after each, keep the best part by validation AUC (ties count
// as better), stop early, score TEST once with the best state, and export that exact state as a
// model version.
//
// Serving = training by construction: the best state is kept as the serving table
// (`toTable()`, a snapshot) and the dense weights' bytes (`saveModel`); the final test pass runs
// on a model rebuilt from those bytes and on that table, i.e. on exactly what is exported.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  fullBytes,
  registry,
  SPARSE_OPTIMIZER_KINDS,
  type CompressedTable,
  type OptimizerKind,
  type TableShape,
} from '@embpress/compression';
import { type PreparedDataset } from '@embpress/data';
import { CTR_MODEL_FILES, ModelRegistryDir, type Manifest } from '@embpress/model-registry';
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
import { CheckpointRun, fingerprintDiff, type CheckpointPayload } from './checkpoint';
import { isRawSource, openDataset } from './dataset-input';
import { setupEmbedding } from './embedding-setup';
import { evaluateSplit, type Evaluation } from './evaluate';
import { describeLrSchedule, LR_SCHEDULES, lrFactor, type LrSchedule } from './lr-schedule';
import { captureState, decodeState, encodeState, restoreState } from './object-state';
import type { StageChange, StageHooks } from './stage-hooks';
import { TrainError } from './train-errors';
import { makeTrainStep } from './train-step';
import {
  resolveTrainingDefaults,
  TRAIN_PRESETS,
  type ResolvedSchedule,
  type TrainPreset,
} from './training-defaults';

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
  /**
   * Where the schedule knobs left undefined below come from (default 'auto': chosen from the
   * training split's size; 'paper': the reference's settings). See training-defaults.ts.
   */
  preset?: TrainPreset;
  /** Epochs (a fraction trains that share of the parts). Undefined: from the preset. */
  epochs?: number;
  /** Undefined: from the preset. */
  batchSize?: number;
  /** Undefined: from the preset. */
  lr?: number;
  /** Undefined: from the preset. */
  optimizer?: TrainOptimizer;
  /**
   * The embedding rows' own optimizer (lazy, every method's table parameters; default: the
   * dense `optimizer`), e.g. 'rowwise-adagrad' (docs/models.md#sparse-optimizer).
   */
  sparseOptimizer?: OptimizerKind;
  /** The embedding rows' learning rate (default: `lr`). */
  sparseLr?: number;
  /** L2 penalty on the touched embedding rows, added to their gradient (default 0: none). */
  sparseL2?: number;
  /**
   * Dense Adam keeps the running maximum of v (AMSGrad; needs optimizer adam). The rows' Adam of
   * libs/compression has no such variant: it is the dense weights' only. Undefined: from the preset.
   */
  amsgrad?: boolean;
  /** Dropout rate of the MLPs' hidden layers in training steps, in [0, 1). Undefined: preset. */
  dropout?: number;
  /**
   * Learning-rate schedule of the dense and the rows' rates over the run's planned steps
   * (lr-schedule.ts). Undefined: from the preset.
   */
  lrSchedule?: LrSchedule;
  /** Linear warmup steps of the learning rates. Undefined: from the preset. */
  warmupSteps?: number;
  /** Parts per epoch: a validation pass after each. Undefined: from the preset. */
  partsPerEpoch?: number;
  /** Stop after this many parts without a better validation AUC. Undefined: from the preset. */
  earlyStopParts?: number;
  seed: number;
  backend: BackendChoice;
  registryRoot: string;
  modelName: string;
  /** Default: a UTC timestamp. */
  version?: string;
  /** Where raw sources are prepared (default `<registryRoot>/.datasets`). */
  datasetCacheDir?: string;
  /**
   * Continue the run of `modelName` (and `version`, else the newest run) from its last complete
   * checkpoint; every option that decides the result must be the same.
   */
  resume?: boolean;
  /** Write a checkpoint after each part (default true). */
  checkpoints?: boolean;
  /** Multi-stage methods' changes between parts. */
  hooks?: StageHooks;
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
  /** Training samples of the run so far (earlier parts included). */
  samplesTrained: number;
  /** The stage (stage hooks; '' when none). */
  stage: string;
  /** Wall seconds since the part loop started (resumed runs count their earlier parts too). */
  elapsedSeconds: number;
  /** The checkpoint written after this part, if any, and the seconds writing it took. */
  checkpoint?: string;
  checkpointSeconds?: number;
}

export type TrainProgress =
  | { kind: 'log'; message: string }
  /** Training progress inside a part (every few batches). */
  | {
      kind: 'batch';
      part: number;
      parts: number;
      epoch: number;
      /** Training samples of the run so far (earlier parts included). */
      samplesTrained: number;
      /** Batches done in this part and its batch count. */
      batch: number;
      batches: number;
      /** Mean loss over this part's batches so far. */
      loss: number;
      /** Training samples per second over this part so far (training steps only). */
      samplesPerSec: number;
      /** Best validation AUC so far (NaN before the first part ends). */
      bestValAuc: number;
      /** Estimated wall seconds until the last part ends. */
      etaSeconds: number;
    }
  | { kind: 'resume'; part: number; checkpoint: string }
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
  /** Part to which a resumed run restored (0: not resumed). */
  resumedFromPart: number;
  /** The schedule the run used: the explicit options and the defaults chosen for the data. */
  schedule: ResolvedSchedule;
  /** The exported serving table (the best snapshot, finalized). */
  table: CompressedTable;
  /** Per-row test predictions of the exported state (in test split order). */
  test: Evaluation;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new TrainError('bad-argument', message);
}

/** Checks the options that were given (undefined schedule knobs are chosen later). */
function validate(o: TrainOptions): void {
  check(
    (MODEL_KINDS as readonly string[]).includes(o.model),
    `model must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(o.model)}`,
  );
  check(
    o.preset === undefined || (TRAIN_PRESETS as readonly string[]).includes(o.preset),
    `preset must be one of ${TRAIN_PRESETS.join(', ')}, got ${JSON.stringify(o.preset)}`,
  );
  check(
    o.optimizer === undefined || (OPTIMIZER_KINDS as readonly string[]).includes(o.optimizer),
    `optimizer must be one of ${OPTIMIZER_KINDS.join(', ')}, got ${JSON.stringify(o.optimizer)}`,
  );
  check(
    o.epochs === undefined || (Number.isFinite(o.epochs) && o.epochs > 0),
    `epochs must be > 0, got ${o.epochs}`,
  );
  check(
    o.batchSize === undefined || (Number.isInteger(o.batchSize) && o.batchSize >= 1),
    `batchSize must be an integer >= 1, got ${o.batchSize}`,
  );
  check(
    o.sparseOptimizer === undefined ||
      (SPARSE_OPTIMIZER_KINDS as readonly string[]).includes(o.sparseOptimizer),
    `sparseOptimizer must be one of ${SPARSE_OPTIMIZER_KINDS.join(', ')}, got ${JSON.stringify(o.sparseOptimizer)}`,
  );
  check(
    o.sparseLr === undefined || (Number.isFinite(o.sparseLr) && o.sparseLr > 0),
    `sparseLr must be > 0, got ${o.sparseLr}`,
  );
  check(o.lr === undefined || (Number.isFinite(o.lr) && o.lr > 0), `lr must be > 0, got ${o.lr}`);
  check(
    o.dropout === undefined || (Number.isFinite(o.dropout) && o.dropout >= 0 && o.dropout < 1),
    `dropout must be in [0, 1), got ${o.dropout}`,
  );
  check(
    o.lrSchedule === undefined || (LR_SCHEDULES as readonly string[]).includes(o.lrSchedule),
    `lrSchedule must be one of ${LR_SCHEDULES.join(', ')}, got ${JSON.stringify(o.lrSchedule)}`,
  );
  check(
    o.warmupSteps === undefined || (Number.isInteger(o.warmupSteps) && o.warmupSteps >= 0),
    `warmupSteps must be an integer >= 0, got ${o.warmupSteps}`,
  );
  check(
    o.partsPerEpoch === undefined || (Number.isInteger(o.partsPerEpoch) && o.partsPerEpoch >= 1),
    `partsPerEpoch must be an integer >= 1, got ${o.partsPerEpoch}`,
  );
  check(
    o.earlyStopParts === undefined || (Number.isInteger(o.earlyStopParts) && o.earlyStopParts >= 1),
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

/**
 * Batches of each part (docs/methods/reference.md#training-loop): ⌊B/P⌋, +1 for the first B mod P
 * parts.
 */
export function partBatches(batchesPerEpoch: number, parts: number): number[] {
  const base = Math.floor(batchesPerEpoch / parts);
  const extra = batchesPerEpoch % parts;
  return Array.from({ length: parts }, (_, k) => base + (k < extra ? 1 : 0));
}

/** A data reference in a form that does not depend on the working directory. */
function canonicalData(data: string | undefined): string | null {
  if (data === undefined) return null;
  if (isRawSource(data)) {
    const at = data.indexOf(':');
    return `${data.slice(0, at)}:${resolve(data.slice(at + 1))}`;
  }
  return resolve(data);
}

interface BestState {
  part: number;
  val: { auc: number; logloss: number; rows: number };
  table: CompressedTable;
  dense: Uint8Array;
  /** The checkpoint that already holds this best state's files (reused, not rewritten). */
  savedIn?: string;
}

const numOrNull = (v: number) => (Number.isFinite(v) ? v : null);
const numOrNaN = (v: number | null) => (v === null ? Number.NaN : v);

export async function train(given: TrainOptions): Promise<TrainResult> {
  validate(given);
  const emit = given.onProgress ?? (() => undefined);
  const log = (message: string) => emit({ kind: 'log', message });
  const registryRoot = resolve(given.registryRoot);
  const registryDir = new ModelRegistryDir(registryRoot);
  // A resume continues the version of its run: the given one, or the newest run's.
  const resumeRun =
    given.resume === true
      ? CheckpointRun.find(registryRoot, given.modelName, given.version)
      : undefined;
  const version = resumeRun?.dir.split(/[\\/]/).pop() ?? given.version ?? defaultVersion();
  // Fail on a bad or taken name before any work.
  const modelDir = registryDir.path(given.modelName, version);
  if (registryDir.versions(given.modelName).includes(version))
    throw new TrainError(
      'bad-argument',
      `${given.modelName}/${version} already exists in ${registryRoot}`,
    );
  const run = resumeRun ?? CheckpointRun.of(registryRoot, given.modelName, version);
  // A fresh run of a version owns its checkpoint directory: an earlier crashed run's parts
  // there would otherwise be what a later --resume picks up.
  if (resumeRun === undefined && run.parts().length > 0) {
    log(`removing the checkpoints of an earlier run of ${given.modelName}/${version} (${run.dir})`);
    run.remove();
  }

  const backend = await initBackend(given.backend);
  log(
    `backend ${backend.name}${backend.skipped.length > 0 ? ` (skipped: ${backend.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')})` : ''}`,
  );
  const ds: PreparedDataset = await openDataset({
    data: given.data,
    ...(given.test === undefined ? {} : { test: given.test }),
    ...(given.schema === undefined ? {} : { schema: given.schema }),
    cacheRoot: given.datasetCacheDir ?? join(registryRoot, '.datasets'),
    log,
  });
  const info = ds.info;
  const numFields = info.layout.categorical.length;
  const numDense = info.layout.dense.length;
  const trainRows = info.rows.train;
  // The schedule: explicit options win, the rest is chosen from the training split's size.
  const schedule0 = resolveTrainingDefaults(
    trainRows,
    {
      epochs: given.epochs,
      batchSize: given.batchSize,
      partsPerEpoch: given.partsPerEpoch,
      earlyStopParts: given.earlyStopParts,
      lr: given.lr,
      optimizer: given.optimizer,
      amsgrad: given.amsgrad,
      dropout: given.dropout,
      lrSchedule: given.lrSchedule,
      warmupSteps: given.warmupSteps,
    },
    given.preset ?? 'auto',
  );
  if (schedule0.amsgrad && schedule0.optimizer !== 'adam')
    throw new TrainError(
      'bad-argument',
      `amsgrad is a variant of adam, the optimizer is ${schedule0.optimizer}`,
    );
  const sparseOptimizer: OptimizerKind = given.sparseOptimizer ?? schedule0.optimizer;
  const sparseLr = given.sparseLr ?? schedule0.lr;
  log(
    given.sparseOptimizer === undefined && given.sparseLr === undefined
      ? schedule0.summary
      : `${schedule0.summary}; embedding rows: ${sparseOptimizer} lr ${sparseLr} (flag)`,
  );
  const options = {
    ...given,
    epochs: schedule0.epochs,
    batchSize: schedule0.batchSize,
    partsPerEpoch: schedule0.partsPerEpoch,
    earlyStopParts: schedule0.earlyStopParts,
    lr: schedule0.lr,
    optimizer: schedule0.optimizer,
    amsgrad: schedule0.amsgrad,
    dropout: schedule0.dropout,
    lrSchedule: schedule0.lrSchedule,
    warmupSteps: schedule0.warmupSteps,
  };
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
    optimizer: sparseOptimizer,
    lr: sparseLr,
    sparseL2: options.sparseL2 ?? 0,
    log,
  });
  const trainable = emb.trainable;
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
  // The planned optimizer steps: what the learning-rate schedule runs over.
  let plannedSteps = 0;
  for (let p = 0; p < totalParts; p += 1) plannedSteps += schedule[p % parts] as number;
  const lrPlan = {
    schedule: options.lrSchedule,
    warmupSteps: options.warmupSteps,
    totalSteps: plannedSteps,
  };
  const scheduled = options.lrSchedule !== 'constant' || options.warmupSteps > 0;
  if (scheduled)
    log(`${describeLrSchedule(lrPlan)}: dense lr ${options.lr}, rows lr ${sparseLr} at the peak`);

  // Everything that decides the result: a resume must match it exactly.
  const fingerprint: Record<string, unknown> = {
    data: canonicalData(options.data),
    test: canonicalData(options.test),
    schema: options.schema === undefined ? null : resolve(options.schema),
    dataset: info.fingerprint,
    architecture,
    method: emb.spec,
    budget: emb.budgetApplied,
    epochs: options.epochs,
    batchSize: options.batchSize,
    lr: options.lr,
    optimizer: options.optimizer,
    // Named only when used: checkpoints written before the option existed still match.
    ...(options.sparseL2 ? { sparseL2: options.sparseL2 } : {}),
    ...(options.sparseOptimizer === undefined ? {} : { sparseOptimizer }),
    ...(options.sparseLr === undefined ? {} : { sparseLr }),
    // The levers, likewise named only when on.
    ...(options.amsgrad ? { amsgrad: true } : {}),
    ...(options.dropout > 0 ? { dropout: options.dropout } : {}),
    ...(options.lrSchedule !== 'constant' ? { lrSchedule: options.lrSchedule } : {}),
    ...(options.warmupSteps > 0 ? { warmupSteps: options.warmupSteps } : {}),
    partsPerEpoch: options.partsPerEpoch,
    earlyStopParts: options.earlyStopParts,
    seed: options.seed,
    backend: backend.name,
  };
  const modelOptions = {
    seed: options.seed,
    optimizer: { kind: options.optimizer, lr: options.lr, amsgrad: options.amsgrad },
    dropout: options.dropout,
  };
  const tableState = { table: trainable, optimizer: emb.optimizer };

  let best: BestState | undefined;
  let sinceBest = 0;
  let stepSeconds = 0;
  let earlierLoopSeconds = 0;
  let samplesTrained = 0;
  let partsRun = 0;
  let stoppedEarly = false;
  let stage = '';
  let firstPart = 0;
  let history: Record<string, unknown>[] = [];
  let model: CtrModel;
  if (run === resumeRun) {
    const ckpt = run.latest(log);
    const diff = fingerprintDiff(ckpt.meta.fingerprint, fingerprint);
    if (diff.length > 0)
      throw new TrainError(
        'bad-argument',
        `cannot resume from ${ckpt.dir}: it was written with other options (${diff.join('; ')})`,
      );
    const file = (name: string) => {
      const bytes = ckpt.files.get(name);
      if (bytes === undefined)
        throw new TrainError('bad-argument', `checkpoint ${ckpt.dir} has no ${name}`);
      return bytes;
    };
    restoreState(tableState, decodeState(file('table.state'), trainable.spec));
    model = loadModel(file('dense.ckpt'), modelOptions);
    const m = ckpt.meta;
    best = {
      part: m.best.part,
      val: { auc: numOrNaN(m.best.auc), logloss: numOrNaN(m.best.logloss), rows: m.best.rows },
      table: registry.load(file('best-table.emb')),
      dense: file('best-dense.weights'),
      savedIn: ckpt.dir,
    };
    sinceBest = m.sinceBest;
    stepSeconds = m.stepSeconds;
    earlierLoopSeconds = m.loopSeconds;
    samplesTrained = m.samplesTrained;
    partsRun = m.partsDone;
    stage = m.stage;
    history = m.history;
    firstPart = m.partsDone;
    emit({ kind: 'resume', part: firstPart, checkpoint: ckpt.dir });
    log(`resumed ${options.modelName}/${version} after part ${firstPart} from ${ckpt.dir}`);
  } else {
    model = createModel(architecture, modelOptions);
  }
  const writeCheckpoint = (partsDone: number): string | undefined => {
    if (options.checkpoints === false || best === undefined) return undefined;
    const b = best;
    const payload = new Map<string, CheckpointPayload>([
      ['table.state', encodeState(captureState(tableState), trainable.spec, shape)],
      ['dense.ckpt', saveModel(model, { includeOptimizer: true })],
    ]);
    const reuse = b.savedIn !== undefined && existsSync(b.savedIn) ? b.savedIn : undefined;
    payload.set('best-table.emb', reuse === undefined ? b.table.encode() : { reuse });
    payload.set('best-dense.weights', reuse === undefined ? b.dense : { reuse });
    const dir = run.write(
      {
        model: options.modelName,
        version,
        fingerprint,
        partsDone,
        sinceBest,
        samplesTrained,
        stepSeconds,
        loopSeconds: earlierLoopSeconds + (performance.now() - loopStart) / 1000,
        stage,
        best: {
          part: b.part,
          auc: numOrNull(b.val.auc),
          logloss: numOrNull(b.val.logloss),
          rows: b.val.rows,
        },
        history,
        createdAt: new Date().toISOString(),
      },
      payload,
    );
    b.savedIn = dir;
    return dir;
  };
  const applyChange = (change: StageChange | undefined): boolean => {
    if (change === undefined) return false;
    if (change.stage !== undefined && change.stage !== stage) {
      log(`stage ${change.stage}${stage === '' ? '' : ` (was ${stage})`}`);
      stage = change.stage;
    }
    if (change.resetBest === true) {
      best = undefined;
      sinceBest = 0;
    }
    return change.stop === true;
  };

  let partsWallSeconds = 0;
  const trainStep = makeTrainStep(trainable, emb.optimizer, model, options.batchSize);
  // libs/compression's SparseOptimizer declares its lr readonly but reads it at every update: the
  // schedule sets it before each step (the one writer; no method keeps a copy of it).
  const rowsOptimizer = emb.optimizer as unknown as { lr: number };
  const setRates = (factor: number) => {
    model.learningRate = options.lr * factor;
    rowsOptimizer.lr = sparseLr * factor;
  };
  // The global step is the dense optimizer's counter, which checkpoints restore.
  const step: typeof trainStep = scheduled
    ? (b) => {
        setRates(lrFactor(lrPlan, model.steps));
        return trainStep(b);
      }
    : trainStep;
  const loopStart = performance.now();
  const elapsed = () => earlierLoopSeconds + (performance.now() - loopStart) / 1000;
  // A run that had already stopped early when it was checkpointed stays stopped.
  if (firstPart > 0 && sinceBest >= options.earlyStopParts && firstPart < totalParts)
    stoppedEarly = true;
  try {
    for (let p = firstPart; p < totalParts && !stoppedEarly; p += 1) {
      const epoch = Math.floor(p / parts);
      const k = p % parts;
      const n = schedule[k] as number;
      const startBatch = schedule.slice(0, k).reduce((a, b) => a + b, 0);
      const context = () => ({
        part: p + 1,
        parts: totalParts,
        epoch: epoch + 1,
        stage,
        trainable,
        model,
        bestPart: best?.part ?? 0,
        bestValAuc: best?.val.auc ?? Number.NaN,
      });
      if (applyChange(options.hooks?.beforePart?.(context()))) {
        stoppedEarly = true;
        break;
      }
      const logits = new Float32Array(n * options.batchSize);
      const labels = new Float32Array(n * options.batchSize);
      let lossSum = 0;
      let batches = 0;
      let partStepSeconds = 0;
      const partStart = performance.now();
      let lastReport = partStart;
      for await (const b of ds.batches('train', {
        batchSize: options.batchSize,
        start: startBatch * options.batchSize,
        end: (startBatch + n) * options.batchSize,
      })) {
        const t0 = performance.now();
        const r = step(b);
        const t1 = performance.now();
        partStepSeconds += (t1 - t0) / 1000;
        if (!Number.isFinite(r.loss))
          throw new TrainError(
            'bad-argument',
            `training diverged: loss ${r.loss} at part ${p + 1}, batch ${batches + 1} (lower --lr)`,
          );
        logits.set(r.logits, batches * options.batchSize);
        labels.set(b.labels, batches * options.batchSize);
        lossSum += r.loss;
        batches += 1;
        // A few progress events per second at most: enough for a live bar, cheap to send.
        if (t1 - lastReport >= 250 && batches < n) {
          lastReport = t1;
          const perBatch = (t1 - partStart) / 1000 / batches;
          const donePartsHere = partsRun - firstPart;
          emit({
            kind: 'batch',
            part: p + 1,
            parts: totalParts,
            epoch: epoch + 1,
            samplesTrained: samplesTrained + batches * options.batchSize,
            batch: batches,
            batches: n,
            loss: lossSum / batches,
            samplesPerSec: (batches * options.batchSize) / partStepSeconds,
            bestValAuc: best?.val.auc ?? Number.NaN,
            // Later parts at the mean wall time of this process's parts so far (validation
            // included), or at this part's batch rate before one has ended.
            etaSeconds:
              (n - batches) * perBatch +
              (totalParts - p - 1) *
                (donePartsHere > 0 ? partsWallSeconds / donePartsHere : n * perBatch),
          });
        }
      }
      stepSeconds += partStepSeconds;
      samplesTrained += batches * options.batchSize;
      partsRun += 1;
      if (scheduled)
        log(
          `part ${p + 1}: lr factor ${lrFactor(lrPlan, Math.max(0, model.steps - 1)).toPrecision(4)} at step ${model.steps} of ${plannedSteps} (dense lr ${model.learningRate.toPrecision(4)})`,
        );
      const val = await evaluateSplit(ds, 'validation', model, serveRowsOf, options.batchSize);
      // Ties count as improvements (docs/methods/reference.md#training-loop); a NaN AUC never
      // improves.
      const improved = best === undefined || val.auc >= best.val.auc;
      if (improved) {
        best = {
          part: p + 1,
          val: { auc: val.auc, logloss: val.logloss, rows: val.rows },
          table: trainable.toTable(),
          dense: saveModel(model),
        };
        sinceBest = 0;
      } else {
        sinceBest += 1;
      }
      const stop = applyChange(
        options.hooks?.onPartEnd?.({
          ...context(),
          valAuc: val.auc,
          valLogloss: val.logloss,
          improved,
        }),
      );
      const event: PartProgress = {
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
        samplesTrained,
        stage,
        elapsedSeconds: elapsed(),
      };
      const { kind: _kind, checkpoint: _ckpt, ...record } = event;
      history = [...history, record];
      // Written before the part is reported: every part a user saw survives a kill -9.
      const ckptStart = performance.now();
      const checkpoint = writeCheckpoint(p + 1);
      const checkpointSeconds = (performance.now() - ckptStart) / 1000;
      partsWallSeconds += (performance.now() - partStart) / 1000;
      emit(checkpoint === undefined ? event : { ...event, checkpoint, checkpointSeconds });
      if (stop) {
        stoppedEarly = p + 1 < totalParts;
        break;
      }
      if (sinceBest >= options.earlyStopParts && p + 1 < totalParts) {
        stoppedEarly = true;
        emit({ kind: 'early-stop', part: p + 1, bestPart: best?.part ?? 0 });
        break;
      }
    }
  } finally {
    model.dispose();
  }
  const trainSeconds = elapsed();
  if (best === undefined) throw new TrainError('no-data', 'no part was trained');

  // The exported state: the best snapshot (compressed now for codecs) and its dense weights.
  const table = emb.finalize(best.table);
  const served = loadModel(best.dense);
  let val: { auc: number; logloss: number } = best.val;
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
      [CTR_MODEL_FILES.denseWeights, best.dense],
      [
        CTR_MODEL_FILES.vocabulary,
        new TextEncoder().encode(JSON.stringify(ds.vocabulary.toJSON())),
      ],
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
        sparseL2: options.sparseL2 ?? 0,
        sparseOptimizer,
        sparseLr,
        amsgrad: options.amsgrad,
        dropout: options.dropout,
        lrSchedule: options.lrSchedule,
        warmupSteps: options.warmupSteps,
        plannedSteps,
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
  // The run is done: its checkpoints would only resume into an existing version.
  run.remove();
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
    resumedFromPart: firstPart,
    schedule: schedule0,
    table,
    test,
  };
}

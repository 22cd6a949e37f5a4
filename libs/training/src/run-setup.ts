// Everything a run decides before its first step: the version and its checkpoint directory, the
// backend, the dataset, the schedule (explicit options win, the rest is chosen from the data), the
// architecture, the table (budget → parameters in the chosen accounting; frequencies for methods
// that use them), the method's stages, the part schedule, and the fingerprint a resume must match.
import { join, resolve } from 'node:path';
import {
  fullBytes,
  isStagedMethod,
  registry,
  totalRows,
  type Accounting,
  type OptimizerKind,
  type TableShape,
} from '@embpress/compression';
import { type PreparedDataset } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import {
  initBackend,
  parseModelConfig,
  type BackendInfo,
  type CreateModelOptions,
  type ModelConfig,
} from '@embpress/models';
import { CheckpointRun } from './checkpoint';
import { openDataset } from './dataset-input';
import { setupEmbedding, type EmbeddingSetup } from './embedding-setup';
import { countFrequencies } from './frequencies';
import { describeLrSchedule } from './lr-schedule';
import {
  canonicalData,
  defaultVersion,
  partBatches,
  validate,
  type TrainOptions,
  type TrainProgress,
} from './options';
import { TrainError } from './train-errors';
import { trainWorkers } from './train-workers';
import { resolveTrainingDefaults, type ResolvedSchedule } from './training-defaults';

/** The options with every schedule knob chosen. */
export type ResolvedOptions = TrainOptions & {
  epochs: number;
  batchSize: number;
  partsPerEpoch: number;
  earlyStopParts: number;
  lr: number;
  optimizer: ResolvedSchedule['optimizer'];
  amsgrad: boolean;
  dropout: number;
  lrSchedule: ResolvedSchedule['lrSchedule'];
  warmupSteps: number;
};

export interface RunSetup {
  emit: (event: TrainProgress) => void;
  log: (message: string) => void;
  registryRoot: string;
  registryDir: ModelRegistryDir;
  version: string;
  modelDir: string;
  run: CheckpointRun;
  /** Whether `run` is an earlier run's checkpoints to continue. */
  resuming: boolean;
  backend: BackendInfo;
  ds: PreparedDataset;
  schedule0: ResolvedSchedule;
  options: ResolvedOptions;
  sparseOptimizer: OptimizerKind;
  sparseLr: number;
  architecture: ModelConfig;
  dim: number;
  shape: TableShape;
  emb: EmbeddingSetup;
  /** Training-split counts per global id (staged and frequency-aware methods only). */
  frequencies: Uint32Array | undefined;
  /** Parts per epoch and the batches of each. */
  parts: number;
  schedule: number[];
  /** The run's part budget (epochs × parts per epoch): every stage trains at most this many. */
  totalParts: number;
  stepsOfParts: (n: number) => number;
  plannedSteps: number;
  scheduled: boolean;
  fingerprint: Record<string, unknown>;
  modelOptions: CreateModelOptions;
}

/** Whether a spec's method gets the training split's frequencies. */
export function needsFrequencies(spec: string): boolean {
  const method = registry.resolve(spec).method;
  return method.kind === 'trainable' && (method.usesFrequencies === true || isStagedMethod(method));
}

export async function setupRun(given: TrainOptions): Promise<RunSetup> {
  validate(given);
  const emit: (event: TrainProgress) => void = given.onProgress ?? (() => undefined);
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
  // Frequency-aware and staged methods get the training split's id counts (frequencies.ts).
  let frequencies: Uint32Array | undefined;
  if (needsFrequencies(options.method)) {
    const t0 = performance.now();
    frequencies = await countFrequencies(ds, totalRows(shape), options.batchSize);
    log(
      `id frequencies over the training split: ${frequencies.length} ids in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  const accounting: Accounting = options.accounting === 'paper' ? 'paper-words' : 'bytes';
  const emb = setupEmbedding({
    spec: options.method,
    ...(options.budget === undefined ? {} : { budget: options.budget }),
    shape,
    seed: options.seed,
    optimizer: sparseOptimizer,
    lr: sparseLr,
    sparseL2: options.sparseL2 ?? 0,
    accounting,
    ...(frequencies === undefined ? {} : { frequencies }),
    log,
  });
  log(
    `${options.model} ${JSON.stringify(architecture)}; table ${emb.spec}: ${ds.vocabulary.size} ids x ${dim}, ${emb.trainable.memoryBytes()} of ${fullBytes(shape)} fp32 bytes`,
  );
  if (emb.stages.length > 1 || emb.stages[0]?.name !== '')
    log(
      `stages: ${emb.stages.map((s) => `${s.name} (end ${s.end.kind}${s.end.kind === 'parts' && s.end.parts !== undefined ? ` ${s.end.parts}` : ''}, dense ${s.dense}${s.denseStart === 'reinit' ? ' reinit' : ''}, optimizer ${s.optimizer}, keep ${s.keep}${s.validationStep === true ? ', validation steps' : ''})`).join(' → ')}`,
    );

  // The part schedule.
  const parts = Math.min(options.partsPerEpoch, batchesPerEpoch);
  const schedule = partBatches(batchesPerEpoch, parts);
  const totalParts = Math.max(1, Math.floor(options.epochs * parts));
  log(
    `train ${trainRows} rows = ${batchesPerEpoch} batches of ${options.batchSize} per epoch in ${parts} parts; ${totalParts} parts at most; validation ${info.rows.validation}, test ${info.rows.test} rows`,
  );
  // The planned optimizer steps of a stage of `n` parts: what the learning-rate schedule (and a
  // stage's own schedules, e.g. DeepLight's sparsity ramp) runs over. Every stage restarts it.
  const stepsOfParts = (n: number) => {
    let steps = 0;
    for (let p = 0; p < n; p += 1) steps += schedule[p % parts] as number;
    return steps;
  };
  const plannedSteps = stepsOfParts(totalParts);
  const scheduled = options.lrSchedule !== 'constant' || options.warmupSteps > 0;
  if (scheduled)
    log(
      `${describeLrSchedule({ schedule: options.lrSchedule, warmupSteps: options.warmupSteps, totalSteps: plannedSteps })}: dense lr ${options.lr}, rows lr ${sparseLr} at the peak`,
    );

  // Everything that decides the result: a resume must match it exactly.
  const fingerprint: Record<string, unknown> = {
    data: canonicalData(options.data),
    test: canonicalData(options.test),
    schema: options.schema === undefined ? null : resolve(options.schema),
    dataset: info.fingerprint,
    architecture,
    method: emb.spec,
    budget: emb.budgetApplied,
    // Named only when not the default: checkpoints written before the option existed still match.
    ...(options.accounting === 'paper' ? { accounting: 'paper' } : {}),
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
  const workers = trainWorkers(given.workers, trainRows, architecture.kind, backend.name);
  log(workers.summary);
  const modelOptions: CreateModelOptions = {
    seed: options.seed,
    optimizer: { kind: options.optimizer, lr: options.lr, amsgrad: options.amsgrad },
    dropout: options.dropout,
    workers: workers.count,
  };
  return {
    emit,
    log,
    registryRoot,
    registryDir,
    version,
    modelDir,
    run,
    resuming: run === resumeRun,
    backend,
    ds,
    schedule0,
    options,
    sparseOptimizer,
    sparseLr,
    architecture,
    dim,
    shape,
    emb,
    frequencies,
    parts,
    schedule,
    totalParts,
    stepsOfParts,
    plannedSteps,
    scheduled,
    fingerprint,
    modelOptions,
  };
}

// What a training run takes and gives: its options (checked before any work), its progress
// events and its result. The engine itself is train.ts; the stages it runs come from the method
// (docs/adr/0016-staged-training.md).
import { resolve } from 'node:path';
import {
  SPARSE_OPTIMIZER_KINDS,
  type CompressedTable,
  type OptimizerKind,
} from '@embpress/compression';
import type { Manifest } from '@embpress/model-registry';
import { MODEL_KINDS, type BackendChoice, type ModelKind } from '@embpress/models';
import { isRawSource } from './dataset-input';
import type { Evaluation } from './evaluate';
import { LR_SCHEDULES, type LrSchedule } from './lr-schedule';
import { TrainError } from './train-errors';
import { isTrainWorkers, MAX_TRAIN_WORKERS } from './train-workers';
import { TRAIN_PRESETS, type ResolvedSchedule, type TrainPreset } from './training-defaults';

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
   * Threads of the dense training step (data-parallel halves of each batch,
   * docs/models.md#data-parallel-step). Undefined: EMBPRESS_TRAIN_WORKERS, else the cores this
   * process may use, for runs long enough to repay starting the threads.
   */
  workers?: number;
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
  /**
   * How `budget` is turned into the method's parameters: our real bytes (default), or the
   * paper's 32-bit words ('paper': reproduces the paper's parameters, e.g. qr's collisions).
   */
  accounting?: BudgetAccounting;
  onProgress?: (event: TrainProgress) => void;
}

export const BUDGET_ACCOUNTINGS = ['bytes', 'paper'] as const;
export type BudgetAccounting = (typeof BUDGET_ACCOUNTINGS)[number];

export interface PartProgress {
  kind: 'part';
  /** 1-based, within the stage (every stage restarts the part counter). */
  part: number;
  /** The stage's part budget. */
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
  /** The stage's name ('' for a method that declares no stages) and its 0-based index. */
  stage: string;
  stageIndex: number;
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
  /** `part`: parts done in the whole run; `stagePart`: parts done in the stage resumed. */
  | { kind: 'resume'; part: number; checkpoint: string; stage: string; stagePart: number }
  /** A stage begins (staged methods only; also the stage a resumed run continues). */
  | { kind: 'stage'; index: number; name: string; stages: number }
  | PartProgress
  | { kind: 'early-stop'; part: number; bestPart: number }
  | { kind: 'test'; auc: number; logloss: number; rows: number };

export interface StageReport {
  name: string;
  /** Parts trained in the stage. */
  parts: number;
  /** The part whose state the stage handed on (1-based; 0: its last state). */
  keptPart: number;
  /** Validation AUC of the kept part (NaN when the last state was kept unscored). */
  keptValAuc: number;
  /** Why the stage ended. */
  end: 'budget' | 'early-stop' | 'target' | 'none';
}

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
  /** Each stage's parts, kept part and why it ended (one entry for an unstaged method). */
  stages: StageReport[];
  /** Part to which a resumed run restored (0: not resumed; counted over the whole run). */
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
export function validate(o: TrainOptions): void {
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
    o.workers === undefined || isTrainWorkers(o.workers),
    `workers must be an integer in [1, ${MAX_TRAIN_WORKERS}], got ${o.workers}`,
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
  check(
    o.accounting === undefined || (BUDGET_ACCOUNTINGS as readonly string[]).includes(o.accounting),
    `accounting must be one of ${BUDGET_ACCOUNTINGS.join(', ')}, got ${JSON.stringify(o.accounting)}`,
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
export function canonicalData(data: string | undefined): string | null {
  if (data === undefined) return null;
  if (isRawSource(data)) {
    const at = data.indexOf(':');
    return `${data.slice(0, at)}:${resolve(data.slice(at + 1))}`;
  }
  return resolve(data);
}

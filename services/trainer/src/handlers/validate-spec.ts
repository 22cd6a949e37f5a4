// Validation of a TrainingSpec (the same knobs as `embpress train`, except --resume), and the
// options of the job that runs it. Defaults are those of `embpress train`: a schedule field left
// at zero (epochs, batch size, learning rate, optimizer, parts, early stop) or a lever left unset
// (amsgrad, dropout, lr schedule, warmup) is passed on as undefined, and train() chooses it from
// the training split's size and the preset (domain/training-defaults.ts) once the data is read.
// The rest: dim 16, reference MLP sizes, no sparse L2, the rows trained like the dense weights,
// seed 123, dlrm, auto backend; budget 0 = none, the method's own parameters.
import { existsSync } from 'node:fs';
import { registry, SPARSE_OPTIMIZER_KINDS, type OptimizerKind } from '@embpress/compression';
import type { ModelKind, BackendChoice } from '@embpress/models';
import type { trainer } from '@embpress/proto';
import { InvalidArgumentError, requireIntInRange, requireName } from '@embpress/service-kit';
import {
  BUDGET_ACCOUNTINGS,
  LR_SCHEDULES,
  OPTIMIZER_KINDS,
  TRAIN_PRESETS,
  type BudgetAccounting,
  type LrSchedule,
  type TrainOptimizer,
  type TrainPreset,
} from '@embpress/training';
import type { TrainJobOptions } from '../runner/protocol';

export const DATA_KINDS = ['criteo', 'avazu', 'csv'] as const;
export const MODELS = ['dlrm', 'wdl', 'dcn', 'deepfm', 'fm'] as const;
export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow'] as const;

/** Layer sizes: each in [1, 65536], at most 16 layers. */
function requireLayers(field: string, sizes: number[]): number[] {
  if (sizes.length > 16)
    throw new InvalidArgumentError(field, `at most 16 layers, got ${sizes.length}`);
  sizes.forEach((n, i) => requireIntInRange(`${field}[${i}]`, n, 1, 65_536));
  return sizes;
}

function requireDataRef(field: string, value: string): void {
  const match = /^([a-z]+):(.+)$/.exec(value);
  if (match === null)
    throw new InvalidArgumentError(
      field,
      `must be KIND:PATH with KIND one of ${DATA_KINDS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  if (!(DATA_KINDS as readonly string[]).includes(match[1] ?? '')) {
    throw new InvalidArgumentError(
      field,
      `unknown data kind "${match[1]}" (one of ${DATA_KINDS.join(', ')})`,
    );
  }
  // Checked here so a typo is an INVALID_ARGUMENT now, not a FAILED training later.
  if (!existsSync(match[2] as string))
    throw new InvalidArgumentError(field, `no such file: ${match[2]}`);
}

function requireOneOf(field: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value))
    throw new InvalidArgumentError(
      field,
      `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
}

export type JobSpecOptions = Omit<TrainJobOptions, 'registryRoot' | 'version'>;

/**
 * Validates `spec`; returns it with defaults filled in for fields left at zero/empty, and the
 * options of the training job.
 */
export function validateTrainingSpec(spec: trainer.TrainingSpec | undefined): {
  spec: trainer.TrainingSpec;
  options: JobSpecOptions;
} {
  if (spec === undefined) throw new InvalidArgumentError('spec', 'is required');
  requireDataRef('spec.data', spec.data);
  if (spec.testData !== '') requireDataRef('spec.test_data', spec.testData);
  const model = spec.model === '' ? 'dlrm' : spec.model;
  requireOneOf('spec.model', model, MODELS);
  if (spec.method.trim() === '')
    throw new InvalidArgumentError(
      'spec.method',
      'is required (a method spec such as "full" or "qr(collisions=4)")',
    );
  try {
    registry.resolve(spec.method);
  } catch (err) {
    throw new InvalidArgumentError('spec.method', (err as Error).message);
  }
  const budget = spec.budget;
  if (budget !== 0 && !(budget > 0 && budget <= 1))
    throw new InvalidArgumentError('spec.budget', `must be in (0, 1], got ${spec.budget}`);
  // Zero: chosen from the data (undefined here).
  const epochs =
    spec.epochs === 0 ? undefined : requireIntInRange('spec.epochs', spec.epochs, 1, 1000);
  const batchSize =
    spec.batchSize === 0
      ? undefined
      : requireIntInRange('spec.batch_size', spec.batchSize, 1, 1 << 16);
  const learningRate = spec.learningRate === 0 ? undefined : spec.learningRate;
  if (
    learningRate !== undefined &&
    !(Number.isFinite(learningRate) && learningRate > 0 && learningRate <= 10)
  ) {
    throw new InvalidArgumentError(
      'spec.learning_rate',
      `must be in (0, 10], got ${spec.learningRate}`,
    );
  }
  const sparseLr = spec.sparseLearningRate === 0 ? undefined : spec.sparseLearningRate;
  if (sparseLr !== undefined && !(Number.isFinite(sparseLr) && sparseLr > 0 && sparseLr <= 10))
    throw new InvalidArgumentError(
      'spec.sparse_learning_rate',
      `must be in (0, 10], got ${spec.sparseLearningRate}`,
    );
  requireName('spec.output_name', spec.outputName);
  const backend = spec.backend === '' ? 'auto' : spec.backend;
  requireOneOf('spec.backend', backend, BACKENDS);
  const seed = spec.seed === 0 ? 123 : spec.seed;
  const optimizer = spec.optimizer === '' ? undefined : spec.optimizer;
  if (optimizer !== undefined) requireOneOf('spec.optimizer', optimizer, OPTIMIZER_KINDS);
  const sparseOptimizer = spec.sparseOptimizer === '' ? undefined : spec.sparseOptimizer;
  if (sparseOptimizer !== undefined)
    requireOneOf('spec.sparse_optimizer', sparseOptimizer, SPARSE_OPTIMIZER_KINDS);
  const preset = spec.preset === '' ? 'auto' : spec.preset;
  requireOneOf('spec.preset', preset, TRAIN_PRESETS);
  const accounting = spec.accounting === '' ? 'bytes' : spec.accounting;
  requireOneOf('spec.accounting', accounting, BUDGET_ACCOUNTINGS);
  const partsPerEpoch =
    spec.partsPerEpoch === 0
      ? undefined
      : requireIntInRange('spec.parts_per_epoch', spec.partsPerEpoch, 1, 10_000);
  const earlyStopParts =
    spec.earlyStopParts === 0
      ? undefined
      : requireIntInRange('spec.early_stop_parts', spec.earlyStopParts, 1, 10_000);
  // The levers: unset (proto3 optional) = the preset's default, which a zero could not say.
  const dropout = spec.dropout;
  if (dropout !== undefined && !(Number.isFinite(dropout) && dropout >= 0 && dropout < 1))
    throw new InvalidArgumentError('spec.dropout', `must be in [0, 1), got ${spec.dropout}`);
  const lrSchedule = spec.lrSchedule === '' ? undefined : spec.lrSchedule;
  if (lrSchedule !== undefined) requireOneOf('spec.lr_schedule', lrSchedule, LR_SCHEDULES);
  const warmupSteps =
    spec.warmupSteps === undefined
      ? undefined
      : requireIntInRange('spec.warmup_steps', spec.warmupSteps, 0, 10_000_000);
  if (spec.amsgrad === true && optimizer !== undefined && optimizer !== 'adam')
    throw new InvalidArgumentError('spec.amsgrad', `needs optimizer adam, got ${optimizer}`);
  const dim = spec.dim === 0 ? 16 : requireIntInRange('spec.dim', spec.dim, 1, 4096);
  const bottom = requireLayers('spec.bottom_mlp', spec.bottomMlp);
  const top = requireLayers('spec.top_mlp', spec.topMlp);
  if (!(Number.isFinite(spec.sparseL2) && spec.sparseL2 >= 0))
    throw new InvalidArgumentError('spec.sparse_l2', `must be >= 0, got ${spec.sparseL2}`);
  return {
    // The schedule's zero fields stay zero here: the job fills them in once chosen.
    spec: { ...spec, model, budget, seed, backend, preset, dim, accounting },
    options: {
      data: spec.data,
      ...(spec.testData === '' ? {} : { test: spec.testData }),
      model: model as ModelKind,
      method: spec.method,
      ...(budget === 0 ? {} : { budget }),
      accounting: accounting as BudgetAccounting,
      preset: preset as TrainPreset,
      ...(epochs === undefined ? {} : { epochs }),
      ...(batchSize === undefined ? {} : { batchSize }),
      ...(learningRate === undefined ? {} : { lr: learningRate }),
      ...(optimizer === undefined ? {} : { optimizer: optimizer as TrainOptimizer }),
      ...(sparseOptimizer === undefined
        ? {}
        : { sparseOptimizer: sparseOptimizer as OptimizerKind }),
      ...(sparseLr === undefined ? {} : { sparseLr }),
      ...(spec.sparseL2 === 0 ? {} : { sparseL2: spec.sparseL2 }),
      ...(partsPerEpoch === undefined ? {} : { partsPerEpoch }),
      ...(earlyStopParts === undefined ? {} : { earlyStopParts }),
      ...(spec.amsgrad === undefined ? {} : { amsgrad: spec.amsgrad }),
      ...(dropout === undefined ? {} : { dropout }),
      ...(lrSchedule === undefined ? {} : { lrSchedule: lrSchedule as LrSchedule }),
      ...(warmupSteps === undefined ? {} : { warmupSteps }),
      modelOverrides: {
        dim,
        ...(bottom.length === 0 ? {} : { bottom }),
        ...(top.length === 0 ? {} : { top }),
      },
      seed,
      backend: backend as BackendChoice,
      modelName: spec.outputName,
    },
  };
}

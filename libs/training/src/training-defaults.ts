// The one place that fills in the training schedule a user did not set (issue #12, item 5): batch
// size, epochs, evaluation cadence (parts per epoch), early-stop patience, optimizer and learning
// rate, chosen from the size of the TRAINING split, so that a run with no flags learns on 8k rows
// as on 40M; and the training levers (amsgrad, dropout, learning-rate schedule and warmup), whose
// defaults are fixed. Explicit values always win, one by one. The policy and the reference's
// settings of `--preset paper` are described in docs/models.md#training-defaults.
import type { LrSchedule } from './lr-schedule';
import type { TrainOptimizer } from './options';

export const TRAIN_PRESETS = ['auto', 'paper'] as const;
export type TrainPreset = (typeof TRAIN_PRESETS)[number];

/** The knobs the policy fills in; each one left undefined is chosen. */
export interface ScheduleChoice {
  epochs?: number | undefined;
  batchSize?: number | undefined;
  partsPerEpoch?: number | undefined;
  earlyStopParts?: number | undefined;
  lr?: number | undefined;
  optimizer?: TrainOptimizer | undefined;
  /** Dense Adam with the running maximum of v (only with optimizer adam). */
  amsgrad?: boolean | undefined;
  /** Dropout rate of the MLPs' hidden layers while training. */
  dropout?: number | undefined;
  lrSchedule?: LrSchedule | undefined;
  warmupSteps?: number | undefined;
}

export type ScheduleKey = keyof ScheduleChoice;
/** Where a value came from: the user, the data-size policy, or the paper preset. */
export type ScheduleSource = 'flag' | 'auto' | 'paper';

export interface ResolvedSchedule {
  epochs: number;
  batchSize: number;
  partsPerEpoch: number;
  earlyStopParts: number;
  lr: number;
  optimizer: TrainOptimizer;
  amsgrad: boolean;
  dropout: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  preset: TrainPreset;
  trainRows: number;
  source: Record<ScheduleKey, ScheduleSource>;
  /** One line for the log, e.g. `defaults for 6,857 train rows: batch 128, …`. */
  summary: string;
}

/** The policy's constants (docs/models.md#training-defaults). */
export const AUTO_POLICY = {
  /** Batch sizes are powers of two in [minBatch, maxBatch]. */
  minBatch: 128,
  maxBatch: 1024,
  /**
   * The largest batch that still gives an epoch this many optimizer steps. 1000, not 200: on 200k
   * synthetic rows the deep models over-fit from their second epoch on, so what they learn in the
   * first one decides, and batch 128 beat 512 there (DeepFM +0.0095 test AUC, DLRM +0.0013, FM
   * +0.0017; docs/benchmarks.md).
   */
  stepsPerEpoch: 1000,
  /** Enough epochs for this many optimizer steps in all (early stopping ends most runs sooner)… */
  minSteps: 2000,
  /** …but never more than this many epochs. */
  maxEpochs: 20,
  /** A validation pass about every this many steps, 1 to maxParts per epoch. */
  stepsPerPart: 50,
  maxParts: 10,
  /** Patience: at least one epoch and at least this many validation passes. */
  minPatience: 3,
  lr: 0.001,
  optimizer: 'adam' as TrainOptimizer,
  /** The levers of docs/models.md#training-levers, off unless measured to help. */
  amsgrad: false,
  dropout: 0,
  lrSchedule: 'constant' as LrSchedule,
  warmupSteps: 0,
} as const;

/**
 * The reference's settings (docs/models.md#training-defaults): batch 128, Adam 1e-3, a validation
 * pass every 1/100 epoch, its example run's 10 epochs and early stop after 40 passes.
 */
export const PAPER_PRESET = {
  epochs: 10,
  batchSize: 128,
  partsPerEpoch: 100,
  earlyStopParts: 40,
  lr: 0.001,
  optimizer: 'adam' as TrainOptimizer,
  amsgrad: false,
  dropout: 0,
  lrSchedule: 'constant' as LrSchedule,
  warmupSteps: 0,
} as const;

function floorPow2(x: number): number {
  return x < 1 ? 1 : 2 ** Math.floor(Math.log2(x));
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** The batch size of the auto policy for `trainRows` training rows. */
export function autoBatchSize(trainRows: number): number {
  const p = AUTO_POLICY;
  return clamp(floorPow2(trainRows / p.stepsPerEpoch), p.minBatch, p.maxBatch);
}

/**
 * Resolves the schedule of a run over `trainRows` training rows: every value given in `explicit`
 * is kept; the others come from `preset` ('auto': from the data's size). Order matters: the batch
 * decides the steps per epoch, which decide the epochs and the parts, which decide the patience.
 */
export function resolveTrainingDefaults(
  trainRows: number,
  explicit: ScheduleChoice = {},
  preset: TrainPreset = 'auto',
): ResolvedSchedule {
  const p = AUTO_POLICY;
  const chosen: ScheduleSource = preset === 'paper' ? 'paper' : 'auto';
  const source = {} as Record<ScheduleKey, ScheduleSource>;
  const pick = <K extends ScheduleKey>(
    key: K,
    fallback: () => NonNullable<ScheduleChoice[K]>,
  ): NonNullable<ScheduleChoice[K]> => {
    const v = explicit[key];
    source[key] = v === undefined ? chosen : 'flag';
    return v ?? fallback();
  };
  const paper = preset === 'paper';
  const batchSize = pick('batchSize', () =>
    paper ? PAPER_PRESET.batchSize : autoBatchSize(trainRows),
  );
  const steps = Math.max(1, Math.floor(trainRows / batchSize));
  const epochs = pick('epochs', () =>
    paper ? PAPER_PRESET.epochs : clamp(Math.ceil(p.minSteps / steps), 1, p.maxEpochs),
  );
  const partsPerEpoch = pick('partsPerEpoch', () =>
    paper ? PAPER_PRESET.partsPerEpoch : clamp(Math.round(steps / p.stepsPerPart), 1, p.maxParts),
  );
  // The trainer caps the parts at the batches of an epoch: the patience counts real passes.
  const passesPerEpoch = Math.min(partsPerEpoch, steps);
  const earlyStopParts = pick('earlyStopParts', () =>
    paper ? PAPER_PRESET.earlyStopParts : Math.max(p.minPatience, passesPerEpoch),
  );
  const lr = pick('lr', () => (paper ? PAPER_PRESET.lr : p.lr));
  const optimizer = pick('optimizer', () => (paper ? PAPER_PRESET.optimizer : p.optimizer));
  const preset0 = paper ? PAPER_PRESET : p;
  // AMSGrad is a variant of Adam: a default never turns it on for another optimizer.
  const amsgrad = pick('amsgrad', () => preset0.amsgrad && optimizer === 'adam');
  const dropout = pick('dropout', () => preset0.dropout);
  const lrSchedule = pick('lrSchedule', () => preset0.lrSchedule);
  const warmupSteps = pick('warmupSteps', () => preset0.warmupSteps);

  const fmt = (key: ScheduleKey, text: string) =>
    source[key] === 'flag' ? `${text} (flag)` : text;
  const summary =
    `${paper ? 'preset paper' : 'defaults'} for ${trainRows.toLocaleString('en-US')} train rows: ` +
    [
      fmt('batchSize', `batch ${batchSize}`),
      fmt('epochs', `up to ${epochs} epoch${epochs === 1 ? '' : 's'}`),
      fmt('partsPerEpoch', `${passesPerEpoch} part${passesPerEpoch === 1 ? '' : 's'}/epoch`),
      fmt('earlyStopParts', `early stop patience ${earlyStopParts} parts`),
      fmt('optimizer', optimizer),
      fmt('lr', `lr ${lr}`),
      // The levers are named only when on (or set by a flag), to keep the line short.
      ...(amsgrad || source.amsgrad === 'flag' ? [fmt('amsgrad', `amsgrad ${amsgrad}`)] : []),
      ...(dropout > 0 || source.dropout === 'flag' ? [fmt('dropout', `dropout ${dropout}`)] : []),
      ...(lrSchedule !== 'constant' || source.lrSchedule === 'flag'
        ? [fmt('lrSchedule', `lr schedule ${lrSchedule}`)]
        : []),
      ...(warmupSteps > 0 || source.warmupSteps === 'flag'
        ? [fmt('warmupSteps', `warmup ${warmupSteps} steps`)]
        : []),
    ].join(', ') +
    ` (${steps} steps/epoch)`;
  return {
    epochs,
    batchSize,
    partsPerEpoch,
    earlyStopParts,
    lr,
    optimizer,
    amsgrad,
    dropout,
    lrSchedule,
    warmupSteps,
    preset,
    trainRows,
    source,
    summary,
  };
}

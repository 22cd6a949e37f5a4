// The training engine: what `embpress train` and TrainerService run.
export {
  CheckpointRun,
  checkpointRoot,
  type CheckpointState,
  type LoadedCheckpoint,
} from './checkpoint';
export { isRawSource, openDataset, type OpenDatasetOptions } from './dataset-input';
export { setupEmbedding, type EmbeddingSetup, type EmbeddingSetupOptions } from './embedding-setup';
export { evaluateSplit, type Evaluation, type RowLookup } from './evaluate';
export {
  describeLrSchedule,
  LR_SCHEDULES,
  lrFactor,
  type LrSchedule,
  type LrScheduleSpec,
} from './lr-schedule';
export {
  BUDGET_ACCOUNTINGS,
  defaultVersion,
  OPTIMIZER_KINDS,
  partBatches,
  type BudgetAccounting,
  type PartProgress,
  type StageReport,
  type TrainMetrics,
  type TrainOptimizer,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
} from './options';
export { train } from './train';
export { trainSummary, type TrainSummary } from './summary';
export { countFrequencies } from './frequencies';
export { needsFrequencies } from './run-setup';
export { TrainError, type TrainProblem } from './train-errors';
export {
  AUTO_POLICY,
  autoBatchSize,
  PAPER_PRESET,
  resolveTrainingDefaults,
  TRAIN_PRESETS,
  type ResolvedSchedule,
  type ScheduleChoice,
  type ScheduleSource,
  type TrainPreset,
} from './training-defaults';
export { makeTrainStep, type StepInput, type StepOutput, type TrainStep } from './train-step';
export {
  ARCHITECTURES,
  trainDemoRanker,
  type ArchName,
  type DemoRankerOptions,
} from './demo-ranker';

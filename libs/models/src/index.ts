// @embpress/models: the dense CTR models (DLRM, WDL, DCN, DeepFM) in TensorFlow.js, shared by the
// trainer (step) and the ranker (predict). Embedding tables are not here: the model takes the
// gathered rows of a batch and returns their gradient (see README.md).
export {
  BACKEND_CHOICES,
  TENSORFLOW_PACKAGES,
  backendAvailability,
  currentBackend,
  initBackend,
  resolveTensorflowPackage,
  type BackendAvailability,
  type BackendChoice,
  type BackendInfo,
  type BackendName,
} from './backend';
export {
  MODEL_KINDS,
  modelConfigSchema,
  parseModelConfig,
  type DcnConfig,
  type DeepFmConfig,
  type DlrmConfig,
  type FmModelConfig,
  type ModelConfig,
  type ModelConfigInput,
  type ModelKind,
  type WdlConfig,
} from './config';
export {
  BackendUnavailableError,
  InputShapeError,
  MetricInputError,
  ModelConfigError,
  ModelsError,
  WeightsError,
} from './errors';
export {
  DotInteraction,
  inverseTriangleIndices,
  lowerTriangleIndices,
  triangleSize,
} from './interaction';
export {
  CtrModel,
  DEFAULT_OPTIMIZER,
  DEFAULT_SEED,
  createModel,
  type CreateModelOptions,
  type GradientResult,
  type StepResult,
  type WeightTensor,
} from './model';
export { DataParallelError } from './data-parallel';
export {
  FactorizationMachine,
  type FmConfig,
  type FmGradients,
  type FmOptimizerKind,
  type FmOptions,
  type FmStepResult,
} from './fm';
export { DcnNet, DeepFmNet, DlrmNet, WdlNet, type Network } from './networks';
export { bceWithLogits, logloss, rocAuc, sigmoid } from './metrics';
export { type DenseOptimizerConfig, type DenseOptimizerKind } from './optimizer';
export {
  WEIGHTS_FORMAT_VERSION,
  WEIGHTS_MAGIC,
  decodeWeightFile,
  encodeWeightFile,
  loadModel,
  saveModel,
  type WeightFile,
} from './weights-file';
export { registerWasmUnsortedSegmentSum, transposeLast2 } from './wasm-fixes';

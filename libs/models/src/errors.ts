// Typed errors of the models library. Callers map them: bad config or input → INVALID_ARGUMENT,
// corrupt weights → DATA_LOSS, a backend that cannot be loaded → FAILED_PRECONDITION.

export abstract class ModelsError extends Error {}

/** A model configuration that cannot be built (names the offending field). */
export class ModelConfigError extends ModelsError {
  override readonly name = 'ModelConfigError';
}

/** Arrays handed to step/predict whose sizes do not match the model (names the argument). */
export class InputShapeError extends ModelsError {
  override readonly name = 'InputShapeError';
}

/** Weights that do not fit the model, or weight bytes that are corrupt or truncated. */
export class WeightsError extends ModelsError {
  override readonly name = 'WeightsError';
  constructor(
    readonly problem:
      | 'bad-magic'
      | 'unsupported-version'
      | 'truncated'
      | 'checksum'
      | 'malformed'
      | 'mismatch',
    message: string,
  ) {
    super(message);
  }
}

/** A requested TensorFlow.js backend that is not installed or failed to start. */
export class BackendUnavailableError extends ModelsError {
  override readonly name = 'BackendUnavailableError';
  constructor(
    readonly backend: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Metric inputs of different lengths, or labels that are not 0/1. */
export class MetricInputError extends ModelsError {
  override readonly name = 'MetricInputError';
}

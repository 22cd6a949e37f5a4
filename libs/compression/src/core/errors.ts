// Typed errors of the compression library. Callers (store, trainer) map them to their own
// errors: artifact problems are data loss, id problems are bad input, spec problems bad config.

export abstract class CompressionError extends Error {}

/** An id outside [0, rows) (or not an integer) was looked up. */
export class IdOutOfRangeError extends CompressionError {
  override readonly name = 'IdOutOfRangeError';
  constructor(
    readonly index: number,
    readonly id: number,
    readonly rows: number,
  ) {
    super(`ids[${index}] = ${id} is out of range [0, ${rows})`);
  }
}

/** A method spec string or its parameters are invalid. */
export class SpecError extends CompressionError {
  override readonly name = 'SpecError';
}

/** A budget no parameter of the method can meet (e.g. below MDE's ~1/D floor). */
export class BudgetError extends CompressionError {
  override readonly name = 'BudgetError';
}

export type ArtifactProblem =
  | 'bad-magic'
  | 'unsupported-version'
  | 'truncated'
  | 'checksum'
  | 'malformed'
  | 'unknown-method';

/** An artifact that must not be served: corrupt, truncated, or from an unknown format/method. */
export class ArtifactError extends CompressionError {
  override readonly name = 'ArtifactError';
  constructor(
    readonly problem: ArtifactProblem,
    message: string,
  ) {
    super(`artifact ${problem}: ${message}`);
  }
}

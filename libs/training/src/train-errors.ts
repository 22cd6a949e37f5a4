// Typed errors of the training engine. `problem` lets callers (CLI, gRPC handlers) map a failure
// to an exit code or a status without parsing messages.
export type TrainProblem = 'bad-argument' | 'no-data' | 'unsupported';

export class TrainError extends Error {
  override readonly name = 'TrainError';

  constructor(
    readonly problem: TrainProblem,
    message: string,
  ) {
    super(message);
  }
}

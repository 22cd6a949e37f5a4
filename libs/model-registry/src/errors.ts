/** A model version that must not be served: missing, incomplete, corrupt, or outside the root. */
export class ModelVersionError extends Error {
  override readonly name = 'ModelVersionError';
  constructor(
    readonly problem: 'not-found' | 'corrupt' | 'invalid-name' | 'exists',
    message: string,
  ) {
    super(message);
  }
}

/** A problem with the machine rather than the benchmark (redis-server or a dataset missing): exit code 2. */
export class BenchSetupError extends Error {
  override readonly name = 'BenchSetupError';
}

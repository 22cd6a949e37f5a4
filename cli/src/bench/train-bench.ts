// Placeholder until its benchmark lands (issues #4/#6); replaced wholesale by that work.
export function benchTrainCommand(args: string[]): Promise<void> {
  return Promise.reject(new Error(`not built yet (args: ${args.join(' ')})`));
}

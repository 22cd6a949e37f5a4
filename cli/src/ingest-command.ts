// Placeholder until this command lands (issue #6); replaced wholesale by that work.
export function ingestCommand(args: string[]): Promise<void> {
  return Promise.reject(new Error(`not built yet (args: ${args.join(' ')})`));
}

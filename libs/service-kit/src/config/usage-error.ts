// node:util parseArgs rejects an unknown or malformed option with an error whose code starts with
// ERR_PARSE_ARGS: a usage mistake, to be answered with the message and the usage, not a stack.
// Matched by code, not class: the TypeError comes from Node's own realm (not jest's).
export function isOptionError(err: unknown): err is Error {
  return String((err as { code?: unknown } | null)?.code ?? '').startsWith('ERR_PARSE_ARGS');
}

/** A mistake in a command's arguments: its message and the usage are printed, exit code 2. */
export class UsageError extends Error {}

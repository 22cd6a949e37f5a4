// How every `embpress` command ends: a usage mistake prints its message and the command's usage
// (exit 2); a problem that is the user's to fix (bad data, spec, budget, name, ...) one clear
// line, no stack (exit 1); anything else propagates with its stack, because it is a bug.
import { isOptionError, UsageError } from '@embpress/service-kit/config';

type ErrorClass = abstract new (...args: never[]) => Error;

/** A test for `runCommand`: is `err` one of these classes (the user's to fix)? */
export const anyOf =
  (...classes: ErrorClass[]) =>
  (err: unknown): boolean =>
    classes.some((kind) => err instanceof kind);

export async function runCommand(
  name: string,
  usage: string,
  /** Whether an error is the user's to fix (see `anyOf`). */
  isUserError: (err: unknown) => boolean,
  run: () => Promise<void> | void,
): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof UsageError || isOptionError(err)) {
      process.stderr.write(`embpress ${name}: ${err.message}\n\n${usage}\n`);
      process.exitCode = 2;
      return;
    }
    if (isUserError(err)) {
      process.stderr.write(`embpress ${name}: ${(err as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

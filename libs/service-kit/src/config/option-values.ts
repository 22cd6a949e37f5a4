// The values of command-line options, checked one way for every command of the `embpress` CLI
// and the bench app: a bad value is a UsageError whose message names the option, what it must
// be and what was given (`--rate must be a number > 0, got "fast"`), so every command prints
// the same kind of line and exits 2.
import { UsageError } from './usage-error';

/** A finite number that passes `check`; `what` completes "--NAME must be ...". */
export function numberOption(
  name: string,
  raw: string,
  check: (v: number) => boolean,
  what: string,
): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !check(v))
    throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(raw)}`);
  return v;
}

/** An integer ≥ `min` (and ≤ `max` when one is given). */
export function integerOption(name: string, raw: string, min: number, max?: number): number {
  return max === undefined
    ? numberOption(name, raw, (v) => Number.isInteger(v) && v >= min, `an integer >= ${min}`)
    : numberOption(
        name,
        raw,
        (v) => Number.isInteger(v) && v >= min && v <= max,
        `an integer in [${min}, ${max}]`,
      );
}

/** An option that may be absent: undefined then, else `parse(raw)`. */
export function optionalOption<T>(
  raw: string | undefined,
  parse: (raw: string) => T,
): T | undefined {
  return raw === undefined ? undefined : parse(raw);
}

/** A number ≥ `min`. */
export function atLeastOption(name: string, raw: string, min: number): number {
  return numberOption(name, raw, (v) => v >= min, `a number >= ${min}`);
}

/** A number > 0. */
export function positiveOption(name: string, raw: string): number {
  return numberOption(name, raw, (v) => v > 0, 'a number > 0');
}

/** One of `allowed`, spelled exactly. */
export function oneOfOption<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw))
    throw new UsageError(
      `--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  return raw as T;
}

/** An option that has no default: absent or empty is a usage mistake. */
export function requiredOption(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** The non-empty items of a comma list, trimmed. */
export function listOption(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A comma list of layer sizes, e.g. `64,32`. */
export function sizesOption(name: string, raw: string): number[] {
  const parts = raw.split(',');
  if (parts.some((p) => !/^\d+$/.test(p.trim()) || Number(p) < 1))
    throw new UsageError(`--${name} must be layer sizes like 64,32, got ${JSON.stringify(raw)}`);
  return parts.map(Number);
}

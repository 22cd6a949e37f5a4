// Configuration is parsed once, at start, from environment variables (optionally layered over a
// JSON file of the same keys). Every problem is collected so the operator fixes them in one go.
// This module must not import @grpc/grpc-js: the CLI parses config before telemetry starts.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export type Env = Readonly<Record<string, string | undefined>>;

/** Thrown with every configuration problem found; the CLI prints them and exits 1. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Parses the variables `${prefix}_*` of `env` with a zod schema whose keys are the variable names
 * without the prefix, so every problem message names the full variable to fix
 * (e.g. `EMBPRESS_STORE_PORT: expected an integer port 0-65535, got "abc"`).
 */
export function parseEnv<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, env: Env, prefix = ''): T {
  const lead = prefix === '' ? '' : `${prefix}_`;
  const scoped: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(lead)) scoped[key.slice(lead.length)] = value;
  }
  const result = schema.safeParse(scoped);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => `${lead}${issue.path.join('.') || '*'}: ${issue.message}`),
  );
}

/** Runs several parsers and merges their problems into one ConfigError. */
export function collectConfig<T extends readonly unknown[]>(
  ...parsers: { [K in keyof T]: () => T[K] }
): T {
  const problems: string[] = [];
  const values = parsers.map((parse) => {
    try {
      return parse();
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
      return undefined;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return values as unknown as T;
}

/**
 * Loads a JSON config file (an object of the same variable names as the environment) and layers
 * the real environment over it: explicit environment variables win.
 */
export function envWithConfigFile(env: Env, file: string | undefined): Env {
  if (file === undefined) return env;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`--config ${file}: ${(err as Error).message}`]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`--config ${file}: expected a JSON object of VARIABLE: value`]);
  }
  const fromFile: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      fromFile[key] = String(value);
    } else {
      problems.push(`--config ${file}: ${key} must be a string, number or boolean`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...fromFile, ...definedOnly(env) };
}

function definedOnly(env: Env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

// ---- field schemas shared by every service --------------------------------------------------

const quoted = (v: unknown) => JSON.stringify(v);

function parsePort(raw: string, ctx: z.RefinementCtx): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `expected an integer port 0-65535, got ${quoted(raw)}`,
    });
    return z.NEVER;
  }
  return value;
}

/** A TCP port 0-65535 (0 = any free port), from a string variable. */
export const port = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => (raw === undefined || raw === '' ? fallback : parsePort(raw, ctx)));

/** An optional TCP port (unset or empty = undefined). */
export const optionalPort = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) =>
      raw === undefined || raw.trim() === '' ? undefined : parsePort(raw, ctx),
    );

/** A positive integer (milliseconds, counts...) with a default. */
export const positiveInt = (fallback: number, what = 'a positive integer') =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || value <= 0 || !Number.isSafeInteger(value)) {
        ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${quoted(raw)}` });
        return z.NEVER;
      }
      return value;
    });

/** A boolean flag: true/1 or false/0 (any case, trimmed); unset or empty = `fallback`. */
export const flag = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = (raw ?? '').trim().toLowerCase();
      if (value === '') return fallback;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got ${quoted(raw)}` });
      return z.NEVER;
    });

/** A count that may be 0 (e.g. 0 = off), at most `max`, with a default (unset or blank). */
export const nonNegativeInt = (
  fallback: number,
  what = 'a non-negative integer',
  max = Number.MAX_SAFE_INTEGER,
) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = Number(raw.trim());
      if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value > max) {
        ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${quoted(raw)}` });
        return z.NEVER;
      }
      return value;
    });

/** A host name or IP literal to bind or dial. */
export const host = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? fallback : raw.trim();
      if (!/^[A-Za-z0-9.\-:[\]]+$/.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a host name or IP address, got ${quoted(raw)}`,
        });
        return z.NEVER;
      }
      return value;
    });

/** `host:port` of a service to call (also `dns:///name:port` for a headless service). */
export const address = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? fallback : raw.trim();
      const target = value.replace(/^dns:\/\/\//, '');
      const match = /^(.+):(\d+)$/.exec(target);
      if (match === null || Number(match[2]) > 65535 || Number(match[2]) === 0) {
        ctx.addIssue({ code: 'custom', message: `expected host:port, got ${quoted(raw)}` });
        return z.NEVER;
      }
      return value;
    });

/** An optional file path (empty = unset). */
export const optionalPath = () =>
  z
    .string()
    .optional()
    .transform((raw) => (raw === undefined || raw.trim() === '' ? undefined : raw.trim()));

export const logLevel = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? 'info' : raw.trim().toLowerCase();
      const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
      if (!(levels as readonly string[]).includes(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `expected one of ${levels.join(', ')}, got ${quoted(raw)}`,
        });
        return z.NEVER;
      }
      return value as (typeof levels)[number];
    });

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `EMBPRESS_LOG_FORMAT`: auto (pretty on a terminal, JSON otherwise), json or pretty. */
export const logFormat = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? 'auto' : raw.trim().toLowerCase();
      if (!(LOG_FORMATS as readonly string[]).includes(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `expected one of ${LOG_FORMATS.join(', ')}, got ${quoted(raw)}`,
        });
        return z.NEVER;
      }
      return value as LogFormat;
    });

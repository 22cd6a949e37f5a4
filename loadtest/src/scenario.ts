// Load-test scenarios as data (loadtest/scenarios/*.json): which service to drive, at what rate
// for how long, and the shape of its requests. The Node runner (`embpress loadtest`) and the k6
// scripts (loadtest/k6) read the same files.
import { InvalidArgumentError } from '@embpress/service-kit';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';

/** Where the scenario files of the repository live. */
export const SCENARIO_DIR = join(__dirname, '..', 'scenarios');

const positive = z.number().finite().positive();
const fraction = z.number().min(0).lt(1);
const uint32 = z.number().int().min(0).max(0xffffffff);

const target = z
  .string()
  .regex(/^(dns:\/\/\/)?[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'expected host:port or dns:///name:port');

const common = {
  name: z.string().min(1),
  description: z.string().default(''),
  /** Address of the service under load (`--target` overrides it). */
  target,
  ratePerSec: positive,
  durationSec: positive,
  warmupSec: z.number().finite().min(0).default(0),
  maxInFlight: z.number().int().positive().default(1000),
  /** Deadline of each call. */
  timeoutMs: z.number().int().positive().default(1000),
  /** Seed of request generation: request i is a function of (seed, i). */
  seed: uint32.default(1),
  /** Pass/fail levels (k6 `thresholds`; reported by the Node runner). */
  thresholds: z.object({ p99Ms: positive }),
};

const storeRequest = z.object({
  /** Model whose active version is read (`--model` overrides it). */
  model: z.string().min(1),
  version: z.string().default(''),
  /** Tables to read, each in every request; empty = every table of the model (DescribeTables). */
  tables: z.array(z.string().min(1)).default([]),
  /** Ids per table per request, each drawn Zipf(rows, zipfExponent) over the table's rows. */
  idsPerTable: z.number().int().positive(),
  zipfExponent: positive,
  /** Row encoding asked for: compressed codes (decoded by the client), fp16 or fp32. */
  encoding: z.enum(['codes', 'float16', 'float32']),
});

const categoricalField = z.object({
  name: z.string().min(1),
  kind: z.literal('categorical'),
  /** Position among the synthetic profile's categorical fields (keys its raw value texts). */
  synthIndex: z.number().int().min(0),
  cardinality: z.number().int().positive(),
  missingRate: fraction,
  style: z.enum(['hex', 'int']),
  /** Shared by all candidates (user/context side) rather than drawn per candidate. */
  shared: z.boolean(),
});

const numericField = z.object({
  name: z.string().min(1),
  kind: z.literal('numeric'),
  missingRate: fraction,
  /** Raw counts are floor(exp(ln(median + 1) + sigma·z)) − 1, z standard normal. */
  median: z.number().min(0),
  sigma: z.number().min(0),
  negativeRate: fraction,
  shared: z.boolean(),
});

export type CategoricalField = z.infer<typeof categoricalField>;
export type NumericField = z.infer<typeof numericField>;
export type FeatureField = CategoricalField | NumericField;

const rankerRequest = z.object({
  model: z.string().min(1),
  version: z.string().default(''),
  candidates: z.number().int().positive(),
  /**
   * How a request carries its candidates (proto/embpress/ranker/v1/ranker.proto): `columns`,
   * candidate_ids plus one FeatureColumn per per-candidate field (what a production client sends:
   * far less for the ranker to decode and map), or `rows`, one Candidate with a Feature list each.
   * The same values either way; the context is a Feature list in both.
   */
  requestForm: z.enum(['columns', 'rows']).default('columns'),
  /**
   * Raw values are those `embpress data synth --seed synthSeed` writes: categorical rank k of a
   * field is the same text, so requests hit a vocabulary trained on that data, with Zipf
   * frequencies (exponent below) over each field's cardinality.
   */
  synthSeed: uint32,
  zipfExponent: positive,
  fields: z.array(z.discriminatedUnion('kind', [categoricalField, numericField])).min(1),
});

const retrieverRequest = z.object({
  /** Corpus (a model in the store; `--model` overrides it) and its passage table. */
  corpus: z.string().min(1),
  table: z.string().min(1),
  k: z.number().int().positive(),
  rerankFactor: z.number().int().min(0).default(0),
  query: z.discriminatedUnion('kind', [
    /** Texts drawn Zipf over the list: popular queries repeat, as in a real query log. */
    z.object({
      kind: z.literal('text'),
      texts: z.array(z.string().min(1)).min(1),
      zipfExponent: positive,
    }),
    /** Random unit vectors (FLOAT32_LE) of the table's dim. */
    z.object({ kind: z.literal('vector'), dim: z.number().int().positive() }),
  ]),
});

const scenarioSchema = z.discriminatedUnion('service', [
  z.object({ ...common, service: z.literal('store'), request: storeRequest }),
  z.object({ ...common, service: z.literal('ranker'), request: rankerRequest }),
  z.object({ ...common, service: z.literal('retriever'), request: retrieverRequest }),
]);

export type Scenario = z.infer<typeof scenarioSchema>;
export type StoreScenario = Extract<Scenario, { service: 'store' }>;
export type RankerScenario = Extract<Scenario, { service: 'ranker' }>;
export type RetrieverScenario = Extract<Scenario, { service: 'retriever' }>;

/** Validates a parsed scenario object; every problem is listed with its path. */
export function parseScenario(value: unknown, source = 'scenario'): Scenario {
  const result = scenarioSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '*'}: ${i.message}`);
  throw new InvalidArgumentError(source, problems.join('; '));
}

/** The names of the scenarios shipped in loadtest/scenarios. */
export function scenarioNames(): string[] {
  return ['store-lookup', 'ranker-rank', 'retriever-retrieve'].filter((name) =>
    existsSync(join(SCENARIO_DIR, `${name}.json`)),
  );
}

/**
 * Loads a scenario by name (`store-lookup` → loadtest/scenarios/store-lookup.json) or by path to a
 * JSON file of the same shape.
 */
export function loadScenario(nameOrPath: string): Scenario {
  const path = nameOrPath.endsWith('.json') ? nameOrPath : join(SCENARIO_DIR, `${nameOrPath}.json`);
  if (!existsSync(path)) {
    throw new InvalidArgumentError(
      'scenario',
      `no scenario "${nameOrPath}" (shipped: ${scenarioNames().join(', ')}; or a path to a .json file)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError(basename(path), `not valid JSON: ${(err as Error).message}`);
  }
  return parseScenario(parsed, basename(path));
}

// The matrix of `embpress experiment`: its settings, the --quick preset, the datasets it reads and
// the runs it plans (dataset × method × budget × seed; `full`, the fp32 reference, once per
// dataset and seed without a budget).
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lazyRequire, UsageError } from '@embpress/service-kit/config';
import { runKey } from './records';
import type { LoadSettings } from './serve-run';

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  lr: number;
  partsPerEpoch: number;
  earlyStopParts: number;
  dim: number;
  bottom: number[];
  top: number[];
}

export interface ExperimentSettings {
  methods: string[];
  budgets: number[];
  /** --data entries: `synthetic`, `criteo:PATH`, `avazu:PATH`, `csv:PATH`. */
  data: string[];
  seeds: number[];
  /** Rows of the synthetic dataset (Criteo profile). */
  syntheticRows: number;
  train: TrainSettings;
  /** Open-loop Rank load per run; null: runs are not served. */
  load: LoadSettings | null;
}

export const DEFAULT_BUDGETS = [0.5, 0.25, 0.1, 0.01, 0.001];

/** The full matrix's defaults (methods: every trainable method of the registry). */
export const FULL_DEFAULTS: Omit<ExperimentSettings, 'methods'> = {
  budgets: DEFAULT_BUDGETS,
  data: ['synthetic'],
  seeds: [1],
  syntheticRows: 200_000,
  train: {
    epochs: 1,
    batchSize: 1024,
    lr: 0.001,
    partsPerEpoch: 4,
    earlyStopParts: 2,
    dim: 16,
    bottom: [64, 32],
    top: [64, 32],
  },
  load: { ratePerSec: 50, durationSec: 5, warmupSec: 1, candidates: 50 },
};

/**
 * --quick: ≤ 5 minutes on 2 cores: 40k synthetic rows, the reference and four families (hash
 * trick, quotient-remainder, post-training int8, DeepLight's staged pruning), two budgets, a tiny
 * DLRM, 3 s of load per run.
 */
export const QUICK: ExperimentSettings = {
  methods: ['full', 'hash', 'qr', 'rowwise-int8', 'deeplight'],
  budgets: [0.25, 0.01],
  data: ['synthetic'],
  seeds: [1],
  syntheticRows: 40_000,
  train: {
    epochs: 2,
    batchSize: 512,
    lr: 0.003,
    partsPerEpoch: 2,
    earlyStopParts: 2,
    dim: 8,
    bottom: [32],
    top: [32],
  },
  load: { ratePerSec: 20, durationSec: 3, warmupSec: 1, candidates: 20 },
};

export interface PlannedRun {
  key: string;
  data: string;
  dataset: string;
  method: string;
  budget: number | null;
  seed: number;
}

/** The short name of a --data entry for plots: `synthetic`, `criteo:train.txt`. */
export function datasetName(data: string): string {
  if (data === 'synthetic') return data;
  const at = data.indexOf(':');
  const path = data.slice(at + 1);
  return `${data.slice(0, at)}:${
    path
      .split('/')
      .filter((p) => p !== '')
      .pop() ?? path
  }`;
}

export function checkData(data: string): string {
  if (data === 'synthetic') return data;
  const m = /^(criteo|avazu|csv):(.+)$/.exec(data);
  if (m === null)
    throw new UsageError(
      `--data must be synthetic, criteo:PATH, avazu:PATH or csv:PATH, got ${JSON.stringify(data)}`,
    );
  const path = resolve(m[2] as string);
  if (!existsSync(path)) throw new UsageError(`--data ${data}: no such file`);
  return `${m[1]}:${path}`;
}

/**
 * One run per budget for a budget-driven method; a method whose size its spec fixes (`full`, the
 * codecs, dpq, autodim...) runs once without a budget: every budget would train the same table.
 */
export function planRuns(s: ExperimentSettings): PlannedRun[] {
  const { registry } = lazyRequire<typeof import('@embpress/compression')>('@embpress/compression');
  const budgetDriven = (spec: string) =>
    spec !== 'full' && registry.resolve(spec).method.paramsForBudget !== undefined;
  const runs: PlannedRun[] = [];
  for (const data of s.data)
    for (const seed of s.seeds)
      for (const method of s.methods)
        for (const budget of budgetDriven(method) ? s.budgets : [null])
          runs.push({
            key: runKey(data, method, budget, seed),
            data,
            dataset: datasetName(data),
            method,
            budget,
            seed,
          });
  return runs;
}

/** The synthetic Criteo-profile file of `rows` rows (seed 1), generated once under DIR/data. */
export async function syntheticSource(dir: string, rows: number): Promise<string> {
  const file = join(dir, 'data', `synthetic-criteo-${rows}.txt`);
  if (!existsSync(file)) {
    mkdirSync(join(dir, 'data'), { recursive: true });
    const { generateSynthetic } = lazyRequire<typeof import('@embpress/data')>('@embpress/data');
    // generateSynthetic writes a temporary file and renames it: a kill leaves no half file.
    await generateSynthetic({ rows, seed: 1, out: file, profile: 'criteo' });
  }
  return `criteo:${file}`;
}

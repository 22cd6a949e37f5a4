// `embpress bench train --what methods`: one DLRM training per compression method on the same
// data (the trainer's engine, the same prepared split), at a memory budget where the method is
// budget-driven. A budget-driven method whose table exceeds budget × the fp32 table, or a
// method that fails to train, makes the benchmark fail after it has printed its report.
import { join } from 'node:path';
import { lazyRequire } from '@embpress/service-kit/config';
import { parseDataSource, synthSplit, TabularReader } from '@embpress/data';
import type { BackendChoice } from '@embpress/models';
import { readRawRows } from './ranker-rows';
import { serveAndCompare, type ServedModel, type ServingRow } from './serve-methods';

type Trainer = typeof import('@embpress/training');
type TrainOptimizer = import('@embpress/training').TrainOptimizer;

/**
 * Every method the paper trains (the registry's trainable methods, in listing order), plus the
 * post-training row-wise int8 codec as the simplest peer a user would try first.
 */
export function defaultMethods(): string[] {
  const { registry } = lazyRequire<typeof import('@embpress/compression')>('@embpress/compression');
  return [
    ...registry
      .list()
      .filter((m) => m.kind === 'trainable')
      .map((m) => m.id),
    'rowwise-int8',
  ];
}

export interface MethodsOptions {
  data: string;
  test?: string;
  methods: string[];
  budget: number;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: TrainOptimizer;
  sparseL2: number;
  partsPerEpoch: number;
  earlyStopParts: number;
  dim: number;
  modelOverrides?: Record<string, unknown>;
  seed: number;
  backend: BackendChoice;
  workDir: string;
  /**
   * Serve every trained version through a real store + ranker and rank up to this many test
   * rows per method against the trainer's predictions (serve-methods.ts). Undefined: no serving.
   */
  serveRows?: number;
  trainer: Trainer;
  log: (line: string) => void;
}

export interface MethodRow {
  method: string;
  spec: string;
  /** The budget that set the parameters; null when the method is not budget-driven. */
  budget: number | null;
  memoryBytes: number;
  fullBytes: number;
  /** memoryBytes / fullBytes. */
  ratio: number;
  valAuc: number;
  testAuc: number;
  testLogloss: number;
  trainSeconds: number;
  samplesPerSec: number;
  partsRun: number;
  bestPart: number;
  /** budget-driven: memoryBytes ≤ budget × fullBytes. */
  withinBudget: boolean | null;
  /** The paper's 32-bit words of the exported table, and their ratio to the fp32 table's. */
  paperWords: number;
  paperRatio: number;
  /** Staged methods: each stage's parts and kept part (one entry for a single-stage run). */
  stages: import('@embpress/training').StageReport[];
}

export interface MethodFailure {
  method: string;
  error: string;
}

export interface MethodsReport {
  what: 'methods';
  data: string;
  test: string | null;
  backend: string;
  budget: number;
  results: MethodRow[];
  failures: MethodFailure[];
  /** Budget-driven methods over their budget. */
  overBudget: string[];
  /** --serve: each method's version served through a store + ranker (null without --serve). */
  serving: ServingRow[] | null;
}

/** The test rows the trainer scored: the separate test file, or the Criteo file's test split. */
async function testRowsOf(data: string, test: string | undefined) {
  if (test !== undefined) return readRawRows(test);
  if (!data.startsWith('criteo:'))
    throw new Error(`--serve needs --test for ${data} (only a Criteo file's split is known here)`);
  const reader = await TabularReader.open(parseDataSource(data));
  const range = synthSplit('criteo', await reader.countRows()).test;
  if (range === undefined) throw new Error(`${data}: no test split`);
  return readRawRows(data, range);
}

export async function benchMethods(o: MethodsOptions): Promise<MethodsReport> {
  const results: MethodRow[] = [];
  const failures: MethodFailure[] = [];
  const served: ServedModel[] = [];
  let backend = '';
  for (const method of o.methods) {
    o.log(`${method}: training`);
    try {
      const r = await o.trainer.train({
        data: o.data,
        ...(o.test === undefined ? {} : { test: o.test }),
        model: 'dlrm',
        modelOverrides: { dim: o.dim, ...o.modelOverrides },
        method,
        // `full` is the reference: no budget. Others get it; a method that is not budget-driven
        // ignores it (and reports budget null).
        ...(method === 'full' ? {} : { budget: o.budget }),
        epochs: o.epochs,
        batchSize: o.batchSize,
        lr: o.lr,
        optimizer: o.optimizer,
        sparseL2: o.sparseL2,
        partsPerEpoch: o.partsPerEpoch,
        earlyStopParts: o.earlyStopParts,
        seed: o.seed,
        backend: o.backend,
        registryRoot: join(o.workDir, 'models'),
        modelName: `methods-${method.replace(/[^a-z0-9-]/gi, '_')}`,
        datasetCacheDir: join(o.workDir, 'datasets'),
        onProgress: (e) => {
          if (e.kind === 'log') o.log(`  ${e.message}`);
        },
      });
      backend = r.backend;
      const withinBudget = r.budget === null ? null : r.memoryBytes <= r.budget * r.fullBytes;
      const row: MethodRow = {
        method: r.method,
        spec: r.spec,
        budget: r.budget,
        memoryBytes: r.memoryBytes,
        fullBytes: r.fullBytes,
        ratio: r.memoryBytes / r.fullBytes,
        valAuc: r.metrics.valAuc,
        testAuc: r.metrics.testAuc,
        testLogloss: r.metrics.testLogloss,
        trainSeconds: r.trainSeconds,
        samplesPerSec: r.samplesPerSec,
        partsRun: r.partsRun,
        bestPart: r.bestPart,
        withinBudget,
        paperWords: r.table.describe().paperWords,
        paperRatio: r.table.describe().paperWords / (r.fullBytes / 4),
        stages: r.stages,
      };
      o.log(
        `${r.spec}: ${r.memoryBytes} of ${r.fullBytes} bytes (${(row.ratio * 100).toFixed(1)}%)${withinBudget === false ? ' OVER BUDGET' : ''}, val AUC ${row.valAuc.toFixed(4)}, test AUC ${row.testAuc.toFixed(4)}, logloss ${row.testLogloss.toFixed(4)}, ${Math.round(row.samplesPerSec)} samples/s`,
      );
      results.push(row);
      served.push({
        method: r.spec,
        model: r.manifest.model,
        version: r.manifest.version,
        predictions: r.test.predictions,
      });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      o.log(`${method}: FAILED: ${error}`);
      failures.push({ method, error });
    }
  }
  let serving: ServingRow[] | null = null;
  if (o.serveRows !== undefined && served.length > 0) {
    o.log(`serving ${served.length} versions through a store + ranker`);
    serving = await serveAndCompare({
      registryRoot: join(o.workDir, 'models'),
      models: served,
      test: await testRowsOf(o.data, o.test),
      maxRows: o.serveRows,
      workDir: o.workDir,
      log: o.log,
    });
  }
  return {
    what: 'methods',
    data: o.data,
    test: o.test ?? null,
    backend,
    budget: o.budget,
    results,
    failures,
    overBudget: results.filter((r) => r.withinBudget === false).map((r) => r.spec),
    serving,
  };
}

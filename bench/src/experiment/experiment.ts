// `embpress experiment`: the matrix of plan.ts, one run after another. Each run trains in its own
// process (run-child.ts), is served through a store + ranker under the same open-loop load
// (serve-run.ts), and is appended to DIR/results.jsonl as soon as it is finished. A rerun reads
// that file first and skips the runs it holds: a matrix killed at any point (kill -9 included)
// resumes where it stopped, without a finished run twice.
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { defaultTestRange, parseDataSource } from '@embpress/data';
import { type ExperimentSettings, planRuns, syntheticSource, type PlannedRun } from './plan';
import { formatDuration, type ProgressOutput } from '@embpress/service-kit/terminal';
import { ExperimentProgress } from './progress';
import {
  appendRecord,
  ENVIRONMENT_FILE,
  readRecords,
  RESULTS_FILE,
  writeAtomic,
  type Environment,
  type RunRecord,
} from './records';
import type { RunChildConfig, RunChildMessage, RunChildResult } from './run-child';
import { serveRun } from './serve-run';
import { TSX_ARGS } from '../node-args';

const RUN_CHILD = join(__dirname, 'run-child.ts');
const MODEL = 'experiment';
const VERSION = 'v1';

export interface ExperimentOptions {
  dir: string;
  settings: ExperimentSettings;
  /** The command line, for the environment record. */
  command: string;
  progress: ProgressOutput;
}

export interface ExperimentOutcome {
  planned: number;
  skipped: number;
  ran: number;
  records: RunRecord[];
}

function environment(command: string, settings: ExperimentSettings): Environment {
  const root = join(__dirname, '..', '..', '..');
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    // not a git checkout
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    command,
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      platform: process.platform,
      arch: process.arch,
      hostname: hostname(),
    },
    versions: { node: process.version, embpress: pkg.version, commit, v8: process.versions.v8 },
    settings: settings as unknown as Record<string, unknown>,
  };
}

/** Trains one run in a child process; rejects with the child's error (its name kept). */
function trainInChild(
  config: RunChildConfig,
  onProgress: (m: Extract<RunChildMessage, { type: 'progress' }>) => void,
): Promise<RunChildResult> {
  const child = fork(RUN_CHILD, [], {
    execArgv: [...TSX_ARGS],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    child.on('message', (m: RunChildMessage) => {
      if (m.type === 'progress') onProgress(m);
      else if (m.type === 'done') {
        settled = true;
        resolve(m.result);
      } else {
        settled = true;
        // The stack's first line is `Name: message`: the message alone, the name kept apart.
        const first = m.message.split('\n')[0] ?? '';
        const err = new Error(
          first.startsWith(`${m.name}: `) ? first.slice(m.name.length + 2) : first,
        );
        err.name = m.name;
        reject(err);
      }
    });
    child.once('exit', (code, signal) => {
      if (!settled)
        reject(
          new Error(
            `the training process exited (${code ?? signal}) before reporting: ${stderr.trim().split('\n').pop() ?? ''}`,
          ),
        );
    });
    child.send(config);
  });
}

interface Source {
  /** What the trainer reads. */
  data: string;
  /** The test rows the load draws its requests from (the trainer's default split), or why none. */
  serving: { source: string; range: { start: number; end: number } } | { error: string };
}

async function sourceOf(dir: string, data: string, s: ExperimentSettings): Promise<Source> {
  const trainData = data === 'synthetic' ? await syntheticSource(dir, s.syntheticRows) : data;
  // Any reader (Criteo, Avazu, CSV): the requests replay the rows the trainer held out as test.
  const range = await defaultTestRange(parseDataSource(trainData));
  if (range === undefined) return { data: trainData, serving: { error: `${data}: no test split` } };
  return { data: trainData, serving: { source: trainData, range } };
}

function label(r: PlannedRun): string {
  return `${r.dataset} ${r.method}${r.budget === null ? '' : `@${r.budget}`}${r.seed === 1 ? '' : ` seed ${r.seed}`}`;
}

/** A directory name for a run's own files. */
function slug(r: PlannedRun, index: number): string {
  return `${String(index).padStart(3, '0')}-${`${r.method}-${r.budget ?? 'ref'}-s${r.seed}`.replace(/[^a-z0-9.-]/gi, '_')}`;
}

async function runOne(
  o: ExperimentOptions,
  run: PlannedRun,
  index: number,
  source: Source,
  progress: ExperimentProgress,
): Promise<RunRecord> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const work = join(o.dir, 'work', slug(run, index));
  // A run killed before it finished left its files: start it over.
  rmSync(work, { recursive: true, force: true });
  const registryRoot = join(work, 'registry');
  const base = {
    key: run.key,
    data: run.data,
    dataset: run.dataset,
    method: run.method,
    budget: run.budget,
    seed: run.seed,
    startedAt,
  };
  const t = o.settings.train;
  let result: RunChildResult;
  try {
    result = await trainInChild(
      {
        data: source.data,
        method: run.method,
        budget: run.budget,
        seed: run.seed,
        epochs: t.epochs,
        batchSize: t.batchSize,
        lr: t.lr,
        partsPerEpoch: t.partsPerEpoch,
        earlyStopParts: t.earlyStopParts,
        modelOverrides: { dim: t.dim, bottom: t.bottom, top: t.top },
        registryRoot,
        datasetCacheDir: join(o.dir, 'work', 'datasets'),
        modelName: MODEL,
        version: VERSION,
      },
      (m) => progress.training(m.done),
    );
  } catch (err) {
    const e = err as Error;
    // paramsForBudget's BudgetError: the method cannot reach this budget (not a failure).
    const status = e.name === 'BudgetError' ? 'unreachable' : 'failed';
    return {
      ...base,
      status,
      error: `${e.name}: ${e.message}`,
      wallSeconds: (performance.now() - t0) / 1000,
    };
  }
  const record: RunRecord = {
    ...base,
    status: 'ok',
    ...result,
    ratio: result.memoryBytes / result.fullBytes,
    withinBudget: run.budget === null ? null : result.memoryBytes <= run.budget * result.fullBytes,
    fullPaperWords: result.fullBytes / 4,
    serving: null,
    wallSeconds: 0,
  };
  if (o.settings.load !== null) {
    progress.serving();
    if ('error' in source.serving) record.servingError = source.serving.error;
    else
      try {
        record.serving = await serveRun({
          registryRoot,
          model: MODEL,
          version: VERSION,
          source: source.serving.source,
          range: source.serving.range,
          load: o.settings.load,
          workDir: join(work, 'serving'),
          log: () => undefined,
        });
      } catch (err) {
        record.servingError = err instanceof Error ? err.message.split('\n')[0] : String(err);
      }
  }
  record.wallSeconds = (performance.now() - t0) / 1000;
  return record;
}

function summary(r: RunRecord): string {
  const name = `${r.dataset} ${r.method}${r.budget === null ? '' : `@${r.budget}`}`;
  if (r.status !== 'ok') return `${name}: ${r.status} (${r.error ?? ''})`;
  const s = r.serving;
  const serving =
    s == null
      ? r.servingError === undefined
        ? ''
        : `, serving failed: ${r.servingError}`
      : `, Rank p99 ${s.rankP99Ms.toFixed(1)} ms, store p99 ${s.storeLookupP99Ms.toFixed(2)} ms`;
  return `${name}: test AUC ${r.testAuc?.toFixed(4)}, ${r.memoryBytes} bytes (${((r.ratio ?? 0) * 100).toFixed(2)}%), ${r.trainSeconds?.toFixed(1)} s training${serving} [${formatDuration(r.wallSeconds)}]`;
}

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentOutcome> {
  mkdirSync(o.dir, { recursive: true });
  writeAtomic(
    join(o.dir, ENVIRONMENT_FILE),
    `${JSON.stringify(environment(o.command, o.settings), null, 2)}\n`,
  );
  const resultsFile = join(o.dir, RESULTS_FILE);
  const finished = new Set(readRecords(resultsFile).map((r) => r.key));
  const planned = planRuns(o.settings);
  const todo = planned.filter((r) => !finished.has(r.key));
  const progress = new ExperimentProgress(o.progress, planned.length, planned.length - todo.length);
  if (todo.length < planned.length)
    progress.line(
      `resuming: ${planned.length - todo.length} of ${planned.length} runs already in ${resultsFile}`,
    );
  const sources = new Map<string, Source>();
  for (const run of todo) {
    progress.startRun(label(run));
    let source = sources.get(run.data);
    if (source === undefined) {
      source = await sourceOf(o.dir, run.data, o.settings);
      sources.set(run.data, source);
    }
    const record = await runOne(o, run, planned.indexOf(run), source, progress);
    appendRecord(o.dir, record);
    progress.finishRun(summary(record));
  }
  progress.close();
  return {
    planned: planned.length,
    skipped: planned.length - todo.length,
    ran: todo.length,
    records: readRecords(resultsFile),
  };
}

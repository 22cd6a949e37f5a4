// `embpress bench train --what quality|methods|throughput [...] [--json]`: the trainer's
// measurements (issue #4). Progress goes to stderr; the report (with the load average before and
// after, since the machine may be shared) is the last stdout line with --json.
//   quality     synthetic data at --rows sizes: full DLRM and a factorization machine vs the
//               generator's Bayes-optimal test AUC
//   methods     one DLRM per compression method on --data at --budget
//   throughput  samples/s of the training step loop (DLRM, Criteo shape) per method
//   --vs pytorch  each model trained by embpress and by a PyTorch reference script on the same data,
//               split, initial weights, optimizer and batch order (python3 + torch needed)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BACKEND_CHOICES,
  MODEL_KINDS,
  type BackendChoice,
  type FmOptimizerKind,
  type ModelKind,
} from '@embpress/models';
import { lazyRequire } from '@embpress/service-kit/config';
import { BenchSetupError } from './bench-setup-error';
import { benchMethods, defaultMethods } from './train-bench-methods';
import { benchQuality } from './train-bench-quality';
import { benchThroughput } from './train-bench-throughput';
import { benchVsPytorch } from './train-bench-pytorch';

type Trainer = typeof import('@embpress/training');
type TrainOptimizer = import('@embpress/training').TrainOptimizer;
type TrainPreset = import('@embpress/training').TrainPreset;
type LrSchedule = import('@embpress/training').LrSchedule;

export const TRAIN_BENCH_USAGE = `usage:
  embpress bench train --what quality [--rows 100000,400000,1000000] [--scale 0.001]
                       [--fm-factors 16] [--fm-epochs 10] [--fm-lr 0.01] [--fm-optimizer adagrad]
                       [--fm-l2 0.001] [common options]
  embpress bench train --what methods --data criteo:PATH [--test criteo:PATH]
                       [--methods every trainable method + rowwise-int8]
                       [--budget 0.25] [--serve ROWS] [common options]
      --serve: each trained version served by a store + ranker; up to ROWS test rows ranked and
      compared with the trainer's predictions (fails above 1e-5)
  embpress bench train --what throughput [--methods full,hash,int8] [--steps 30] [--warmup 3]
                       [--scale 0.01] [--budget 0.25] [common options]
  embpress bench train --vs pytorch [--data KIND:PATH [--test KIND:PATH] | --rows 200000 --scale 0.001]
                       [--seeds 123] [--models dlrm,wdl,dcn,deepfm,fm] [--python python3]
                       [--torch-threads CPUS] [--preset auto|paper] [--amsgrad] [--dropout P]
                       [--lr-schedule constant|cosine|linear] [--warmup-steps N] [common options]
      --vs pytorch: what --epochs, --batch-size, --lr, --optimizer, --parts, --early-stop and the
      levers leave unset is chosen from the training split's size as \`embpress train\` does
      (--preset auto; docs/models.md#training-defaults), and both sides get the same values.
  common: [--epochs 1] [--batch-size 1024] [--lr 0.001] [--optimizer adam] [--sparse-l2 0] [--parts 10]
          [--early-stop 3] [--dim 16] [--bottom 512,256,64] [--top 512,256] [--seed 123]
          [--backend wasm] [--work-dir DIR (kept; default a temp dir, removed)] [--json]
          (the values shown are the defaults of --what quality|methods|throughput)`;

// A usage mistake prints one line and exits 2, like a missing prerequisite (bench-command.ts).
class UsageError extends BenchSetupError {}

function num(name: string, raw: string, ok: (v: number) => boolean, what: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !ok(v))
    throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(raw)}`);
  return v;
}
const int = (name: string, raw: string, min: number) =>
  num(name, raw, (v) => Number.isInteger(v) && v >= min, `an integer >= ${min}`);
const pos = (name: string, raw: string) => num(name, raw, (v) => v > 0, 'a number > 0');
const list = (raw: string) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const intList = (name: string, raw: string, min: number) => {
  const items = list(raw);
  if (items.length === 0) throw new UsageError(`--${name} must list at least one integer`);
  return items.map((s) => int(name, s, min));
};

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw))
    throw new UsageError(
      `--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  return raw as T;
}

const round2 = (x: number) => Number(x.toFixed(2));

/** The schedule of --what quality|methods|throughput when a flag is not given. */
const LEGACY = {
  epochs: 1,
  batchSize: 1024,
  lr: 0.001,
  optimizer: 'adam' as TrainOptimizer,
  partsPerEpoch: 10,
  earlyStopParts: 3,
};

export async function benchTrainCommand(args: string[]): Promise<void> {
  let values;
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        what: { type: 'string' },
        vs: { type: 'string' },
        seeds: { type: 'string', default: '123' },
        models: { type: 'string' },
        python: { type: 'string', default: 'python3' },
        'torch-threads': { type: 'string' },
        rows: { type: 'string' },
        scale: { type: 'string' },
        'fm-factors': { type: 'string', default: '16' },
        'fm-epochs': { type: 'string', default: '10' },
        'fm-patience': { type: 'string', default: '2' },
        'fm-lr': { type: 'string', default: '0.01' },
        'fm-optimizer': { type: 'string', default: 'adagrad' },
        'fm-l2': { type: 'string', default: '0.001' },
        data: { type: 'string' },
        test: { type: 'string' },
        methods: { type: 'string' },
        budget: { type: 'string', default: '0.25' },
        steps: { type: 'string', default: '30' },
        warmup: { type: 'string', default: '3' },
        // No defaults here: --vs pytorch takes the data-sized ones, the other benchmarks LEGACY.
        epochs: { type: 'string' },
        'batch-size': { type: 'string' },
        lr: { type: 'string' },
        optimizer: { type: 'string' },
        'sparse-l2': { type: 'string', default: '0' },
        parts: { type: 'string' },
        'early-stop': { type: 'string' },
        preset: { type: 'string', default: 'auto' },
        amsgrad: { type: 'boolean' },
        dropout: { type: 'string' },
        'lr-schedule': { type: 'string' },
        'warmup-steps': { type: 'string' },
        dim: { type: 'string', default: '16' },
        bottom: { type: 'string' },
        top: { type: 'string' },
        seed: { type: 'string', default: '123' },
        backend: { type: 'string', default: 'wasm' },
        'work-dir': { type: 'string' },
        serve: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${TRAIN_BENCH_USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${TRAIN_BENCH_USAGE}\n`);
    return;
  }
  if (values.vs !== undefined) {
    oneOf('vs', values.vs, ['pytorch'] as const);
    if (values.what !== undefined)
      throw new UsageError('--vs pytorch is a benchmark of its own: drop --what');
  }
  const what =
    values.vs !== undefined
      ? 'vs-pytorch'
      : oneOf('what', values.what ?? '', ['quality', 'methods', 'throughput'] as const);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const trainer = lazyRequire<Trainer>('@embpress/training');
  const seed = int('seed', values.seed, 0);
  const backend = oneOf<BackendChoice>('backend', values.backend, BACKEND_CHOICES);
  const budget = num('budget', values.budget, (v) => v > 0 && v <= 1, 'a fraction in (0, 1]');
  const dim = int('dim', values.dim, 1);
  const modelOverrides: Record<string, unknown> = {};
  if (values.bottom !== undefined) modelOverrides['bottom'] = intList('bottom', values.bottom, 1);
  if (values.top !== undefined) modelOverrides['top'] = intList('top', values.top, 1);
  // The schedule flags as given (undefined = not set).
  const opt = <T>(raw: string | undefined, parse: (raw: string) => T): T | undefined =>
    raw === undefined ? undefined : parse(raw);
  const explicit = {
    epochs: opt(values.epochs, (r) => pos('epochs', r)),
    batchSize: opt(values['batch-size'], (r) => int('batch-size', r, 1)),
    lr: opt(values.lr, (r) => pos('lr', r)),
    optimizer: opt(values.optimizer, (r) =>
      oneOf<TrainOptimizer>('optimizer', r, trainer.OPTIMIZER_KINDS),
    ),
    partsPerEpoch: opt(values.parts, (r) => int('parts', r, 1)),
    earlyStopParts: opt(values['early-stop'], (r) => int('early-stop', r, 1)),
    amsgrad: values.amsgrad,
    dropout: opt(values.dropout, (r) =>
      num('dropout', r, (v) => v >= 0 && v < 1, 'a rate in [0, 1)'),
    ),
    lrSchedule: opt(values['lr-schedule'], (r) =>
      oneOf<LrSchedule>('lr-schedule', r, trainer.LR_SCHEDULES),
    ),
    warmupSteps: opt(values['warmup-steps'], (r) => int('warmup-steps', r, 0)),
  };
  const sparseL2 = num('sparse-l2', values['sparse-l2'], (v) => v >= 0, 'a number >= 0');
  // --what quality|methods|throughput keep their fixed settings (their earlier tables).
  const training = {
    epochs: explicit.epochs ?? LEGACY.epochs,
    batchSize: explicit.batchSize ?? LEGACY.batchSize,
    lr: explicit.lr ?? LEGACY.lr,
    optimizer: explicit.optimizer ?? LEGACY.optimizer,
    sparseL2,
    partsPerEpoch: explicit.partsPerEpoch ?? LEGACY.partsPerEpoch,
    earlyStopParts: explicit.earlyStopParts ?? LEGACY.earlyStopParts,
    dim,
    modelOverrides,
  };
  const keepWorkDir = values['work-dir'] !== undefined;
  const workDir = values['work-dir'] ?? mkdtempSync(join(tmpdir(), 'embpress-bench-train-'));
  const loadavgStart = loadavg().map(round2);
  const started = new Date();
  let report: Record<string, unknown>;
  let failure: string | undefined;
  try {
    if (what === 'vs-pytorch') {
      if (values.data !== undefined) {
        const path = values.data.replace(/^[a-z]+:/, '');
        if (!existsSync(path)) throw new BenchSetupError(`--data ${values.data}: no such file`);
      }
      const r = await benchVsPytorch({
        ...(values.data === undefined ? {} : { data: values.data }),
        ...(values.test === undefined ? {} : { test: values.test }),
        rows: values.rows === undefined ? 200_000 : int('rows', values.rows, 100),
        scale: values.scale === undefined ? 0.001 : pos('scale', values.scale),
        seeds: intList('seeds', values.seeds, 0),
        models:
          values.models === undefined
            ? [...MODEL_KINDS]
            : list(values.models).map((m) => oneOf<ModelKind>('models', m, MODEL_KINDS)),
        training: {
          explicit,
          preset: oneOf<TrainPreset>('preset', values.preset, trainer.TRAIN_PRESETS),
          dim,
          modelOverrides,
        },
        backend,
        python: values.python,
        threads:
          values['torch-threads'] === undefined
            ? cpus().length
            : int('torch-threads', values['torch-threads'], 1),
        workDir,
        trainer,
        log,
      });
      report = { ...r };
    } else if (what === 'quality') {
      const r = await benchQuality({
        rows: intList('rows', values.rows ?? '100000,400000,1000000', 10),
        seed,
        scale: values.scale === undefined ? 0.001 : pos('scale', values.scale),
        workDir,
        dlrm: training,
        fm: {
          factors: int('fm-factors', values['fm-factors'], 1),
          maxEpochs: int('fm-epochs', values['fm-epochs'], 1),
          patience: int('fm-patience', values['fm-patience'], 1),
          batchSize: training.batchSize,
          optimizer: oneOf<FmOptimizerKind>('fm-optimizer', values['fm-optimizer'], [
            'adagrad',
            'adam',
          ]),
          lr: pos('fm-lr', values['fm-lr']),
          l2: num('fm-l2', values['fm-l2'], (v) => v >= 0, 'a number >= 0'),
        },
        backend,
        trainer,
        log,
      });
      report = { ...r };
    } else if (what === 'methods') {
      if (values.data === undefined) throw new UsageError('--what methods needs --data KIND:PATH');
      const path = values.data.replace(/^[a-z]+:/, '');
      if (!existsSync(path)) throw new BenchSetupError(`--data ${values.data}: no such file`);
      const r = await benchMethods({
        data: values.data,
        ...(values.test === undefined ? {} : { test: values.test }),
        methods: values.methods === undefined ? defaultMethods() : list(values.methods),
        budget,
        ...training,
        seed,
        backend,
        workDir,
        ...(values.serve === undefined ? {} : { serveRows: int('serve', values.serve, 1) }),
        trainer,
        log,
      });
      report = { ...r };
      const problems = [
        ...r.failures.map((f) => `${f.method} failed: ${f.error}`),
        ...(r.serving ?? [])
          .filter((s) => s.error !== undefined || !(s.maxScoreDiff <= 1e-5))
          .map(
            (s) => `${s.method} served ${s.error ?? `scores ${s.maxScoreDiff} from the trainer's`}`,
          ),
        ...r.overBudget.map((s) => `${s} is over its budget of ${budget} x the fp32 table`),
      ];
      if (problems.length > 0) failure = problems.join('; ');
    } else {
      const r = await benchThroughput({
        methods: values.methods === undefined ? ['full', 'hash', 'int8'] : list(values.methods),
        budget,
        batchSize: training.batchSize,
        steps: int('steps', values.steps, 1),
        warmup: int('warmup', values.warmup, 0),
        scale: values.scale === undefined ? 0.01 : pos('scale', values.scale),
        dim,
        backend,
        optimizer: training.optimizer,
        lr: training.lr,
        seed,
        modelOverrides,
        trainer,
        log,
      });
      report = { ...r };
    }
  } finally {
    if (!keepWorkDir) rmSync(workDir, { recursive: true, force: true });
  }
  const full = {
    ...report,
    date: started.toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    loadavgStart,
    loadavgEnd: loadavg().map(round2),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    args,
  };
  process.stdout.write(
    values.json ? `${JSON.stringify(full)}\n` : `${JSON.stringify(full, null, 2)}\n`,
  );
  if (failure !== undefined) throw new Error(`bench train ${what}: ${failure}`);
}

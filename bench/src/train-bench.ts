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
import {
  integerOption,
  lazyRequire,
  listOption,
  numberOption,
  oneOfOption,
  positiveOption,
  UsageError,
  atLeastOption,
  optionalOption,
} from '@embpress/service-kit/config';
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

/** A comma list of at least one integer >= `min`. */
function intList(name: string, raw: string, min: number): number[] {
  const items = listOption(raw);
  if (items.length === 0) throw new UsageError(`--${name} must list at least one integer`);
  return items.map((s) => integerOption(name, s, min));
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
    oneOfOption('vs', values.vs, ['pytorch'] as const);
    if (values.what !== undefined)
      throw new UsageError('--vs pytorch is a benchmark of its own: drop --what');
  }
  const what =
    values.vs !== undefined
      ? 'vs-pytorch'
      : oneOfOption('what', values.what ?? '', ['quality', 'methods', 'throughput'] as const);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const trainer = lazyRequire<Trainer>('@embpress/training');
  const seed = integerOption('seed', values.seed, 0);
  const backend = oneOfOption<BackendChoice>('backend', values.backend, BACKEND_CHOICES);
  const budget = numberOption(
    'budget',
    values.budget,
    (v) => v > 0 && v <= 1,
    'a fraction in (0, 1]',
  );
  const dim = integerOption('dim', values.dim, 1);
  const modelOverrides: Record<string, unknown> = {};
  if (values.bottom !== undefined) modelOverrides['bottom'] = intList('bottom', values.bottom, 1);
  if (values.top !== undefined) modelOverrides['top'] = intList('top', values.top, 1);
  // The schedule flags as given (undefined = not set).
  const explicit = {
    epochs: optionalOption(values.epochs, (r) => positiveOption('epochs', r)),
    batchSize: optionalOption(values['batch-size'], (r) => integerOption('batch-size', r, 1)),
    lr: optionalOption(values.lr, (r) => positiveOption('lr', r)),
    optimizer: optionalOption(values.optimizer, (r) =>
      oneOfOption<TrainOptimizer>('optimizer', r, trainer.OPTIMIZER_KINDS),
    ),
    partsPerEpoch: optionalOption(values.parts, (r) => integerOption('parts', r, 1)),
    earlyStopParts: optionalOption(values['early-stop'], (r) => integerOption('early-stop', r, 1)),
    amsgrad: values.amsgrad,
    dropout: optionalOption(values.dropout, (r) =>
      numberOption('dropout', r, (v) => v >= 0 && v < 1, 'a rate in [0, 1)'),
    ),
    lrSchedule: optionalOption(values['lr-schedule'], (r) =>
      oneOfOption<LrSchedule>('lr-schedule', r, trainer.LR_SCHEDULES),
    ),
    warmupSteps: optionalOption(values['warmup-steps'], (r) => integerOption('warmup-steps', r, 0)),
  };
  const sparseL2 = atLeastOption('sparse-l2', values['sparse-l2'], 0);
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
        rows: values.rows === undefined ? 200_000 : integerOption('rows', values.rows, 100),
        scale: values.scale === undefined ? 0.001 : positiveOption('scale', values.scale),
        seeds: intList('seeds', values.seeds, 0),
        models:
          values.models === undefined
            ? [...MODEL_KINDS]
            : listOption(values.models).map((m) =>
                oneOfOption<ModelKind>('models', m, MODEL_KINDS),
              ),
        training: {
          explicit,
          preset: oneOfOption<TrainPreset>('preset', values.preset, trainer.TRAIN_PRESETS),
          dim,
          modelOverrides,
        },
        backend,
        python: values.python,
        threads:
          values['torch-threads'] === undefined
            ? cpus().length
            : integerOption('torch-threads', values['torch-threads'], 1),
        workDir,
        trainer,
        log,
      });
      report = { ...r };
    } else if (what === 'quality') {
      const r = await benchQuality({
        rows: intList('rows', values.rows ?? '100000,400000,1000000', 10),
        seed,
        scale: values.scale === undefined ? 0.001 : positiveOption('scale', values.scale),
        workDir,
        dlrm: training,
        fm: {
          factors: integerOption('fm-factors', values['fm-factors'], 1),
          maxEpochs: integerOption('fm-epochs', values['fm-epochs'], 1),
          patience: integerOption('fm-patience', values['fm-patience'], 1),
          batchSize: training.batchSize,
          optimizer: oneOfOption<FmOptimizerKind>('fm-optimizer', values['fm-optimizer'], [
            'adagrad',
            'adam',
          ]),
          lr: positiveOption('fm-lr', values['fm-lr']),
          l2: atLeastOption('fm-l2', values['fm-l2'], 0),
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
        methods: values.methods === undefined ? defaultMethods() : listOption(values.methods),
        budget,
        ...training,
        seed,
        backend,
        workDir,
        ...(values.serve === undefined
          ? {}
          : { serveRows: integerOption('serve', values.serve, 1) }),
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
        methods:
          values.methods === undefined ? ['full', 'hash', 'int8'] : listOption(values.methods),
        budget,
        batchSize: training.batchSize,
        steps: integerOption('steps', values.steps, 1),
        warmup: integerOption('warmup', values.warmup, 0),
        scale: values.scale === undefined ? 0.01 : positiveOption('scale', values.scale),
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

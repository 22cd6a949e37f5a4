// `embpress train`: trains a CTR model with a compressed embedding table and exports it as a
// model version. Progress goes to stderr: a status line redrawn in place on a terminal (rows/s,
// loss, AUC so far, ETA) above the per-part log lines, the log lines alone otherwise; with --json the last stdout line is one summary object. Bad input prints one clear line
// (exit 2 for usage, 1 for data/training problems).
import { parseArgs } from 'node:util';
import {
  SpecError,
  BudgetError,
  SPARSE_OPTIMIZER_KINDS,
  type OptimizerKind,
} from '@embpress/compression';
import { DataError } from '@embpress/data';
import { ModelVersionError } from '@embpress/model-registry';
import {
  BACKEND_CHOICES,
  BackendUnavailableError,
  MODEL_KINDS,
  ModelConfigError,
  type BackendChoice,
  type ModelKind,
} from '@embpress/models';
import {
  integerOption as int,
  lazyRequire,
  numberOption as num,
  oneOfOption as oneOf,
  positiveOption as pos,
  requiredOption as required,
  sizesOption as sizes,
  UsageError,
  atLeastOption,
} from '@embpress/service-kit/config';
import { anyOf, runCommand } from './command';
import { TrainProgressView } from './train-progress';

// Services are apps to the module-boundary rule: the CLI loads them with a plain require, as
// services.ts does (types through `typeof import`, which the rule allows).
type Trainer = typeof import('@embpress/training');
type TrainOptimizer = import('@embpress/training').TrainOptimizer;
type TrainPreset = import('@embpress/training').TrainPreset;
type LrSchedule = import('@embpress/training').LrSchedule;
type BudgetAccounting = import('@embpress/training').BudgetAccounting;
const trainer = (): Trainer => lazyRequire<Trainer>('@embpress/training');

export const TRAIN_USAGE = `usage:
  embpress train --data KIND:PATH|DIR [--test KIND:PATH] [--schema FILE] --model dlrm|wdl|dcn|deepfm|fm
                 --method SPEC [--budget R] [--accounting bytes|paper] [--preset auto|paper] [--epochs N] [--batch-size B] [--lr L]
                 [--optimizer sgd|adagrad|adam] [--amsgrad] [--sparse-optimizer KIND] [--sparse-lr L] [--sparse-l2 W]
                 [--dropout P] [--lr-schedule constant|cosine|linear] [--warmup-steps N] [--parts P] [--early-stop K] [--seed S]
                 [--workers N] [--dim D] [--bottom N,N,..] [--top N,N,..] [--backend auto|wasm|cpu|tensorflow]
                 [--out REGISTRY_ROOT] [--name MODEL] [--version V] [--resume] [--no-checkpoints]
                 [--json]
      Trains in parts (a validation pass after each), keeps the best part by validation AUC,
      stops after K parts without improvement, scores the test split once, and writes
      REGISTRY_ROOT/MODEL/VERSION. Multi-stage methods (deeplight, pep, autodim, ...) run their
      stages in order, each with up to the run's parts (docs/adr/0016-staged-training.md).
      --accounting paper turns --budget into parameters counting the paper's 32-bit words
      (reproduces its parameters, e.g. qr's collisions); bytes (default) counts our real bytes. Raw data is prepared once under REGISTRY_ROOT/.datasets.
      A checkpoint is written after each part under REGISTRY_ROOT/.checkpoints/MODEL/VERSION;
      --resume continues the newest run of MODEL (or --version V) after its last complete
      part, with the same options (--no-checkpoints: none are written). --bottom/--top set
      the hidden layer sizes of the MLPs. --sparse-l2 W adds W·value to the gradient of every
      touched embedding row (lazy L2, as the FM baseline of bench train uses).
      --sparse-optimizer sgd|adagrad|adam|rowwise-adagrad and --sparse-lr L train the
      embedding rows (every method's table parameters, lazily) with their own optimizer and
      rate (default: --optimizer and --lr); rowwise-adagrad keeps one accumulator per row.
      --amsgrad: the dense Adam divides by the running maximum of v (AMSGrad; the rows' optimizer
      has no such variant). --dropout P drops hidden MLP activations with probability P while
      training (never at inference; FM has no MLP). --lr-schedule cosine|linear decays the dense
      and the rows' learning rates over the run's planned steps after --warmup-steps N of linear
      warmup (constant: no decay; the log states the curve). Defaults: off, 0, constant, 0.
      --model fm is a factorization machine over the sparse fields (coordinate 0 of a row is
      its first-order weight, the other dim-1 its factors; dense features enter linearly).
      Schedule: what --epochs, --batch-size, --parts, --early-stop, --lr, --optimizer leave
      unset is chosen from the training split's size (--preset auto, the default; the log's
      first lines state the choice): a power-of-two batch in [128, 1024] giving >= 1000 steps
      per epoch, epochs for >= 2000 steps (at most 20; early stopping ends most runs sooner),
      a validation pass about every 50 steps (1-10 per epoch), patience of at least an epoch
      and 3 passes, adam at 0.001. --preset paper: the reference's batch 128, adam 0.001, 100
      parts per epoch, 10 epochs, early stop after 40 parts. Explicit flags always win.
      --workers N: threads of the dense step, each on a slice of every batch (default:
      EMBPRESS_TRAIN_WORKERS, else the available cores from 50,000 training rows on, except for
      fm; else 1).
      Other defaults: --seed 123 --dim 16 --backend auto --out models --name ctr.`;

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      data: { type: 'string' },
      test: { type: 'string' },
      schema: { type: 'string' },
      model: { type: 'string', default: 'dlrm' },
      method: { type: 'string' },
      budget: { type: 'string' },
      accounting: { type: 'string' },
      // Unset schedule flags are chosen from the data (services/trainer training-defaults.ts).
      preset: { type: 'string', default: 'auto' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      'sparse-l2': { type: 'string', default: '0' },
      'sparse-optimizer': { type: 'string' },
      'sparse-lr': { type: 'string' },
      amsgrad: { type: 'boolean' },
      dropout: { type: 'string' },
      workers: { type: 'string' },
      'lr-schedule': { type: 'string' },
      'warmup-steps': { type: 'string' },
      parts: { type: 'string' },
      'early-stop': { type: 'string' },
      seed: { type: 'string', default: '123' },
      dim: { type: 'string', default: '16' },
      bottom: { type: 'string' },
      top: { type: 'string' },
      resume: { type: 'boolean', default: false },
      'no-checkpoints': { type: 'boolean', default: false },
      backend: { type: 'string', default: 'auto' },
      out: { type: 'string', default: 'models' },
      name: { type: 'string', default: 'ctr' },
      version: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${TRAIN_USAGE}\n`);
    return;
  }
  const budget =
    values.budget === undefined
      ? undefined
      : num('budget', values.budget, (v) => v > 0 && v <= 1, 'a fraction in (0, 1]');
  const seed = int('seed', values.seed, 0);
  const view = new TrainProgressView(process.stderr);
  if (seed > 0xffffffff) throw new UsageError(`--seed must be below 2^32, got ${seed}`);
  const result = await trainer().train({
    data: required('data', values.data),
    ...(values.test === undefined ? {} : { test: values.test }),
    ...(values.schema === undefined ? {} : { schema: values.schema }),
    model: oneOf<ModelKind>('model', values.model, MODEL_KINDS),
    modelOverrides: {
      dim: int('dim', values.dim, 1),
      ...(values.bottom === undefined ? {} : { bottom: sizes('bottom', values.bottom) }),
      ...(values.top === undefined ? {} : { top: sizes('top', values.top) }),
    },
    method: required('method', values.method),
    ...(budget === undefined ? {} : { budget }),
    ...(values.accounting === undefined
      ? {}
      : {
          accounting: oneOf<BudgetAccounting>(
            'accounting',
            values.accounting,
            trainer().BUDGET_ACCOUNTINGS,
          ),
        }),
    preset: oneOf<TrainPreset>('preset', values.preset, trainer().TRAIN_PRESETS),
    ...(values.epochs === undefined ? {} : { epochs: pos('epochs', values.epochs) }),
    ...(values['batch-size'] === undefined
      ? {}
      : { batchSize: int('batch-size', values['batch-size'], 1) }),
    ...(values.lr === undefined ? {} : { lr: pos('lr', values.lr) }),
    ...(values.optimizer === undefined
      ? {}
      : {
          optimizer: oneOf<TrainOptimizer>(
            'optimizer',
            values.optimizer,
            trainer().OPTIMIZER_KINDS,
          ),
        }),
    ...(values['sparse-optimizer'] === undefined
      ? {}
      : {
          sparseOptimizer: oneOf<OptimizerKind>(
            'sparse-optimizer',
            values['sparse-optimizer'],
            SPARSE_OPTIMIZER_KINDS,
          ),
        }),
    ...(values['sparse-lr'] === undefined
      ? {}
      : { sparseLr: pos('sparse-lr', values['sparse-lr']) }),
    sparseL2: atLeastOption('sparse-l2', values['sparse-l2'], 0),
    ...(values.amsgrad === undefined ? {} : { amsgrad: values.amsgrad }),
    ...(values.dropout === undefined
      ? {}
      : {
          dropout: num('dropout', values.dropout, (v) => v >= 0 && v < 1, 'a rate in [0, 1)'),
        }),
    ...(values.workers === undefined
      ? {}
      : {
          workers: num(
            'workers',
            values.workers,
            (v) => Number.isInteger(v) && v >= 1 && v <= 64,
            'an integer in [1, 64]',
          ),
        }),
    ...(values['lr-schedule'] === undefined
      ? {}
      : {
          lrSchedule: oneOf<LrSchedule>(
            'lr-schedule',
            values['lr-schedule'],
            trainer().LR_SCHEDULES,
          ),
        }),
    ...(values['warmup-steps'] === undefined
      ? {}
      : { warmupSteps: int('warmup-steps', values['warmup-steps'], 0) }),
    ...(values.parts === undefined ? {} : { partsPerEpoch: int('parts', values.parts, 1) }),
    ...(values['early-stop'] === undefined
      ? {}
      : { earlyStopParts: int('early-stop', values['early-stop'], 1) }),
    seed,
    backend: oneOf<BackendChoice>('backend', values.backend, BACKEND_CHOICES),
    registryRoot: values.out,
    modelName: values.name,
    ...(values.version === undefined ? {} : { version: values.version }),
    resume: values.resume,
    checkpoints: !values['no-checkpoints'],
    onProgress: (e) => view.show(e),
  });
  view.end();
  const summary = trainer().trainSummary(result);
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `${result.modelDir}: ${result.spec}, ${result.memoryBytes} of ${result.fullBytes} bytes; val AUC ${summary.valAuc.toFixed(4)}, test AUC ${summary.testAuc.toFixed(4)}, ${Math.round(summary.samplesPerSec)} samples/s (${result.backend})\n`,
    );
}

export function trainCommand(args: string[]): Promise<void> {
  // The user's to fix (bad data, spec, budget, name, backend): one clear line, no stack.
  return runCommand(
    'train',
    TRAIN_USAGE,
    (err) =>
      anyOf(
        trainer().TrainError,
        DataError,
        SpecError,
        BudgetError,
        ModelVersionError,
        ModelConfigError,
        BackendUnavailableError,
      )(err),
    () => run(args),
  );
}

// `embpress experiment [--methods a,b] [--budgets 0.5,...] [--data synthetic|criteo:PATH ...]
// [--seeds 1,2] [--quick] --out DIR`: the paper's experiment as one command (experiment.ts), then
// its report (DIR/report/index.html and report.md).
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  integerOption,
  lazyRequire,
  listOption,
  positiveOption,
  UsageError,
  optionalOption,
} from '@embpress/service-kit/config';
import { writeReport } from '../report/report-command';
import { runExperiment } from './experiment';
import { checkData, type ExperimentSettings, FULL_DEFAULTS, QUICK } from './plan';
import { RESULTS_FILE } from './records';

export const EXPERIMENT_USAGE = `usage: embpress experiment --out DIR [--quick] [--methods a,b,...] [--budgets 0.5,0.25,...]
                          [--data synthetic|criteo:PATH|avazu:PATH|csv:PATH ...] [--seeds 1,2]
                          [--rows N] [--epochs E] [--batch-size B] [--lr LR] [--rate R] [--duration S]
                          [--no-serve] [--json]
  Methods × budgets × datasets × seeds: each run trains in its own process (val/test AUC and
  logloss, bytes and the paper's words, train seconds, samples/s, peak RSS, the loss per part),
  then its model is served by a store + ranker under the same open-loop Rank load (Rank p50/p99,
  store lookup p99, store bytes/row, where a Rank's time went). Runs append to DIR/results.jsonl;
  a rerun skips the finished ones. The report goes to DIR/report/.
  --quick: 40k synthetic rows, full/hash/qr/rowwise-int8/deeplight at budgets 0.25 and 0.01 (full and
  rowwise-int8 once: their spec fixes their size), a tiny DLRM
  (≤ 5 minutes on 2 cores). Defaults otherwise: every trainable method and rowwise-int8, budgets
  0.5,0.25,0.1,0.01,0.001, synthetic data (200k rows), seed 1.
`;

/** A comma list that names at least one item. */
function list(raw: string, name: string): string[] {
  const items = listOption(raw);
  if (items.length === 0) throw new UsageError(`--${name} is empty`);
  return items;
}

/** A comma list of numbers, each one that passes `ok`; the message names the item that fails. */
function numbers(raw: string, name: string, ok: (v: number) => boolean, what: string): number[] {
  return list(raw, name).map((s) => {
    const v = Number(s);
    if (!ok(v)) throw new UsageError(`--${name}: ${JSON.stringify(s)} is not ${what}`);
    return v;
  });
}

/** An optional number > 0: undefined when the option is not given. */
const positive = (raw: string | undefined, name: string): number | undefined =>
  optionalOption(raw, (r) => positiveOption(name, r));

/** The registry's trainable methods in listing order, and the post-training int8 codec. */
function allMethods(): string[] {
  const { registry } = lazyRequire<typeof import('@embpress/compression')>('@embpress/compression');
  return [
    ...registry
      .list()
      .filter((m) => m.kind === 'trainable')
      .map((m) => m.id),
    'rowwise-int8',
  ];
}

export function parseExperimentArgs(
  args: string[],
): { dir: string; settings: ExperimentSettings; json: boolean } | null {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      out: { type: 'string' },
      quick: { type: 'boolean', default: false },
      methods: { type: 'string' },
      budgets: { type: 'string' },
      data: { type: 'string', multiple: true },
      seeds: { type: 'string' },
      rows: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      'no-serve': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return null;
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  const base: ExperimentSettings = values.quick ? QUICK : { ...FULL_DEFAULTS, methods: [] };
  const { registry } = lazyRequire<typeof import('@embpress/compression')>('@embpress/compression');
  const methods =
    values.methods === undefined
      ? values.quick
        ? base.methods
        : allMethods()
      : list(values.methods, 'methods');
  for (const m of methods) registry.resolve(m); // an unknown method fails now, not after hours
  const rows = positive(values.rows, 'rows');
  const epochs = positive(values.epochs, 'epochs');
  const batchSize =
    values['batch-size'] === undefined
      ? undefined
      : integerOption('batch-size', values['batch-size'], 1);
  const lr = positive(values.lr, 'lr');
  const rate = positive(values.rate, 'rate');
  const duration = positive(values.duration, 'duration');
  const settings: ExperimentSettings = {
    ...base,
    methods,
    budgets:
      values.budgets === undefined
        ? base.budgets
        : numbers(values.budgets, 'budgets', (v) => v > 0 && v <= 1, 'a budget in (0, 1]'),
    data: (values.data ?? base.data).map(checkData),
    seeds:
      values.seeds === undefined
        ? base.seeds
        : numbers(values.seeds, 'seeds', (v) => Number.isInteger(v) && v >= 0, 'an integer seed'),
    syntheticRows: rows === undefined ? base.syntheticRows : Math.round(rows),
    train: {
      ...base.train,
      ...(epochs === undefined ? {} : { epochs }),
      ...(batchSize === undefined ? {} : { batchSize }),
      ...(lr === undefined ? {} : { lr }),
    },
    load:
      values['no-serve'] || base.load === null
        ? null
        : {
            ...base.load,
            ...(rate === undefined ? {} : { ratePerSec: rate }),
            ...(duration === undefined ? {} : { durationSec: duration }),
          },
  };
  return { dir: resolve(values.out), settings, json: values.json };
}

export async function experimentCommand(args: string[]): Promise<void> {
  const parsed = parseExperimentArgs(args);
  if (parsed === null) {
    process.stdout.write(EXPERIMENT_USAGE);
    return;
  }
  const t0 = performance.now();
  const outcome = await runExperiment({
    dir: parsed.dir,
    settings: parsed.settings,
    command: `embpress experiment ${args.join(' ')}`,
    progress: process.stderr,
  });
  const report = writeReport(join(parsed.dir, RESULTS_FILE), join(parsed.dir, 'report'));
  const seconds = (performance.now() - t0) / 1000;
  const counts = { ok: 0, unreachable: 0, failed: 0 };
  for (const r of outcome.records) counts[r.status] += 1;
  if (parsed.json) {
    process.stdout.write(
      `${JSON.stringify({ ...outcome, records: undefined, counts, seconds, report })}\n`,
    );
    return;
  }
  process.stdout.write(
    `${outcome.planned} runs (${outcome.skipped} already done, ${outcome.ran} run now in ${seconds.toFixed(0)} s): ${counts.ok} ok, ${counts.unreachable} unreachable, ${counts.failed} failed\n` +
      `results: ${join(parsed.dir, RESULTS_FILE)}\nreport: ${report.html}\n        ${report.markdown}\n`,
  );
}

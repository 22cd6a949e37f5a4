// `embpress data synth|prepare`: synthetic datasets with a known Bayes ceiling, and the
// preprocessing of a text dataset into split caches. Progress goes to stderr; with --json the
// last stdout line is one JSON object. Bad input (DataError) prints one clear line and exits 1.
import { parseArgs } from 'node:util';
import {
  DataError,
  generateSynthetic,
  parseDataSource,
  prepareDataset,
  type SplitScheme,
  type SynthProfileName,
} from '@embpress/data';
import {
  integerOption as integer,
  requiredOption as required,
  UsageError,
  atLeastOption,
} from '@embpress/service-kit/config';
import { anyOf, runCommand } from './command';

export const DATA_USAGE = `usage:
  embpress data synth --rows N --seed S --out FILE [--profile criteo|avazu] [--scale F]
                      [--interactions STD] [--json]
      Criteo-format TSV (or Avazu CSV) with labels from a known logistic model with pairwise
      factor interactions; reports the Bayes-optimal AUC and logloss of the test split.
      A FILE ending in .gz is written gzipped.
  embpress data prepare --data KIND:PATH [--test KIND:PATH] [--schema FILE] --out DIR
                        [--split chunks[:K]|last-day|tail:N|separate-test[:F]] [--min-count N]
                        [--shuffle-seed S|none] [--on-bad-line error|skip] [--overwrite] [--json]
      Vocabulary and frequencies from the train split, binary caches of train (shuffled once),
      validation and test. KIND is criteo, avazu or csv (csv needs a JSON schema).`;

export function parseSplit(raw: string): SplitScheme {
  const [kind, arg] = raw.split(':', 2);
  switch (kind) {
    case 'chunks':
      return { kind: 'chunks', chunks: arg === undefined ? 7 : integer('split chunks', arg, 2) };
    case 'last-day':
      return { kind: 'last-day', column: arg ?? 'hour' };
    case 'tail':
      return { kind: 'tail', rows: integer('split tail', arg ?? '', 0) };
    case 'separate-test':
      return {
        kind: 'separate-test',
        validationFraction: arg === undefined ? 0.1 : atLeastOption('split fraction', arg, 0),
      };
    default:
      throw new UsageError(
        `--split must be chunks[:K], last-day, tail:N or separate-test[:F], got ${JSON.stringify(raw)}`,
      );
  }
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function synth(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      rows: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'string', default: 'criteo' },
      scale: { type: 'string' },
      interactions: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const profile = values.profile;
  if (profile !== 'criteo' && profile !== 'avazu')
    throw new UsageError(`--profile must be criteo or avazu, got ${JSON.stringify(profile)}`);
  const report = await generateSynthetic({
    rows: integer('rows', required('rows', values.rows), 1),
    seed: integer('seed', required('seed', values.seed), 0, 0xffffffff),
    out: required('out', values.out),
    profile: profile satisfies SynthProfileName,
    ...(values.scale === undefined ? {} : { scale: atLeastOption('scale', values.scale, 0) }),
    ...(values.interactions === undefined
      ? {}
      : { interactionStd: atLeastOption('interactions', values.interactions, 0) }),
    log,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  process.stdout.write(
    [
      `wrote ${report.rows} ${report.profile} rows to ${report.out} (${(report.bytes / 1e6).toFixed(1)} MB) in ${report.seconds.toFixed(1)} s`,
      `fields: ${report.fields} categorical, ${report.dense} dense; cardinalities ${report.cardinalities.join(', ')}`,
      `positive rate: ${report.positiveRate.toFixed(4)}`,
      `split: train ${report.split.train}, validation ${report.split.validation}, test ${report.split.test} rows`,
      `Bayes-optimal test AUC ${report.bayesAuc.toFixed(4)}, logloss ${report.bayesLogloss.toFixed(4)} (the true model; no model can expect more)`,
    ].join('\n') + '\n',
  );
}

async function prepare(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      data: { type: 'string' },
      test: { type: 'string' },
      schema: { type: 'string' },
      out: { type: 'string' },
      split: { type: 'string' },
      'min-count': { type: 'string', default: '1' },
      'shuffle-seed': { type: 'string', default: '123' },
      'on-bad-line': { type: 'string', default: 'error' },
      overwrite: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const onBadLine = values['on-bad-line'];
  if (onBadLine !== 'error' && onBadLine !== 'skip')
    throw new UsageError(`--on-bad-line must be error or skip, got ${JSON.stringify(onBadLine)}`);
  const seed = values['shuffle-seed'];
  const info = await prepareDataset({
    train: parseDataSource(required('data', values.data), values.schema),
    ...(values.test === undefined ? {} : { test: parseDataSource(values.test, values.schema) }),
    outDir: required('out', values.out),
    ...(values.split === undefined ? {} : { split: parseSplit(values.split) }),
    minCount: integer('min-count', values['min-count'] ?? '', 1),
    shuffleSeed: seed === 'none' ? null : integer('shuffle-seed', seed, 0, 0xffffffff),
    onBadLine,
    overwrite: values.overwrite,
    log,
  });
  const summary = {
    out: required('out', values.out),
    kind: info.kind,
    rows: info.rows,
    features: info.features,
    fields: info.layout.categorical.length,
    dense: info.layout.dense.length,
    badLines: info.sources.train.badLines + (info.sources.test?.badLines ?? 0),
    fingerprint: info.fingerprint,
    seconds: info.seconds,
  };
  process.stdout.write(
    values.json ? `${JSON.stringify(summary)}\n` : `${JSON.stringify(summary, null, 2)}\n`,
  );
}

export function dataCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  return runCommand('data', DATA_USAGE, anyOf(DataError), async () => {
    if (sub === 'synth') await synth(rest);
    else if (sub === 'prepare') await prepare(rest);
    else if (sub === undefined || sub === 'help' || sub === '--help')
      process.stdout.write(`${DATA_USAGE}\n`);
    else throw new UsageError(`unknown subcommand "${sub}"`);
  });
}

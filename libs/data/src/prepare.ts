// Text dataset -> prepared dataset directory, in streaming passes:
//   0. rows: a byte-level line count (or, for Avazu's last-day split, a scan of `hour`);
//   1. vocabulary + train frequencies: the train split only (docs/methods/reference.md#data);
//   2. encode every row into its split's binary cache (train shuffled once with a seed), hashing
//      the bytes on the way for the dataset fingerprint;
// then vocabulary.json, frequencies.u32 and dataset.json. Everything is written in a temp
// directory beside the target and renamed: a prepared directory is complete or absent.
//
//   <out>/dataset.json      what was read, how, the split, row counts, fingerprint
//   <out>/vocabulary.json   Vocabulary.toJSON() (ships in the model directory)
//   <out>/frequencies.u32   train count of every global id, little-endian uint32
//   <out>/{train,validation,test}.bin   binary caches (cache.ts)
//
// This module holds the passes themselves; dataset-info.ts (dataset.json's schema and file
// names), prepare-plan.ts (pass 0: the split) and prepared-dataset.ts (reading the result) live
// beside it, and their public names are exported from here as before.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir, writeFileDurable } from './atomic';
import { CacheWriter, type EncodedBatch, type RowSink } from './cache';
import { FILES, type DatasetInfo, type SplitName } from './dataset-info';
import { encodeBatch } from './encode';
import { DataError } from './errors';
import type { DataSource } from './formats';
import { defaultSplit, planFor } from './prepare-plan';
import { ShuffledCacheWriter } from './shuffle';
import { rangeRows, type RowRange, type SplitScheme } from './splits';
import {
  emptyStats,
  TabularReader,
  type OnBadLine,
  type RawBatch,
  type ReadStats,
} from './tabular-reader';
import { VocabularyBuilder } from './vocabulary';

export { datasetInfoSchema, SPLIT_NAMES, type DatasetInfo, type SplitName } from './dataset-info';
export { defaultSplit, defaultTestRange } from './prepare-plan';
export { PreparedDataset, type SplitBatchOptions } from './prepared-dataset';

/**
 * The reference's global seed (docs/methods/reference.md#training-loop); its train shuffle itself
 * was unseeded.
 */
export const DEFAULT_SHUFFLE_SEED = 123;

export interface PrepareOptions {
  train: DataSource;
  /** A separate test file (same columns); the train file then gives train + validation. */
  test?: DataSource;
  outDir: string;
  /** Default: Criteo and CSV 'chunks' (7), Avazu 'last-day', with a test file 'separate-test'. */
  split?: SplitScheme;
  /** Values seen fewer times in train go to the OOV bucket (default 1: keep all). */
  minCount?: number;
  /** Seed of the one-time train shuffle; null keeps file order (default 123). */
  shuffleSeed?: number | null;
  onBadLine?: OnBadLine;
  /** Replace an existing directory (default: refuse). */
  overwrite?: boolean;
  batchRows?: number;
  /** Memory of the shuffle's second pass (default 32 MiB). */
  shuffleBucketBytes?: number;
  log?: (line: string) => void;
}

function sameColumns(a: TabularReader, b: TabularReader): boolean {
  const eq = (x: readonly string[], y: readonly string[]) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    eq(a.layout.denseNames, b.layout.denseNames) &&
    eq(a.layout.categoricalNames, b.layout.categoricalNames)
  );
}

/** Sends the rows of an encoded batch to the sink of the range holding each row's position. */
function route(
  raw: { size: number; rowIndex: Float64Array },
  enc: EncodedBatch,
  ranges: readonly { range: RowRange; sink: RowSink }[],
): void {
  let r = 0;
  while (r < raw.size) {
    const pos = raw.rowIndex[r] as number;
    const target = ranges.find((t) => pos >= t.range.start && pos < t.range.end);
    if (target === undefined) throw new Error(`row position ${pos} is in no split`);
    let to = r + 1;
    while (to < raw.size && (raw.rowIndex[to] as number) < target.range.end) to += 1;
    target.sink.append(enc, r, to);
    r = to;
  }
}

export async function prepareDataset(options: PrepareOptions): Promise<DatasetInfo> {
  const t0 = performance.now();
  const log = options.log ?? (() => undefined);
  const onBadLine = options.onBadLine ?? 'error';
  const minCount = options.minCount ?? 1;
  const shuffleSeed =
    options.shuffleSeed === undefined ? DEFAULT_SHUFFLE_SEED : options.shuffleSeed;
  const batchRows = options.batchRows ?? 4096;
  const outDir = resolve(options.outDir);
  if (existsSync(outDir) && !options.overwrite)
    throw new DataError(
      'exists',
      `${outDir} already exists; refusing to replace it (overwrite: true, --overwrite)`,
    );

  const reader = await TabularReader.open(options.train);
  const layout = reader.layout;
  if (layout.categorical.length === 0)
    throw new DataError('bad-schema', `${reader.path}: no categorical columns to embed`);
  const testReader =
    options.test === undefined ? undefined : await TabularReader.open(options.test);
  if (testReader !== undefined && !sameColumns(reader, testReader))
    throw new DataError(
      'bad-schema',
      `${testReader.path}: its feature columns differ from ${reader.path}'s`,
    );
  const scheme = options.split ?? defaultSplit(options.train.format.kind, testReader !== undefined);
  if ((scheme.kind === 'separate-test') !== (testReader !== undefined))
    throw new DataError(
      'bad-argument',
      testReader === undefined
        ? `split ${scheme.kind} needs a separate test file`
        : `with a separate test file the split must be separate-test, not ${scheme.kind}`,
    );

  // Pass 0: rows and split boundaries.
  const plan = await planFor(scheme, reader, onBadLine);
  if (plan.rows === 0)
    throw new DataError('empty-file', `${reader.path}: no data rows`, { file: reader.path });
  if (rangeRows(plan.train) === 0)
    throw new DataError('bad-argument', `${reader.path}: ${plan.rows} rows leave no train rows`);
  log(
    `${reader.path}: ${plan.rows} rows; train ${rangeRows(plan.train)}, validation ${rangeRows(plan.validation)}, test ${plan.test === undefined ? 'separate file' : rangeRows(plan.test)}`,
  );

  // Pass 1: vocabulary and frequencies from the train split only.
  const builder = new VocabularyBuilder(layout.categoricalNames);
  for await (const b of reader.batches({ range: plan.train, onBadLine, batchRows })) builder.add(b);
  if (builder.rows === 0)
    throw new DataError('empty-file', `${reader.path}: every train row is malformed`);
  const { vocabulary, frequencies } = builder.build(minCount);
  log(
    `vocabulary: ${vocabulary.size} ids over ${vocabulary.fields.length} fields (minCount ${minCount})`,
  );

  // Pass 2: encode into the split caches inside a temp directory.
  mkdirSync(dirname(outDir), { recursive: true });
  const tmp = join(dirname(outDir), `.${basename(outDir)}.tmp-${randomBytes(6).toString('hex')}`);
  mkdirSync(tmp);
  const nd = layout.dense.length;
  const ns = layout.categorical.length;
  const meta = (split: SplitName) => ({ split, vocabularyFingerprint: vocabulary.fingerprint() });
  const sinks: RowSink[] = [];
  try {
    const trainSink =
      shuffleSeed === null
        ? new CacheWriter(join(tmp, FILES.train), nd, ns, meta('train'))
        : new ShuffledCacheWriter(
            join(tmp, FILES.train),
            nd,
            ns,
            {
              seed: shuffleSeed,
              expectedRows: rangeRows(plan.train),
              ...(options.shuffleBucketBytes === undefined
                ? {}
                : { bucketBytes: options.shuffleBucketBytes }),
            },
            { ...meta('train'), shuffleSeed },
          );
    sinks.push(trainSink);
    const valSink = new CacheWriter(join(tmp, FILES.validation), nd, ns, meta('validation'));
    sinks.push(valSink);
    const testSink = new CacheWriter(join(tmp, FILES.test), nd, ns, meta('test'));
    sinks.push(testSink);
    const ranges = [
      { range: plan.train, sink: trainSink },
      ...(plan.test === undefined ? [] : [{ range: plan.test, sink: testSink }]),
      { range: plan.validation, sink: valSink },
    ];

    const readSource = async (r: TabularReader, each: (raw: RawBatch) => void) => {
      const hash = createHash('sha256');
      const stats = emptyStats();
      for await (const raw of r.batches({
        onBadLine,
        stats,
        batchRows,
        lines: { onBytes: (chunk) => hash.update(chunk) },
      }))
        each(raw);
      return { sha256: hash.digest('hex'), stats };
    };
    const trainRead = await readSource(reader, (raw) =>
      route(raw, encodeBatch(raw, vocabulary), ranges),
    );
    const testRead =
      testReader === undefined
        ? undefined
        : await readSource(testReader, (raw) => testSink.append(encodeBatch(raw, vocabulary)));
    const headers = {
      train: trainSink.finish(),
      validation: valSink.finish(),
      test: testSink.finish(),
    };
    sinks.length = 0;

    const freqBytes = new Uint8Array(
      frequencies.buffer,
      frequencies.byteOffset,
      frequencies.byteLength,
    );
    writeFileDurable(join(tmp, FILES.frequencies), freqBytes);
    writeFileDurable(join(tmp, FILES.vocabulary), JSON.stringify(vocabulary.toJSON()));

    const sourceInfo = (
      r: TabularReader,
      read: { sha256: string; stats: ReadStats },
      bytes: number,
    ) => ({
      path: resolve(r.path),
      bytes,
      sha256: read.sha256,
      dataRows: read.stats.dataRows,
      rows: read.stats.rows,
      badLines: read.stats.badLines,
      badLineExamples: read.stats.badLineExamples,
    });
    const fingerprintInput = {
      train: trainRead.sha256,
      test: testRead?.sha256 ?? null,
      kind: options.train.format.kind,
      scheme,
      minCount,
      shuffleSeed,
      onBadLine,
      format: options.train.format,
    };
    const info: DatasetInfo = {
      format: 'embpress.dataset',
      version: 1,
      kind: options.train.format.kind,
      sources: {
        train: sourceInfo(reader, trainRead, statSync(reader.path).size),
        ...(testReader === undefined || testRead === undefined
          ? {}
          : { test: sourceInfo(testReader, testRead, statSync(testReader.path).size) }),
      },
      layout: { dense: [...layout.denseNames], categorical: [...layout.categoricalNames] },
      split: {
        scheme: { ...scheme },
        train: plan.train,
        validation: plan.validation,
        test: plan.test ?? null,
      },
      rows: {
        train: headers.train.rows,
        validation: headers.validation.rows,
        test: headers.test.rows,
      },
      preprocessing: {
        dense: 'ln(v + 1) if v > 0 else 0; missing -> 0',
        minCount,
        oovId: 0,
        missingValue: '',
      },
      shuffle: {
        seed: shuffleSeed,
        buckets: trainSink instanceof ShuffledCacheWriter ? trainSink.buckets : 0,
      },
      features: vocabulary.size,
      cardinalities: vocabulary.cardinalities(),
      files: { ...FILES },
      frequenciesCrc32: crc32(freqBytes) >>> 0,
      vocabularyFingerprint: vocabulary.fingerprint(),
      fingerprint: createHash('sha256').update(JSON.stringify(fingerprintInput)).digest('hex'),
      createdAt: new Date().toISOString(),
      seconds: (performance.now() - t0) / 1000,
    };
    writeFileDurable(join(tmp, 'dataset.json'), `${JSON.stringify(info, null, 2)}\n`);
    fsyncDir(tmp);
    moveIntoPlace(tmp, outDir, options.overwrite === true);
    log(
      `wrote ${outDir}: train ${info.rows.train}, validation ${info.rows.validation}, test ${info.rows.test} rows in ${info.seconds.toFixed(1)} s`,
    );
    return info;
  } catch (err) {
    for (const s of sinks) s.abort();
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function moveIntoPlace(tmp: string, outDir: string, overwrite: boolean): void {
  if (!existsSync(outDir)) {
    renameSync(tmp, outDir);
  } else {
    if (!overwrite) throw new DataError('exists', `${outDir} already exists`);
    const old = `${tmp}.old`;
    renameSync(outDir, old);
    renameSync(tmp, outDir);
    rmSync(old, { recursive: true, force: true });
  }
  fsyncDir(dirname(outDir));
}

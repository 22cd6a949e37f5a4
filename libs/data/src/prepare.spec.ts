import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheReader, CACHE_DATA_OFFSET, type EncodedBatch } from './cache';
import { encodeBatch } from './encode';
import { DataError } from './errors';
import { AVAZU_CATEGORICAL, AVAZU_FORMAT, CRITEO_FORMAT, type DataSource } from './formats';
import {
  defaultTestRange,
  PreparedDataset,
  prepareDataset,
  type PrepareOptions,
  type SplitName,
} from './prepare';
import { TabularReader } from './tabular-reader';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'embpress-data-prepare-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Row i of a small Criteo file; C1 is `c1`, C2 cycles through a few values. */
function criteoRow(i: number, c1 = `a${i % 4}`): string {
  const dense = Array.from({ length: 13 }, (_, j) =>
    j === 1 ? String(i - 3) : j === 2 ? '' : String(i * j),
  );
  const cats = Array.from({ length: 26 }, (_, f) =>
    f === 0 ? c1 : f === 1 ? `b${i % 3}` : f === 2 ? '' : `f${f}`,
  );
  return [String(i % 3 === 0 ? 1 : 0), ...dense, ...cats].join('\t');
}

function writeCriteo(name: string, rows: string[]): DataSource {
  const path = join(dir, name);
  writeFileSync(path, `${rows.join('\n')}\n`);
  return { path, format: CRITEO_FORMAT };
}

async function collect(
  ds: PreparedDataset,
  split: SplitName,
  batchSize = 1000,
  dropLast = false,
): Promise<EncodedBatch> {
  const parts: EncodedBatch[] = [];
  for await (const b of ds.batches(split, { batchSize, dropLast })) parts.push(b);
  const cat = <T extends Float32Array | Uint32Array>(
    make: (n: number) => T,
    pick: (b: EncodedBatch) => T,
  ) => {
    const out = make(parts.reduce((a, b) => a + pick(b).length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(pick(p), o);
      o += pick(p).length;
    }
    return out;
  };
  return {
    size: parts.reduce((a, b) => a + b.size, 0),
    labels: cat(
      (n) => new Float32Array(n),
      (b) => b.labels,
    ),
    dense: cat(
      (n) => new Float32Array(n),
      (b) => b.dense,
    ),
    sparse: cat(
      (n) => new Uint32Array(n),
      (b) => b.sparse,
    ),
  };
}

/** The rows of one split as text records (label|dense|sparse), for multiset comparisons. */
function records(b: EncodedBatch): string[] {
  const nd = b.dense.length / b.size;
  const ns = b.sparse.length / b.size;
  return Array.from({ length: b.size }, (_, r) =>
    [
      b.labels[r],
      ...b.dense.subarray(r * nd, r * nd + nd),
      ...b.sparse.subarray(r * ns, r * ns + ns),
    ].join(','),
  );
}

async function failure(p: Promise<unknown>): Promise<DataError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DataError) return err;
    throw err;
  }
  throw new Error('expected a DataError');
}

const prepare = (train: DataSource, extra: Partial<PrepareOptions> = {}) =>
  prepareDataset({ train, outDir: join(dir, 'prepared'), ...extra });

describe('prepareDataset', () => {
  it('builds vocabulary and frequencies from the train split only', async () => {
    // 14 rows: 7 chunks of 2 -> train rows 0..11, test row 12, validation row 13.
    const rows = Array.from({ length: 14 }, (_, i) =>
      criteoRow(i, i >= 12 ? 'only-in-eval' : i === 11 || i === 3 ? 'twice' : `a${i % 2}`),
    );
    const info = await prepare(writeCriteo('train.txt', rows), { shuffleSeed: null });
    expect(info.rows).toEqual({ train: 12, validation: 1, test: 1 });
    const ds = PreparedDataset.open(join(dir, 'prepared'));
    const v = ds.vocabulary;
    expect(v.fields[0]?.values).toEqual(['a0', 'a1', 'twice']);
    expect(v.localId(0, 'only-in-eval')).toBe(0);
    const c1 = ds.frequencies().subarray(v.offsets[0], v.offsets[1]);
    // OOV 0 (nothing dropped in train), a0: rows 0,2,4,6,8,10 (6), a1: 1,5,7,9 (4), twice: 2.
    expect(Array.from(c1)).toEqual([0, 6, 4, 2]);
    expect(ds.frequencies().reduce((a, b) => a + b, 0)).toBe(12 * 26);
    // The test row's C1 is out of vocabulary: global id = offset of C1 + 0.
    const test = await collect(ds, 'test');
    expect(test.sparse[0]).toBe(v.offsets[0]);
    expect(info.cardinalities[0]).toBe(4);
    expect(info.features).toBe(v.size);
  });

  it('writes caches that read back exactly as the encoded rows; train is a seeded permutation', async () => {
    const source = writeCriteo(
      't.txt',
      Array.from({ length: 100 }, (_, i) => criteoRow(i)),
    );
    const info = await prepare(source, { shuffleSeed: 7 });
    expect(info.rows).toEqual({ train: 86, test: 7, validation: 7 });
    const ds = PreparedDataset.open(join(dir, 'prepared'));
    // Expected: the raw rows encoded with the same vocabulary, in file order.
    const reader = await TabularReader.open(source);
    const expected: string[] = [];
    for await (const raw of reader.batches({ batchRows: 9 }))
      expected.push(...records(encodeBatch(raw, ds.vocabulary)));
    const test = records(await collect(ds, 'test', 3));
    const val = records(await collect(ds, 'validation', 3));
    expect(test).toEqual(expected.slice(86, 93));
    expect(val).toEqual(expected.slice(93, 100));
    const train = records(await collect(ds, 'train', 1000));
    expect(train).not.toEqual(expected.slice(0, 86));
    expect([...train].sort()).toEqual(expected.slice(0, 86).sort());

    // Same seed, same bytes; no seed keeps file order.
    const again = join(dir, 'again');
    await prepareDataset({ train: source, outDir: again, shuffleSeed: 7 });
    expect(
      readFileSync(join(again, 'train.bin')).equals(
        readFileSync(join(dir, 'prepared', 'train.bin')),
      ),
    ).toBe(true);
    const ordered = join(dir, 'ordered');
    await prepareDataset({ train: source, outDir: ordered, shuffleSeed: null });
    expect(records(await collect(PreparedDataset.open(ordered), 'train'))).toEqual(
      expected.slice(0, 86),
    );
  });

  it('shuffles through several bucket files when the train split exceeds one bucket', async () => {
    const source = writeCriteo(
      't.txt',
      Array.from({ length: 700 }, (_, i) => criteoRow(i)),
    );
    const info = await prepare(source, { shuffleSeed: 1, shuffleBucketBytes: 8 * 1024 });
    expect(info.shuffle.buckets).toBe(Math.ceil((600 * 160) / 8192));
    const ds = PreparedDataset.open(join(dir, 'prepared'));
    const ordered = join(dir, 'ordered');
    await prepareDataset({ train: source, outDir: ordered, shuffleSeed: null });
    const a = records(await collect(ds, 'train'));
    const b = records(await collect(PreparedDataset.open(ordered), 'train'));
    expect(a).not.toEqual(b);
    expect([...a].sort()).toEqual([...b].sort());
    expect(readdirSync(join(dir, 'prepared')).sort()).toEqual(
      [
        'dataset.json',
        'frequencies.u32',
        'test.bin',
        'train.bin',
        'validation.bin',
        'vocabulary.json',
      ].sort(),
    );
  });

  it('drops the last partial batch for train and keeps it for evaluation', async () => {
    await prepare(
      writeCriteo(
        't.txt',
        Array.from({ length: 100 }, (_, i) => criteoRow(i)),
      ),
    );
    const ds = PreparedDataset.open(join(dir, 'prepared'));
    const sizes = async (split: SplitName) => {
      const out: number[] = [];
      for await (const b of ds.batches(split, { batchSize: 32 })) out.push(b.size);
      return out;
    };
    expect(await sizes('train')).toEqual([32, 32]); // 86 rows
    expect(await sizes('test')).toEqual([7]);
    expect(ds.split('train').batchCount({ batchSize: 32, dropLast: true })).toBe(2);
    const resumed: number[] = [];
    for await (const b of ds.batches('train', { batchSize: 32, start: 40 }))
      resumed.push(b.firstRow ?? -1);
    expect(resumed).toEqual([40]); // 46 rows left: one full batch, the partial one dropped
  });

  it('refuses a truncated cache and detects flipped record bytes by CRC', async () => {
    await prepare(
      writeCriteo(
        't.txt',
        Array.from({ length: 100 }, (_, i) => criteoRow(i)),
      ),
    );
    const out = join(dir, 'prepared');
    const train = join(out, 'train.bin');
    const size = statSync(train).size;
    expect(size).toBe(CACHE_DATA_OFFSET + 86 * 160);

    const fd = openSync(join(out, 'validation.bin'), 'r+');
    writeSync(fd, Uint8Array.of(0x5a), 0, 1, CACHE_DATA_OFFSET + 100);
    closeSync(fd);
    const ds = PreparedDataset.open(out);
    const err = await failure(collect(ds, 'validation'));
    expect(err.problem).toBe('corrupt-cache');
    expect(err.message).toMatch(/validation\.bin: records fail their CRC-32/);

    truncateSync(train, size - 1);
    const t = await failure(Promise.resolve().then(() => PreparedDataset.open(out)));
    expect(t.problem).toBe('corrupt-cache');
    expect(t.message).toBe(
      `${train}: not a valid dataset cache: truncated: ${size - 1} bytes, the header promises 86 rows = ${size} bytes`,
    );
    writeFileSync(train, 'not a cache at all, just text that is long enough'.repeat(100));
    expect(() => CacheReader.open(train)).toThrow(/bad magic/);
  });

  it('writes atomically: refuses to replace, and a failure leaves nothing behind', async () => {
    const rows = Array.from({ length: 14 }, (_, i) => criteoRow(i));
    await prepare(writeCriteo('t.txt', rows));
    expect((await failure(prepare(writeCriteo('t.txt', rows)))).problem).toBe('exists');
    // A malformed row in the validation range passes the vocabulary pass and fails pass 2.
    rows[13] = rows[13]?.replace(/^0\t/, '7\t') ?? '';
    const bad = writeCriteo('bad.txt', rows);
    const err = await failure(prepareDataset({ train: bad, outDir: join(dir, 'second') }));
    expect(err.message).toBe(`${bad.path}:14: field label: "7" is not a label (expected 0 or 1)`);
    expect(readdirSync(dir).sort()).toEqual(['bad.txt', 'prepared', 't.txt']);
    // Under skip the line is counted and the row left out; split positions stay.
    const info = await prepareDataset({ train: bad, outDir: join(dir, 'skip'), onBadLine: 'skip' });
    expect(info.rows).toEqual({ train: 12, test: 1, validation: 0 });
    expect(info.sources.train).toMatchObject({ dataRows: 14, rows: 13, badLines: 1 });
    // overwrite replaces a directory in one rename.
    const replaced = await prepareDataset({
      train: writeCriteo('t.txt', rows.slice(0, 13)),
      outDir: join(dir, 'skip'),
      overwrite: true,
      onBadLine: 'skip',
    });
    expect(PreparedDataset.open(join(dir, 'skip')).info.fingerprint).toBe(replaced.fingerprint);
  });

  it('reports an empty or header-only file and a missing one', async () => {
    expect((await failure(prepare(writeCriteo('e.txt', ['', ''])))).problem).toBe('empty-file');
    const avazu = join(dir, 'a.csv');
    writeFileSync(avazu, `id,click,${AVAZU_CATEGORICAL.join(',')}\n`);
    expect((await failure(prepare({ path: avazu, format: AVAZU_FORMAT }))).message).toBe(
      `${avazu}: no data rows`,
    );
    expect(
      (await failure(prepare({ path: join(dir, 'none.txt'), format: CRITEO_FORMAT }))).problem,
    ).toBe('missing-file');
  });

  it('splits Avazu by its last day and takes a separate test file', async () => {
    const avazu = join(dir, 'a.csv');
    const hours = [
      '14102100',
      '14102105',
      '14102200',
      '14102223',
      '14102300',
      '14102301',
      '14102302',
      '14102303',
      '14102310',
    ];
    const rows = hours.map((h, i) =>
      [
        String(1000 + i),
        String(i % 2),
        h,
        ...AVAZU_CATEGORICAL.slice(1).map((c) => `${c}${i % 2}`),
      ].join(','),
    );
    writeFileSync(avazu, `id,click,${AVAZU_CATEGORICAL.join(',')}\n${rows.join('\n')}\n`);
    const info = await prepare({ path: avazu, format: AVAZU_FORMAT });
    // Last day 141023: 5 rows -> test 3, validation 2; train = the 4 rows before.
    expect(info.split).toMatchObject({
      scheme: { kind: 'last-day' },
      train: { start: 0, end: 4 },
      test: { start: 4, end: 7 },
    });
    expect(info.rows).toEqual({ train: 4, test: 3, validation: 2 });
    // What a client replays against the trained model: the same test rows, without preparing.
    expect(await defaultTestRange({ path: avazu, format: AVAZU_FORMAT })).toEqual(info.split.test);
    // hour is a numeric field: its values sort by value.
    expect(PreparedDataset.open(join(dir, 'prepared')).vocabulary.fields[0]).toMatchObject({
      name: 'hour',
      order: 'numeric',
    });

    const train = writeCriteo(
      'tr.txt',
      Array.from({ length: 20 }, (_, i) => criteoRow(i)),
    );
    const test = writeCriteo(
      'te.txt',
      Array.from({ length: 5 }, (_, i) => criteoRow(i + 100)),
    );
    const sep = await prepareDataset({ train, test, outDir: join(dir, 'sep') });
    expect(sep.split.scheme).toEqual({ kind: 'separate-test', validationFraction: 0.1 });
    expect(sep.rows).toEqual({ train: 18, validation: 2, test: 5 });
    expect(sep.sources.test?.rows).toBe(5);
    const chunked = await prepareDataset({ train, outDir: join(dir, 'chunked') });
    expect(chunked.split.scheme.kind).toBe('chunks');
    expect(await defaultTestRange(train)).toEqual(chunked.split.test);
    const mismatch = await failure(
      prepareDataset({
        train,
        test: { path: avazu, format: AVAZU_FORMAT },
        outDir: join(dir, 'x'),
      }),
    );
    expect(mismatch.message).toMatch(/feature columns differ/);
    expect(
      (
        await failure(
          prepareDataset({ train, outDir: join(dir, 'y'), split: { kind: 'separate-test' } }),
        )
      ).message,
    ).toMatch(/needs a separate test file/);
  });
});

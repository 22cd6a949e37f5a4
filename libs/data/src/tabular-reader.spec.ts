import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataError } from './errors';
import {
  AVAZU_CATEGORICAL,
  AVAZU_FORMAT,
  CRITEO_FORMAT,
  csvFormat,
  parseDataSource,
  type DataSource,
} from './formats';
import { countNonBlankLines, readLineBlocks } from './line-blocks';
import { emptyStats, TabularReader, type BatchOptions, type RawBatch } from './tabular-reader';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'embpress-data-reader-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** One Criteo line: label, 13 dense texts, 26 categorical texts. */
const criteoLine = (label: string, dense: string[], cats: string[]) =>
  [label, ...dense, ...cats].join('\t');
const dense13 = (first: string[]) => [...first, ...Array(13 - first.length).fill('1')];
const cats26 = (first: string[]) => [
  ...first,
  ...Array.from({ length: 26 - first.length }, (_, i) => `c${i}`),
];

const CRITEO_TEXT = [
  criteoLine('1', dense13(['5', '-1', '']), cats26(['68fd1e64', '', '80e26c9b'])),
  criteoLine('0', dense13(['', '0', '12']), cats26(['68fd1e64', 'fb936136', ''])),
  criteoLine('0', dense13(['3', '7', '1']), cats26(['05db9164', 'fb936136', 'aaaa0000'])),
].join('\n');

async function readAll(source: DataSource, options: BatchOptions = {}): Promise<RawBatch[]> {
  const reader = await TabularReader.open(source);
  const out: RawBatch[] = [];
  for await (const b of reader.batches(options)) out.push(b);
  return out;
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

describe('Criteo TSV', () => {
  it('reads labels, raw dense values (empty = NaN) and categorical texts (empty = "") in batches', async () => {
    const path = file('criteo.txt', `${CRITEO_TEXT}\n`);
    const batches = await readAll({ path, format: CRITEO_FORMAT }, { batchRows: 2 });
    expect(batches.map((b) => b.size)).toEqual([2, 1]);
    const [b0, b1] = batches as [RawBatch, RawBatch];
    expect(Array.from(b0.labels)).toEqual([1, 0]);
    expect(Array.from(b0.dense.subarray(0, 4))).toEqual([5, -1, Number.NaN, 1]);
    expect(Array.from(b0.dense.subarray(13, 16))).toEqual([Number.NaN, 0, 12]);
    expect(b0.categorical.slice(0, 3)).toEqual(['68fd1e64', '', '80e26c9b']);
    expect(b0.categorical.slice(26, 29)).toEqual(['68fd1e64', 'fb936136', '']);
    expect(b0.categorical).toHaveLength(52);
    expect(b0.keys).toBeUndefined();
    expect(Array.from(b0.rowIndex)).toEqual([0, 1]);
    expect(Array.from(b1.rowIndex)).toEqual([2]);
    expect(b1.dense).toHaveLength(13);
    expect(b1.categorical[2]).toBe('aaaa0000');
  });

  it('names file, line and field of a malformed value, or skips and counts it', async () => {
    const bad = criteoLine('0', dense13(['1', '2', '3', '4', 'abc']), cats26([]));
    const path = file('train.txt', `${CRITEO_TEXT.split('\n')[0]}\n${bad}\n${CRITEO_TEXT}\n`);
    const err = await failure(readAll({ path, format: CRITEO_FORMAT }));
    expect(err.problem).toBe('malformed-line');
    expect(err.message).toBe(`${path}:2: field I5: "abc" is not an integer`);
    expect(err.location).toEqual({ file: path, line: 2, field: 'I5' });

    const stats = emptyStats();
    const batches = await readAll({ path, format: CRITEO_FORMAT }, { onBadLine: 'skip', stats });
    expect(stats).toMatchObject({ dataRows: 5, rows: 4, badLines: 1 });
    expect(stats.badLineExamples).toEqual([err.message]);
    // Positions count the skipped line, so split boundaries do not move.
    expect(Array.from(batches[0]?.rowIndex ?? [])).toEqual([0, 2, 3, 4]);
  });

  it.each([
    ['1.5', 'field I1: "1.5" is not an integer'],
    ['0x1f', 'field I1: "0x1f" is not an integer'],
    [' 5', 'field I1: " 5" is not an integer'],
  ])('refuses dense %j', async (value, message) => {
    const path = file('dense.txt', criteoLine('1', dense13([value]), cats26([])));
    expect((await failure(readAll({ path, format: CRITEO_FORMAT }))).message).toBe(
      `${path}:1: ${message}`,
    );
  });

  it('refuses a wrong field count and a label other than 0/1', async () => {
    const short = file('short.txt', `${CRITEO_TEXT}\n1\t2\t3\n`);
    expect((await failure(readAll({ path: short, format: CRITEO_FORMAT }))).message).toBe(
      `${short}:4: expected 40 fields separated by "\\t", got 3`,
    );
    const label = file('label.txt', criteoLine('2', dense13([]), cats26([])));
    expect((await failure(readAll({ path: label, format: CRITEO_FORMAT }))).message).toBe(
      `${label}:1: field label: "2" is not a label (expected 0 or 1)`,
    );
  });

  it('ignores blank lines and CRLF endings; the byte-level row count agrees with the reader', async () => {
    const lines = CRITEO_TEXT.split('\n');
    const path = file('crlf.txt', `\r\n${lines[0]}\r\n\r\n${lines[1]}\r\n\n${lines[2]}`);
    const batches = await readAll({ path, format: CRITEO_FORMAT });
    expect(batches[0]?.size).toBe(3);
    expect(batches[0]?.categorical[25]).toBe('c22');
    const reader = await TabularReader.open({ path, format: CRITEO_FORMAT });
    expect(await reader.countRows()).toBe(3);
    const stats = emptyStats();
    for await (const _ of reader.batches({ stats, range: { start: 1, end: 2 } })) void _;
    expect(stats.rows).toBe(1);
  });

  it('reads gzip input (detected by its magic bytes) like the plain file', async () => {
    const plain = await readAll({ path: file('p.txt', CRITEO_TEXT), format: CRITEO_FORMAT });
    const gz = await readAll({
      path: file('g.txt.gz', gzipSync(Buffer.from(CRITEO_TEXT))),
      format: CRITEO_FORMAT,
    });
    expect(gz).toEqual(plain);
    const corrupt = file('bad.gz', Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8));
    expect((await failure(readAll({ path: corrupt, format: CRITEO_FORMAT }))).message).toMatch(
      /corrupt gzip/,
    );
  });

  it('reports a missing file as missing-file', async () => {
    const err = await failure(readAll({ path: join(dir, 'nope.txt'), format: CRITEO_FORMAT }));
    expect(err.problem).toBe('missing-file');
    expect(err.message).toMatch(/nope\.txt: no such file/);
  });
});

describe('line splitting', () => {
  it('splits across chunk boundaries without breaking multi-byte characters', async () => {
    const text = 'héllo,wörld\n\n日本語,x\r\nlast';
    const path = file('utf8.txt', `\ufeff${text}`);
    const lines: string[] = [];
    let next = 1;
    for await (const block of readLineBlocks(path, { chunkBytes: 3 })) {
      expect(block.firstLine).toBe(next);
      next += block.lines.length;
      lines.push(...block.lines);
    }
    expect(lines).toEqual(['héllo,wörld', '', '日本語,x', 'last']);
    expect(await countNonBlankLines(path)).toBe(3);
  });
});

describe('Avazu CSV', () => {
  const header = ['id', 'click', ...AVAZU_CATEGORICAL].join(',');
  const row = (id: string, click: string, hour: string) =>
    [
      id,
      click,
      hour,
      ...AVAZU_CATEGORICAL.slice(1).map((c, i) => (i === 0 ? '1005' : `${c}v`)),
    ].join(',');

  it('reads the header, keeps the 64-bit id as text, labels from click, 22 fields in file order', async () => {
    const path = file(
      'avazu.csv',
      `${header}\n${row('10000169349117863715', '0', '14102100')}\n${row('1', '1', '14102101')}\n`,
    );
    const reader = await TabularReader.open({ path, format: AVAZU_FORMAT });
    expect(reader.layout.categoricalNames).toEqual(AVAZU_CATEGORICAL);
    expect(reader.layout.denseNames).toEqual([]);
    expect(await reader.countRows()).toBe(2);
    const [b] = await readAll({ path, format: AVAZU_FORMAT });
    expect(b?.keys).toEqual(['10000169349117863715', '1']);
    expect(Array.from(b?.labels ?? [])).toEqual([0, 1]);
    expect(b?.categorical.slice(0, 3)).toEqual(['14102100', '1005', 'banner_posv']);
    expect(b?.categorical).toHaveLength(44);
    expect(b?.dense).toHaveLength(0);
  });

  it('refuses an id that is not an unsigned 64-bit integer, and a header without click', async () => {
    const path = file('badid.csv', `${header}\n${row('18446744073709551616', '0', '14102100')}\n`);
    expect((await failure(readAll({ path, format: AVAZU_FORMAT }))).message).toBe(
      `${path}:2: field id: "18446744073709551616" is not an unsigned 64-bit integer`,
    );
    const noClick = file('noclick.csv', `id,hour,C1\n1,14102100,1005\n`);
    const err = await failure(TabularReader.open({ path: noClick, format: AVAZU_FORMAT }));
    expect(err.problem).toBe('bad-schema');
    expect(err.message).toBe(`${noClick}:1: header has no column "click" (columns: id, hour, C1)`);
  });

  it('calls a file without even a header empty', async () => {
    const path = file('empty.csv', '\n\n');
    expect((await failure(TabularReader.open({ path, format: AVAZU_FORMAT }))).problem).toBe(
      'empty-file',
    );
  });
});

describe('CSV with a JSON schema', () => {
  const schema = {
    label: { column: 'income', positive: ['>50K', '>50K.'], negative: ['<=50K', '<=50K.'] },
    dense: ['age', 'hours'],
    categorical: ['work', 'country'],
    missing: ['?'],
    trim: true,
  };

  it('maps labels, parses numbers, trims, unquotes and turns missing markers into missing', async () => {
    const path = file(
      'adult.csv',
      [
        'age, work, hours, country, income',
        '39, State-gov, 40, United-States, <=50K',
        '50, "Self-emp, inc", 1.5e1, ?, >50K.',
        '?, "say ""hi""", -2, Cuba, >50K',
      ].join('\n'),
    );
    const format = csvFormat(schema);
    const [b] = await readAll({ path, format });
    expect(Array.from(b?.labels ?? [])).toEqual([0, 1, 1]);
    expect(Array.from(b?.dense ?? [])).toEqual([39, 40, 50, 15, Number.NaN, -2]);
    expect(b?.categorical).toEqual([
      'State-gov',
      'United-States',
      'Self-emp, inc',
      '',
      'say "hi"',
      'Cuba',
    ]);
  });

  it('names the field of a bad number or label and reports an unterminated quote', async () => {
    const format = csvFormat(schema);
    const bad = file('bad.csv', 'age,work,hours,country,income\n3x,a,1,b,>50K\n');
    expect((await failure(readAll({ path: bad, format }))).message).toBe(
      `${bad}:2: field age: "3x" is not a number`,
    );
    const label = file('label.csv', 'age,work,hours,country,income\n3,a,1,b,maybe\n');
    expect((await failure(readAll({ path: label, format }))).message).toBe(
      `${label}:2: field income: "maybe" is not a label (1 for >50K, >50K.; 0 for <=50K, <=50K.)`,
    );
    const quote = file('quote.csv', 'age,work,hours,country,income\n3,"a,1,b,>50K\n');
    expect((await failure(readAll({ path: quote, format }))).message).toBe(
      `${quote}:2: unterminated quoted field starting at column 3`,
    );
  });

  it('reads a header-less file by the schema columns and finds the schema beside the data', async () => {
    const path = file('plain.csv', '1;x;0\n0;y;1\n');
    file(
      'plain.schema.json',
      JSON.stringify({
        delimiter: ';',
        header: false,
        columns: ['clicked', 'item', 'n'],
        label: 'clicked',
        dense: ['n'],
        categorical: 'rest',
      }),
    );
    const source = parseDataSource(`csv:${path}`);
    const [b] = await readAll(source);
    expect(Array.from(b?.labels ?? [])).toEqual([1, 0]);
    expect(b?.categorical).toEqual(['x', 'y']);
    expect(Array.from(b?.dense ?? [])).toEqual([0, 1]);
  });

  it('refuses an invalid schema with every problem listed', () => {
    let err: unknown;
    try {
      csvFormat({ header: false, label: 'y', dense: ['a'], categorical: ['a', 'b'] }, 's.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).problem).toBe('bad-schema');
    expect((err as DataError).message).toMatch(
      /^s\.json: columns: required when header is false; .*column a is used twice/,
    );
  });

  it('parses KIND:PATH and refuses unknown kinds', () => {
    expect(parseDataSource('criteo:/x/train.txt')).toEqual({
      path: '/x/train.txt',
      format: CRITEO_FORMAT,
    });
    expect(parseDataSource('avazu:a:b.csv').path).toBe('a:b.csv');
    expect(() => parseDataSource('parquet:x')).toThrow(/unknown kind "parquet"/);
    expect(() => parseDataSource('train.txt')).toThrow(/must be KIND:PATH/);
  });
});

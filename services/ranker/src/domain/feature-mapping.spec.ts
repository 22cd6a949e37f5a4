// The ranker's mapping of raw request features must give the model exactly what the trainer's
// encoding (libs/data encodeBatch) gave it for the same raw rows.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { encodeBatch, VocabularyBuilder, type RawBatch } from '@embpress/data';
import { InvalidArgumentError } from '@embpress/service-kit';
import { ranker } from '@embpress/proto';
import { decodeRankRequest, PackedStrings } from '../wire/rank-request-decoder';
import { FeatureMapping } from './feature-mapping';

const DENSE = ['I1', 'I2'];
const CATS = ['C1', 'C2'];

function raw(rows: Array<{ dense: number[]; cats: string[] }>): RawBatch {
  return {
    size: rows.length,
    labels: new Float32Array(rows.length),
    dense: Float64Array.from(rows.flatMap((r) => r.dense)),
    categorical: rows.flatMap((r) => r.cats),
    keys: undefined,
    rowIndex: Float64Array.from(rows.map((_, i) => i)),
  };
}

const train = raw([
  { dense: [1, 0], cats: ['a', 'x'] },
  { dense: [5, -3], cats: ['b', ''] },
  { dense: [NaN, 2.5], cats: ['a', 'y'] },
]);
const builder = new VocabularyBuilder(CATS);
builder.add(train);
const { vocabulary } = builder.build();
const mapping = new FeatureMapping(DENSE, vocabulary);

const num = (name: string, value: number): ranker.Feature => ({
  name,
  value: { $case: 'numeric', value },
});
const cat = (name: string, value: string): ranker.Feature => ({
  name,
  value: { $case: 'categorical', value },
});

/** A raw row as a candidate: NaN and '' (missing) are left out, as a client would. */
function candidate(id: string, dense: number[], cats: string[]): ranker.Candidate {
  return {
    id,
    features: [
      ...dense.flatMap((v, i) => (Number.isNaN(v) ? [] : [num(DENSE[i] as string, v)])),
      ...cats.flatMap((v, i) => (v === '' ? [] : [cat(CATS[i] as string, v)])),
    ],
  };
}

describe('FeatureMapping', () => {
  it('maps raw values exactly as the trainer encoded them (ln(v+1), missing, OOV)', () => {
    const rows = [
      { dense: [1, 0], cats: ['a', 'x'] },
      { dense: [5, -3], cats: ['b', ''] },
      { dense: [NaN, 2.5], cats: ['never-seen', 'y'] },
      { dense: [1e6, NaN], cats: ['', 'never-seen'] },
    ];
    const expected = encodeBatch(raw(rows), vocabulary);
    const got = mapping.map(
      [],
      rows.map((r, i) => candidate(`c${i}`, r.dense, r.cats)),
    );
    expect(got.size).toBe(rows.length);
    expect(Array.from(got.ids)).toEqual(Array.from(expected.sparse));
    expect(Array.from(got.dense)).toEqual(Array.from(expected.dense));
    // The missing value "" of C2 was seen in train: its own id, not the OOV bucket.
    expect(got.ids[1 * 2 + 1]).toBe(vocabulary.globalId(1, ''));
    expect(got.ids[1 * 2 + 1]).not.toBe(vocabulary.offsets[1]);
    // An unseen value goes to its field's OOV bucket (local id 0).
    expect(got.ids[2 * 2 + 0]).toBe(vocabulary.offsets[0]);
  });

  it('shares the context with every candidate; a candidate overrides it', () => {
    const got = mapping.map(
      [num('I1', 3), cat('C1', 'b')],
      [
        { id: 'p', features: [] },
        { id: 'q', features: [cat('C1', 'a'), num('I1', 0)] },
      ],
    );
    expect(got.dense[0]).toBeCloseTo(Math.log(4), 6);
    expect(got.ids[0]).toBe(vocabulary.globalId(0, 'b'));
    expect(got.dense[2]).toBe(0);
    expect(got.ids[2]).toBe(vocabulary.globalId(0, 'a'));
  });

  it('refuses unknown names and values of the wrong kind, naming the field', () => {
    const message = (features: ranker.Feature[]) => {
      try {
        mapping.map([], [{ id: 'a', features }]);
      } catch (err) {
        if (err instanceof InvalidArgumentError) return err.message;
        throw err;
      }
      return 'mapped';
    };
    expect(message([cat('C9', 'a')])).toMatch(
      /^candidates\[0\]\.features\[0\]\.name: "C9" is not a feature of this model/,
    );
    expect(message([cat('I1', '3')])).toBe(
      'candidates[0].features[0].value: "I1" is dense: needs numeric',
    );
    expect(message([num('C1', 3)])).toMatch(
      /^candidates\[0\]\.features\[0\]\.value: "C1" is categorical/,
    );
  });

  it('maps the columnar form exactly as the rows form (NaN and "" mark missing values)', () => {
    const rows = [
      { dense: [1, 0], cats: ['a', 'x'] },
      { dense: [5, -3], cats: ['b', ''] },
      { dense: [NaN, 2.5], cats: ['never-seen', 'y'] },
      { dense: [1e6, NaN], cats: ['', 'never-seen'] },
    ];
    const context = [num('I2', 7), cat('C2', 'y')];
    const columns: ranker.FeatureColumn[] = [
      { name: 'C1', numeric: [], categorical: rows.map((r) => r.cats[0] as string) },
      { name: 'I1', numeric: rows.map((r) => r.dense[0] as number), categorical: [] },
    ];
    const byColumns = mapping.mapColumns(context, rows.length, columns);
    const byRows = mapping.map(
      context,
      rows.map((r, i) =>
        candidate(`c${i}`, [r.dense[0] as number, NaN], [r.cats[0] as string, '']),
      ),
    );
    // Features given by neither form keep the context's values, in both forms alike.
    expect(Array.from(byColumns.ids)).toEqual(Array.from(byRows.ids));
    expect(Array.from(byColumns.dense)).toEqual(Array.from(byRows.dense));
    expect(byColumns.dense[1]).toBeCloseTo(Math.log(8), 6);
    const all = encodeBatch(raw(rows), vocabulary);
    const full = mapping.mapColumns([], rows.length, [
      ...DENSE.map((name, i) => ({
        name,
        numeric: rows.map((r) => r.dense[i] as number),
        categorical: [],
      })),
      ...CATS.map((name, i) => ({
        name,
        numeric: [],
        categorical: rows.map((r) => r.cats[i] as string),
      })),
    ]);
    expect(Array.from(full.ids)).toEqual(Array.from(all.sparse));
    expect(Array.from(full.dense)).toEqual(Array.from(all.dense));
  });

  it('refuses a column of the wrong kind, length or name, naming it', () => {
    const message = (columns: ranker.FeatureColumn[]) => {
      try {
        mapping.mapColumns([], 2, columns);
      } catch (err) {
        if (err instanceof InvalidArgumentError) return err.message;
        throw err;
      }
      return 'mapped';
    };
    expect(message([{ name: 'C9', numeric: [], categorical: ['a', 'b'] }])).toMatch(
      /^columns\[0\]\.name: "C9" is not a feature of this model/,
    );
    expect(message([{ name: 'I1', numeric: [], categorical: ['1', '2'] }])).toBe(
      'columns[0].numeric: "I1" is dense: needs 2 numeric values (one per candidate), got 0',
    );
    expect(message([{ name: 'C1', numeric: [], categorical: ['a'] }])).toBe(
      'columns[0].categorical: "C1" is categorical: needs 2 categorical values (one per candidate), got 1',
    );
  });

  it('maps packed values (a decoded request) to the ids of their strings, malformed UTF-8 included', () => {
    // Keys a byte lookup could get wrong: non-ASCII, U+FFFD itself (what malformed bytes decode
    // to), a lone surrogate (never equal to a decoded string), the empty string.
    const keys = ['a', 'é', '\uFFFD', '\uFFFDa', '\uD800', '日本', ''];
    const odd = new VocabularyBuilder(['C1']);
    odd.add({ size: keys.length, categorical: keys });
    const oddMapping = new FeatureMapping([], odd.build().vocabulary);
    const values: Uint8Array[] = [
      ...[...keys, 'never-seen', 'É'].map((k) => new TextEncoder().encode(k)),
      new Uint8Array([0xff]), // decodes to U+FFFD: a key
      new Uint8Array([0xff, 0x61]), // U+FFFD a: a key
      new Uint8Array([0xed, 0xa0, 0x80]), // an encoded lone surrogate: decodes to U+FFFD x3, not a key
      new Uint8Array([0xc3]), // truncated é
    ];
    // A request carrying these bytes, encoded by hand (ts-proto's writer takes strings only).
    const w = new BinaryWriter();
    values.forEach((_, i) => w.uint32((5 << 3) | 2).string(`c${i}`));
    w.uint32((6 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string('C1');
    values.forEach((v) => w.uint32((3 << 3) | 2).bytes(v));
    w.join();
    const bytes = w.finish();
    const packed = decodeRankRequest(bytes);
    expect(packed.columns[0]?.categorical).toBeInstanceOf(PackedStrings);
    const strings = ranker.RankRequest.decode(bytes);
    const byBytes = oddMapping.mapColumns([], values.length, packed.columns);
    const byStrings = oddMapping.mapColumns([], values.length, strings.columns);
    expect(Array.from(byBytes.ids)).toEqual(Array.from(byStrings.ids));
    // Only three values are unseen: never-seen, É and the encoded surrogate (three U+FFFD); the
    // truncated é and 0xff decode to U+FFFD, a key. (The vocabulary sorts '\uD800' before
    // '\uFFFD': indexed by its bytes, EF BF BD, it would have taken U+FFFD's place.)
    expect(Array.from(byStrings.ids).filter((id) => id === 0).length).toBe(3);
  });
});

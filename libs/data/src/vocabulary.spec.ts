import { transformDense, transformDenseValue } from './dense';
import { encodeBatch } from './encode';
import { DataError } from './errors';
import type { RawBatch } from './tabular-reader';
import {
  compareIntegerText,
  MISSING_VALUE,
  OOV_ID,
  sortValues,
  Vocabulary,
  VocabularyBuilder,
} from './vocabulary';

/** A raw batch of categorical rows (row-major) for two fields. */
const batch = (rows: [string, string][]): RawBatch => ({
  size: rows.length,
  labels: new Float32Array(rows.length),
  dense: new Float64Array(rows.length),
  categorical: rows.flat(),
  keys: undefined,
  rowIndex: Float64Array.from(rows, (_, i) => i),
});

describe('Vocabulary', () => {
  const rows: [string, string][] = [
    ['b', '10'],
    ['a', '9'],
    ['', '-3'],
    ['b', '10'],
    ['c', '007'],
    ['b', '7'],
  ];

  it('encodes each field in sorted order of its distinct values, OOV = 0, missing a value of its own', () => {
    const builder = new VocabularyBuilder(['s', 'n']);
    builder.add(batch(rows));
    const { vocabulary: v } = builder.build();
    // String field: '' (missing) sorts first; ids start at 1 after the OOV bucket.
    expect(v.fields[0]).toMatchObject({ name: 's', order: 'string', values: ['', 'a', 'b', 'c'] });
    // Integer field: numeric order (as pandas/LabelEncoder), "007" and "7" distinct.
    expect(v.fields[1]).toMatchObject({ order: 'numeric', values: ['-3', '007', '7', '9', '10'] });
    expect(v.cardinalities()).toEqual([5, 6]);
    expect(Array.from(v.offsets)).toEqual([0, 5, 11]);
    expect(v.size).toBe(11);
    expect(v.localId(0, MISSING_VALUE)).toBe(1);
    expect(v.localId(0, 'b')).toBe(3);
    expect(v.localId(0, 'zzz')).toBe(OOV_ID);
    expect(v.globalId(1, '10')).toBe(5 + 5);
    expect(v.globalId(1, '11')).toBe(5 + OOV_ID);
    expect(v.value(0, 3)).toBe('b');
    expect(v.value(0, OOV_ID)).toBeUndefined();
    expect(Array.from(v.encode(['c', '9', 'x', '-3'], 2))).toEqual([4, 5 + 4, 0, 5 + 1]);
  });

  it('sends values seen fewer than minCount times to the OOV bucket; frequencies count train rows', () => {
    const builder = new VocabularyBuilder(['s', 'n']);
    builder.add(batch(rows));
    const { vocabulary: v, frequencies } = builder.build(2);
    expect(v.fields[0]?.values).toEqual(['b']);
    expect(v.fields[1]?.values).toEqual(['10']);
    expect(v.localId(0, 'a')).toBe(OOV_ID);
    // Field s: OOV holds a, '', c (3 rows); b 3 rows. Field n: OOV 4 rows; "10" 2 rows.
    expect(Array.from(frequencies)).toEqual([3, 3, 4, 2]);
    const all = new VocabularyBuilder(['s', 'n']);
    all.add(batch(rows), 0, 3); // only the first three rows
    expect(Array.from(all.build().frequencies)).toEqual([0, 1, 1, 1, 0, 1, 1, 1]);
    expect(() => builder.build(0)).toThrow(DataError);
  });

  it('round-trips through JSON and maps raw values identically after it', () => {
    const builder = new VocabularyBuilder(['s', 'n']);
    builder.add(batch(rows));
    const { vocabulary: v } = builder.build();
    const back = Vocabulary.fromJSON(JSON.parse(JSON.stringify(v)));
    expect(back.toJSON()).toEqual(v.toJSON());
    expect(back.fingerprint()).toBe(v.fingerprint());
    for (const [s, n] of [...rows, ['new', '12345'] as [string, string]])
      expect([back.globalId(0, s), back.globalId(1, n)]).toEqual([
        v.globalId(0, s),
        v.globalId(1, n),
      ]);
  });

  it('refuses a vocabulary JSON that is not distinct and sorted, or not one at all', () => {
    const json = new Vocabulary([
      { name: 'f', order: 'string', minCount: 1, values: ['a', 'b'] },
    ]).toJSON();
    const bad = (fields: unknown) => () =>
      Vocabulary.fromJSON({ ...json, fields }, 'model/vocab.json');
    expect(bad([{ ...json.fields[0], values: ['b', 'a'] }])).toThrow(
      'model/vocab.json: field f: value 1 ("a") breaks the distinct string order',
    );
    expect(bad([{ ...json.fields[0], values: ['a', 'a'] }])).toThrow(
      /breaks the distinct string order/,
    );
    expect(bad([{ ...json.fields[0], order: 'numeric', values: ['1', 'x'] }])).toThrow(
      /numeric order/,
    );
    expect(() => Vocabulary.fromJSON({ format: 'x' })).toThrow(/^vocabulary: format/);
  });

  it('orders integer texts by value, then by text', () => {
    const v = ['10', '-2', '9', '-10', '0', '00', '18446744073709551616'];
    expect(sortValues(v)).toBe('numeric');
    expect(v).toEqual(['-10', '-2', '0', '00', '9', '10', '18446744073709551616']);
    expect(compareIntegerText('-1', '1')).toBeLessThan(0);
    const s = ['b', '10', 'a'];
    expect(sortValues(s)).toBe('string');
    expect(s).toEqual(['10', 'a', 'b']);
  });
});

describe('dense transform and batch encoding', () => {
  it('maps missing and v <= 0 to 0 and v > 0 to ln(v + 1)', () => {
    expect(Array.from(transformDense([Number.NaN, -3, 0, 1, Math.E - 1, 1e9]))).toEqual([
      0,
      0,
      0,
      Math.fround(Math.LN2),
      1,
      Math.fround(Math.log(1e9 + 1)),
    ]);
    expect(transformDenseValue(1e-10)).toBeCloseTo(1e-10, 20);
  });

  it('encodes a raw batch: labels kept, dense transformed, categorical as global ids', () => {
    const v = new Vocabulary([
      { name: 'a', order: 'string', minCount: 1, values: ['x'] },
      { name: 'b', order: 'string', minCount: 1, values: ['', 'y'] },
    ]);
    const raw: RawBatch = {
      size: 2,
      labels: Float32Array.of(1, 0),
      dense: Float64Array.of(3, Number.NaN),
      categorical: ['x', '', 'q', 'y'],
      keys: undefined,
      rowIndex: Float64Array.of(0, 1),
    };
    const enc = encodeBatch(raw, v);
    expect(Array.from(enc.labels)).toEqual([1, 0]);
    expect(Array.from(enc.dense)).toEqual([Math.fround(Math.log(4)), 0]);
    expect(Array.from(enc.sparse)).toEqual([1, 2 + 1, 0, 2 + 2]);
  });
});

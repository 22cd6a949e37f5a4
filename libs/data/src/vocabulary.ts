// Per-field vocabularies (label encoding, docs/methods/reference.md#data) built from the TRAIN
// split.
//
// Layout of a field's local ids: 0 is the out-of-vocabulary bucket (values never seen in train,
// or seen fewer than minCount times); 1..k are the kept values in sorted order of their raw text,
// as the reference's LabelEncoder sorts them: numerically when every value of the field is an
// integer (pandas reads such columns as integers, e.g. Avazu's C1 or hour), else by string (UTF-16
// code units, i.e. byte order for ASCII data). The missing value is the empty string: it sorts
// first and is a value of its own, never merged with a real one. Global id = offset_f + local id.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DataError } from './errors';
import type { RawBatch } from './tabular-reader';

export type ValueOrder = 'string' | 'numeric';

/** The raw text of a missing categorical value. */
export const MISSING_VALUE = '';
/** Local id of every field's out-of-vocabulary bucket. */
export const OOV_ID = 0;

export interface VocabularyField {
  readonly name: string;
  readonly order: ValueOrder;
  readonly minCount: number;
  /** Kept values in id order: `values[i]` has local id i + 1. */
  readonly values: readonly string[];
}

const fieldJson = z
  .object({
    name: z.string().min(1),
    order: z.enum(['string', 'numeric']),
    minCount: z.number().int().min(1),
    values: z.array(z.string()),
  })
  .strict();

export const vocabularyJson = z
  .object({
    format: z.literal('embpress.vocabulary'),
    version: z.literal(1),
    oovId: z.literal(OOV_ID),
    missingValue: z.literal(MISSING_VALUE),
    fields: z.array(fieldJson).min(1),
  })
  .strict();

export type VocabularyJson = z.infer<typeof vocabularyJson>;

const INTEGER = /^-?\d+$/;

/** Total order of integer texts: by value, then by text (so "07" and "7" stay distinct). */
export function compareIntegerText(a: string, b: string): number {
  const na = a.charCodeAt(0) === 45;
  const nb = b.charCodeAt(0) === 45;
  if (na !== nb) return na ? -1 : 1;
  const ma = stripZeros(na ? a.slice(1) : a);
  const mb = stripZeros(nb ? b.slice(1) : b);
  let c = ma.length - mb.length;
  if (c === 0) c = ma < mb ? -1 : ma > mb ? 1 : 0;
  if (na) c = -c;
  if (c !== 0) return c;
  return a < b ? -1 : a > b ? 1 : 0;
}

function stripZeros(s: string): string {
  let i = 0;
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i += 1;
  return s.slice(i);
}

/** Sorts distinct raw values as the reference's label encoder would; returns the order used. */
export function sortValues(values: string[]): ValueOrder {
  let numeric = values.length > 0;
  for (const v of values)
    if (v !== MISSING_VALUE && !INTEGER.test(v)) {
      numeric = false;
      break;
    }
  if (!numeric) {
    values.sort();
    return 'string';
  }
  values.sort(compareNumericField);
  return 'numeric';
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numeric order with the missing value first. */
function compareNumericField(a: string, b: string): number {
  if (a === MISSING_VALUE) return b === MISSING_VALUE ? 0 : -1;
  return b === MISSING_VALUE ? 1 : compareIntegerText(a, b);
}

export class Vocabulary {
  readonly fields: readonly VocabularyField[];
  /** offsets[f] = first global id of field f; offsets[F] = total size. */
  readonly offsets: Uint32Array;
  private readonly indexes: (Map<string, number> | undefined)[];
  private fingerprintCache: string | undefined;

  constructor(fields: readonly VocabularyField[]) {
    if (fields.length === 0) throw new DataError('bad-vocabulary', 'a vocabulary needs fields');
    this.fields = fields;
    this.offsets = new Uint32Array(fields.length + 1);
    let total = 0;
    fields.forEach((f, i) => {
      this.offsets[i] = total;
      total += f.values.length + 1;
      if (total > 0xffffffff)
        throw new DataError('bad-vocabulary', 'more than 2^32 - 1 features: ids are uint32');
    });
    this.offsets[fields.length] = total;
    this.indexes = fields.map(() => undefined);
  }

  /** Total number of ids (all fields, OOV buckets included). */
  get size(): number {
    return this.offsets[this.fields.length] as number;
  }

  /** Rows of each field's table: kept values + 1 (the OOV bucket). */
  cardinalities(): number[] {
    return this.fields.map((f) => f.values.length + 1);
  }

  fieldIndex(name: string): number {
    const i = this.fields.findIndex((f) => f.name === name);
    if (i < 0) throw new DataError('bad-argument', `vocabulary has no field ${name}`);
    return i;
  }

  private index(field: number): Map<string, number> {
    let m = this.indexes[field];
    if (m === undefined) {
      const f = this.fields[field];
      if (f === undefined) throw new DataError('bad-argument', `no field ${field}`);
      // Built on first use: a served vocabulary may be large and only some fields queried.
      m = new Map();
      f.values.forEach((v, i) => (m as Map<string, number>).set(v, i + 1));
      this.indexes[field] = m;
    }
    return m;
  }

  /** Local id of a raw value in `field` (0 = OOV). */
  localId(field: number, raw: string): number {
    return this.index(field).get(raw) ?? OOV_ID;
  }

  globalId(field: number, raw: string): number {
    return (this.offsets[field] as number) + this.localId(field, raw);
  }

  /** The raw value of a local id, undefined for the OOV bucket. */
  value(field: number, localId: number): string | undefined {
    return localId === OOV_ID ? undefined : this.fields[field]?.values[localId - 1];
  }

  /** Global ids of `rows` rows of raw values (row-major, one per field) into `out`. */
  encode(
    categorical: readonly string[],
    rows: number,
    out = new Uint32Array(rows * this.fields.length),
  ): Uint32Array {
    const nf = this.fields.length;
    if (categorical.length < rows * nf)
      throw new DataError(
        'bad-argument',
        `encode: ${categorical.length} values for ${rows} rows of ${nf} fields`,
      );
    for (let f = 0; f < nf; f += 1) {
      const m = this.index(f);
      const off = this.offsets[f] as number;
      for (let r = 0; r < rows; r += 1)
        out[r * nf + f] = off + (m.get(categorical[r * nf + f] as string) ?? OOV_ID);
    }
    return out;
  }

  toJSON(): VocabularyJson {
    return {
      format: 'embpress.vocabulary',
      version: 1,
      oovId: OOV_ID,
      missingValue: MISSING_VALUE,
      fields: this.fields.map((f) => ({
        name: f.name,
        order: f.order,
        minCount: f.minCount,
        values: [...f.values],
      })),
    };
  }

  /** SHA-256 of the canonical JSON: two vocabularies map raw values identically iff equal. */
  fingerprint(): string {
    this.fingerprintCache ??= createHash('sha256')
      .update(JSON.stringify(this.toJSON()))
      .digest('hex');
    return this.fingerprintCache;
  }

  /** Validates parsed JSON (e.g. from a model directory); `where` names the source in errors. */
  static fromJSON(json: unknown, where = 'vocabulary'): Vocabulary {
    const parsed = vocabularyJson.safeParse(json);
    if (!parsed.success)
      throw new DataError(
        'bad-vocabulary',
        `${where}: ${parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ')}`,
      );
    for (const f of parsed.data.fields) {
      // Strictly increasing in the declared order: distinct and sorted, checked in O(n).
      const cmp = f.order === 'string' ? compareText : compareNumericField;
      const bad = f.values.findIndex(
        (v, i) =>
          (f.order === 'numeric' && v !== MISSING_VALUE && !INTEGER.test(v)) ||
          (i > 0 && cmp(f.values[i - 1] as string, v) >= 0),
      );
      if (bad >= 0)
        throw new DataError(
          'bad-vocabulary',
          `${where}: field ${f.name}: value ${bad} (${JSON.stringify(f.values[bad])}) breaks the distinct ${f.order} order`,
        );
    }
    return new Vocabulary(parsed.data.fields);
  }
}

/** Counts raw values per field over the rows it is given (the train split). */
export class VocabularyBuilder {
  private readonly counts: Map<string, number>[];
  rows = 0;

  constructor(readonly names: readonly string[]) {
    this.counts = names.map(() => new Map());
  }

  add(batch: Pick<RawBatch, 'size' | 'categorical'>, from = 0, to = batch.size): void {
    const nf = this.names.length;
    for (let f = 0; f < nf; f += 1) {
      const m = this.counts[f] as Map<string, number>;
      for (let r = from; r < to; r += 1) {
        const v = batch.categorical[r * nf + f] as string;
        m.set(v, (m.get(v) ?? 0) + 1);
      }
    }
    this.rows += to - from;
  }

  /**
   * The vocabulary (values seen >= minCount times) and the train frequency of every global id
   * (the OOV bucket counts the dropped values' occurrences), docs/methods/reference.md#data.
   */
  build(minCount = 1): { vocabulary: Vocabulary; frequencies: Uint32Array } {
    if (!Number.isInteger(minCount) || minCount < 1)
      throw new DataError('bad-argument', `minCount must be an integer >= 1, got ${minCount}`);
    const fields: VocabularyField[] = this.names.map((name, f) => {
      const m = this.counts[f] as Map<string, number>;
      const values: string[] = [];
      for (const [v, c] of m) if (c >= minCount) values.push(v);
      const order = sortValues(values);
      return { name, order, minCount, values };
    });
    const vocabulary = new Vocabulary(fields);
    const frequencies = new Uint32Array(vocabulary.size);
    fields.forEach((field, f) => {
      const m = this.counts[f] as Map<string, number>;
      const off = vocabulary.offsets[f] as number;
      let dropped = 0;
      for (const [, c] of m) if (c < minCount) dropped += c;
      frequencies[off + OOV_ID] = dropped;
      field.values.forEach((v, i) => (frequencies[off + i + 1] = m.get(v) as number));
    });
    return { vocabulary, frequencies };
  }
}

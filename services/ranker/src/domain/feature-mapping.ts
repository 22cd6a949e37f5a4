// Raw request features → the model's inputs, exactly as the trainer encoded its rows (libs/data,
// docs/methods/reference.md#data): a dense field becomes ln(v + 1) for v > 0, else 0, and a missing
// one 0 (the reader's NaN); a categorical field becomes offset_f + its local id in the train
// vocabulary, the missing value being the empty string (a value of its own) and an unseen value the
// field's OOV bucket (local id 0). A candidate's own features override the shared context's.
import type { ranker } from '@embpress/proto';
import { MISSING_VALUE, OOV_ID, transformDenseValue, type Vocabulary } from '@embpress/data';
import { FailedPreconditionError, InvalidArgumentError } from '@embpress/service-kit';
import { PackedStrings, type FeatureColumnIn } from '../wire/rank-request-decoder';
import { Utf8Index } from './utf8-index';

/** The model's inputs for a batch of candidates. */
export interface MappedBatch {
  /** Candidates (rows of the batch). */
  size: number;
  /** size × fields global row ids of the model's one table, candidate-major. */
  ids: Uint32Array;
  /** size × denseFields transformed dense values (float32, as the trainer fed them). */
  dense: Float32Array;
}

/** Where a named feature goes: a dense column, or a categorical field with its value → id map. */
type Slot =
  | { kind: 'dense'; index: number }
  | {
      kind: 'categorical';
      index: number;
      offset: number;
      ids: ReadonlyMap<string, number>;
      /** The same map keyed by UTF-8 bytes, for packed request values. */
      bytes: Utf8Index;
    };

export class FeatureMapping {
  private readonly slots = new Map<string, Slot>();
  /** Global id of each field's missing value ('' if seen in train, else the OOV bucket). */
  private readonly missingIds: Uint32Array;

  constructor(
    readonly denseNames: readonly string[],
    readonly vocabulary: Vocabulary,
  ) {
    denseNames.forEach((name, index) => this.slots.set(name, { kind: 'dense', index }));
    vocabulary.fields.forEach((field, index) => {
      if (this.slots.has(field.name))
        throw new FailedPreconditionError(
          `the model's feature "${field.name}" is both dense and categorical`,
        );
      // Global ids of the kept values, built here once rather than on a request's first use.
      const offset = vocabulary.offsets[index] as number;
      const ids = new Map<string, number>();
      field.values.forEach((value) => ids.set(value, vocabulary.globalId(index, value)));
      this.slots.set(field.name, {
        kind: 'categorical',
        index,
        offset,
        ids,
        bytes: new Utf8Index(ids),
      });
    });
    this.missingIds = Uint32Array.from(vocabulary.fields, (_, f) =>
      vocabulary.globalId(f, MISSING_VALUE),
    );
  }

  get fields(): number {
    return this.vocabulary.fields.length;
  }

  /** Maps the request's context and candidates; names the offending request field on bad input. */
  map(context: readonly ranker.Feature[], candidates: readonly ranker.Candidate[]): MappedBatch {
    const batch = this.base(context, candidates.length);
    const nd = this.denseNames.length;
    const nf = this.fields;
    candidates.forEach((candidate, c) => {
      candidate.features.forEach((feature, i) =>
        this.apply(
          feature,
          `candidates[${c}].features[${i}]`,
          batch.dense,
          batch.ids,
          c * nd,
          c * nf,
        ),
      );
    });
    return batch;
  }

  /**
   * The columnar form: each column names one feature and holds one value per candidate. One slot
   * lookup per column, then a tight loop over its values (no object per value).
   */
  mapColumns(
    context: readonly ranker.Feature[],
    size: number,
    columns: readonly FeatureColumnIn[],
  ): MappedBatch {
    const batch = this.base(context, size);
    const nd = this.denseNames.length;
    const nf = this.fields;
    columns.forEach((column, k) => {
      const slot = this.slotOf(column.name, `columns[${k}].name`);
      if (slot.kind === 'dense') {
        if (column.numeric.length !== size)
          throw new InvalidArgumentError(
            `columns[${k}].numeric`,
            `"${column.name}" is dense: needs ${size} numeric values (one per candidate), got ${column.numeric.length}`,
          );
        const values = column.numeric;
        for (let c = 0, at = slot.index; c < size; c += 1, at += nd)
          batch.dense[at] = transformDenseValue(values[c] as number);
      } else {
        if (column.categorical.length !== size)
          throw new InvalidArgumentError(
            `columns[${k}].categorical`,
            `"${column.name}" is categorical: needs ${size} categorical values (one per candidate), got ${column.categorical.length}`,
          );
        const values = column.categorical;
        const oov = slot.offset + OOV_ID;
        if (values instanceof PackedStrings) mapPacked(slot, values, batch.ids, slot.index, nf);
        else
          for (let c = 0, at = slot.index; c < size; c += 1, at += nf)
            batch.ids[at] = slot.ids.get(values[c] as string) ?? oov;
      }
    });
    return batch;
  }

  /** A batch of `size` candidates holding the context's values (missing values elsewhere). */
  private base(context: readonly ranker.Feature[], size: number): MappedBatch {
    const nd = this.denseNames.length;
    const nf = this.fields;
    // The context, mapped once: missing values first, then what the context gives.
    const baseDense = new Float32Array(nd); // missing → 0
    const baseIds = Uint32Array.from(this.missingIds);
    context.forEach((feature, i) => this.apply(feature, `context[${i}]`, baseDense, baseIds, 0, 0));
    const dense = new Float32Array(size * nd);
    const ids = new Uint32Array(size * nf);
    for (let c = 0; c < size; c += 1) {
      dense.set(baseDense, c * nd);
      ids.set(baseIds, c * nf);
    }
    return { size, ids, dense };
  }

  private slotOf(name: string, at: string): Slot {
    const slot = this.slots.get(name);
    if (slot === undefined)
      throw new InvalidArgumentError(
        at,
        `"${name}" is not a feature of this model (dense: ${this.denseNames.join(', ') || 'none'}; categorical: ${this.vocabulary.fields.map((f) => f.name).join(', ')})`,
      );
    return slot;
  }

  private apply(
    feature: ranker.Feature,
    at: string,
    dense: Float32Array,
    ids: Uint32Array,
    denseAt: number,
    idsAt: number,
  ): void {
    const slot = this.slotOf(feature.name, `${at}.name`);
    const value = feature.value;
    if (slot.kind === 'dense') {
      if (value?.$case !== 'numeric')
        throw new InvalidArgumentError(`${at}.value`, `"${feature.name}" is dense: needs numeric`);
      dense[denseAt + slot.index] = transformDenseValue(value.value);
    } else {
      if (value?.$case !== 'categorical')
        throw new InvalidArgumentError(
          `${at}.value`,
          `"${feature.name}" is categorical: needs categorical (the raw text, e.g. "68fd1e64")`,
        );
      // Unseen values: the field's OOV bucket, local id 0.
      ids[idsAt + slot.index] = slot.ids.get(value.value) ?? slot.offset + OOV_ID;
    }
  }
}

/**
 * Packed values (a decoded request's bytes) to ids: looked up by their UTF-8 bytes. A value that
 * misses and holds a byte >= 0x80 may be malformed UTF-8, which decodes to U+FFFD (as ts-proto
 * decodes it) and could equal a key that holds U+FFFD: it takes the string path, so both forms
 * give the same id for every input.
 */
function mapPacked(
  slot: Extract<Slot, { kind: 'categorical' }>,
  values: PackedStrings,
  ids: Uint32Array,
  first: number,
  stride: number,
): void {
  const { bytes, starts, ends } = values;
  const oov = slot.offset + OOV_ID;
  for (let c = 0, at = first; c < values.length; c += 1, at += stride) {
    const start = starts[c] as number;
    const end = ends[c] as number;
    const id = slot.bytes.get(bytes, start, end);
    if (id >= 0) {
      ids[at] = id;
      continue;
    }
    let ascii = true;
    for (let i = start; i < end && ascii; i += 1) ascii = (bytes[i] as number) < 0x80;
    ids[at] = ascii ? oov : (slot.ids.get(values.at(c)) ?? oov);
  }
}

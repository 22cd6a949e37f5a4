// Raw rows -> model input: dense ln(v+1) (docs/methods/reference.md#data), categorical -> global
// ids.
import type { EncodedBatch } from './cache';
import { transformDense } from './dense';
import { DataError } from './errors';
import type { RawBatch } from './tabular-reader';
import type { Vocabulary } from './vocabulary';

export function encodeBatch(raw: RawBatch, vocabulary: Vocabulary): EncodedBatch {
  const nf = vocabulary.fields.length;
  if (raw.categorical.length !== raw.size * nf)
    throw new DataError(
      'bad-argument',
      `batch has ${raw.categorical.length / Math.max(1, raw.size)} categorical fields, the vocabulary ${nf}`,
    );
  return {
    size: raw.size,
    labels: raw.labels,
    dense: transformDense(raw.dense),
    sparse: vocabulary.encode(raw.categorical, raw.size),
  };
}

// What a prepared dataset directory says about itself: dataset.json's schema (validated on open)
// and the names of the files beside it, plus the split names. Shared by prepareDataset, which
// writes the directory, and PreparedDataset, which reads it.
import { z } from 'zod';

export type SplitName = 'train' | 'validation' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test'];

const rangeSchema = z.object({ start: z.number().int().min(0), end: z.number().int().min(0) });
const sourceSchema = z.object({
  path: z.string(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  dataRows: z.number().int().min(0),
  rows: z.number().int().min(0),
  badLines: z.number().int().min(0),
  badLineExamples: z.array(z.string()),
});

export const datasetInfoSchema = z.object({
  format: z.literal('embpress.dataset'),
  version: z.literal(1),
  kind: z.enum(['criteo', 'avazu', 'csv']),
  sources: z.object({ train: sourceSchema, test: sourceSchema.optional() }),
  layout: z.object({ dense: z.array(z.string()), categorical: z.array(z.string()).min(1) }),
  split: z.object({
    scheme: z.object({ kind: z.string() }).passthrough(),
    train: rangeSchema,
    validation: rangeSchema,
    test: rangeSchema.nullable(),
  }),
  rows: z.object({
    train: z.number().int().min(0),
    validation: z.number().int().min(0),
    test: z.number().int().min(0),
  }),
  preprocessing: z.object({
    dense: z.string(),
    minCount: z.number().int().min(1),
    oovId: z.literal(0),
    missingValue: z.literal(''),
  }),
  shuffle: z.object({ seed: z.number().int().nullable(), buckets: z.number().int().min(0) }),
  features: z.number().int().min(1),
  cardinalities: z.array(z.number().int().min(1)),
  files: z.object({
    vocabulary: z.string(),
    frequencies: z.string(),
    train: z.string(),
    validation: z.string(),
    test: z.string(),
  }),
  frequenciesCrc32: z.number().int().min(0),
  vocabularyFingerprint: z.string(),
  /** SHA-256 over the sources' contents and every option that changes the caches. */
  fingerprint: z.string(),
  createdAt: z.string(),
  seconds: z.number().min(0),
});

export type DatasetInfo = z.infer<typeof datasetInfoSchema>;

/** The files of a prepared directory besides dataset.json (dataset.json `files` names them). */
export const FILES = {
  vocabulary: 'vocabulary.json',
  frequencies: 'frequencies.u32',
  train: 'train.bin',
  validation: 'validation.bin',
  test: 'test.bin',
} as const;

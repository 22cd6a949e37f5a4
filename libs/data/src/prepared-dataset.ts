// A prepared dataset directory, opened: dataset.json validated, the vocabulary checked against
// its fingerprint, each split's cache checked against dataset.json, and the train frequencies.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { CacheReader, type CacheBatchOptions, type EncodedBatch } from './cache';
import { datasetInfoSchema, SPLIT_NAMES, type DatasetInfo, type SplitName } from './dataset-info';
import { DataError } from './errors';
import { Vocabulary } from './vocabulary';

export interface SplitBatchOptions extends Omit<CacheBatchOptions, 'dropLast'> {
  /** Default: true for train (like the reference), false for validation and test. */
  dropLast?: boolean;
}

/** A prepared dataset directory, validated on open. */
export class PreparedDataset {
  private freqCache: Uint32Array | undefined;
  private readonly readers = new Map<SplitName, CacheReader>();

  private constructor(
    readonly dir: string,
    readonly info: DatasetInfo,
    readonly vocabulary: Vocabulary,
  ) {}

  static open(dir: string): PreparedDataset {
    const path = join(dir, 'dataset.json');
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new DataError(
        existsSync(path) ? 'corrupt-cache' : 'missing-file',
        `${path}: ${existsSync(path) ? `not JSON (${(err as Error).message})` : 'no such file (not a prepared dataset)'}`,
        { file: path },
      );
    }
    const parsed = datasetInfoSchema.safeParse(raw);
    if (!parsed.success)
      throw new DataError(
        'corrupt-cache',
        `${path}: ${parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
        { file: path },
      );
    const info = parsed.data;
    const vocabPath = join(dir, info.files.vocabulary);
    let vocabJson: unknown;
    try {
      vocabJson = JSON.parse(readFileSync(vocabPath, 'utf8'));
    } catch (err) {
      throw new DataError('corrupt-cache', `${vocabPath}: ${(err as Error).message}`, {
        file: vocabPath,
      });
    }
    const vocabulary = Vocabulary.fromJSON(vocabJson, vocabPath);
    if (vocabulary.fingerprint() !== info.vocabularyFingerprint)
      throw new DataError(
        'corrupt-cache',
        `${vocabPath}: does not match dataset.json's fingerprint`,
        {
          file: vocabPath,
        },
      );
    const ds = new PreparedDataset(dir, info, vocabulary);
    for (const name of SPLIT_NAMES) ds.split(name);
    return ds;
  }

  /** The cache of a split (its header and size checked against dataset.json). */
  split(name: SplitName): CacheReader {
    let r = this.readers.get(name);
    if (r === undefined) {
      const path = join(this.dir, this.info.files[name]);
      r = CacheReader.open(path);
      const h = r.header;
      if (h.meta.vocabularyFingerprint !== this.info.vocabularyFingerprint)
        throw new DataError(
          'corrupt-cache',
          `${path}: written with another vocabulary than ${this.info.files.vocabulary}`,
          { file: path },
        );
      if (
        h.rows !== this.info.rows[name] ||
        h.dense !== this.info.layout.dense.length ||
        h.sparse !== this.info.layout.categorical.length
      )
        throw new DataError(
          'corrupt-cache',
          `${path}: ${h.rows} rows of ${h.dense}+${h.sparse} values, dataset.json says ${this.info.rows[name]} rows of ${this.info.layout.dense.length}+${this.info.layout.categorical.length}`,
          { file: path },
        );
      this.readers.set(name, r);
    }
    return r;
  }

  /** Batches of a split; the last partial batch is dropped for train and kept for evaluation. */
  batches(name: SplitName, options: SplitBatchOptions): AsyncGenerator<EncodedBatch> {
    return this.split(name).batches({ ...options, dropLast: options.dropLast ?? name === 'train' });
  }

  /**
   * Train count of every global id (docs/methods/reference.md#data); per field:
   * subarray(offsets[f], offsets[f+1]).
   */
  frequencies(): Uint32Array {
    if (this.freqCache === undefined) {
      const path = join(this.dir, this.info.files.frequencies);
      const bytes = readFileSync(path);
      if (
        bytes.length !== this.vocabulary.size * 4 ||
        crc32(bytes) >>> 0 !== this.info.frequenciesCrc32
      )
        throw new DataError(
          'corrupt-cache',
          `${path}: size or CRC-32 does not match dataset.json`,
          {
            file: path,
          },
        );
      const out = new Uint32Array(this.vocabulary.size);
      new Uint8Array(out.buffer).set(bytes);
      this.freqCache = out;
    }
    return this.freqCache;
  }
}

// The in-project text encoder: TF-IDF + truncated SVD (latent semantic analysis). Fitted on the
// corpus at ingest, saved with it in the model version (encoder.json, docs/adr), and used for the
// queries at serve time, so passages and queries share one vector space without any download.
//
//   weight(term, text) = (1 + ln tf) · idf(term),  idf = ln((1 + n) / (1 + df)) + 1
//   vector(text)       = normalize(Vᵀ · weights)   (V: vocabulary × dim, top right singular vectors)
//
// The SVD is fitted on the L2-normalized TF-IDF rows of the passages (every passage counts the
// same), deterministically for a seed.
import { z } from 'zod';
import { sparseTruncatedSvd, type CsrMatrix } from './sparse-svd';
import { ENGLISH_STOPWORDS, tokenize } from './tokenize';

export const LSA_ENCODER_FORMAT = 'embpress.lsa-encoder/v1';

export interface LsaFitOptions {
  /** Wanted dimension; the fitted one is min(dim, passages, vocabulary). */
  dim: number;
  seed: number;
  stopwords: boolean;
  /** Terms in fewer passages are left out of the vocabulary. */
  minDf: number;
  /** The vocabulary keeps the maxVocabulary most frequent terms (by document frequency). */
  maxVocabulary: number;
  oversample: number;
  powerIterations: number;
}

export const DEFAULT_LSA_OPTIONS: LsaFitOptions = {
  dim: 256,
  seed: 42,
  stopwords: true,
  minDf: 1,
  maxVocabulary: 100_000,
  oversample: 16,
  powerIterations: 3,
};

export class EncoderError extends Error {
  override readonly name = 'EncoderError';
}

const fileSchema = z
  .object({
    format: z.literal(LSA_ENCODER_FORMAT),
    dim: z.number().int().positive(),
    stopwords: z.boolean(),
    tf: z.literal('sublinear'),
    idf: z.literal('smooth'),
    fit: z.object({
      passages: z.number().int().positive(),
      seed: z.number().int().nonnegative(),
      minDf: z.number().int().positive(),
      oversample: z.number().int().nonnegative(),
      powerIterations: z.number().int().nonnegative(),
      singularValues: z.array(z.number()),
    }),
    vocabulary: z.array(z.string().min(1)).min(1),
    idfWeights: z.array(z.number().positive()),
    /** Float32 little-endian, vocabulary × dim, row-major, base64. */
    components: z.string(),
  })
  .strict();
export type LsaEncoderFile = z.infer<typeof fileSchema>;

export class LsaEncoder {
  private readonly index: Map<string, number>;

  private constructor(
    readonly dim: number,
    readonly stopwords: boolean,
    readonly vocabulary: readonly string[],
    private readonly idf: Float64Array,
    /** vocabulary × dim, row-major. */
    private readonly components: Float32Array,
    private readonly fitInfo: LsaEncoderFile['fit'],
  ) {
    this.index = new Map(vocabulary.map((t, i) => [t, i]));
  }

  static fit(texts: readonly string[], options: Partial<LsaFitOptions> = {}): LsaEncoder {
    const o = { ...DEFAULT_LSA_OPTIONS, ...options };
    if (texts.length === 0) throw new EncoderError('cannot fit an encoder on an empty corpus');
    const stop = o.stopwords ? ENGLISH_STOPWORDS : undefined;
    const docs = texts.map((t) => termCounts(tokenize(t, stop)));
    const df = new Map<string, number>();
    for (const counts of docs)
      for (const term of counts.keys()) df.set(term, (df.get(term) ?? 0) + 1);
    const vocabulary = [...df.entries()]
      .filter(([, d]) => d >= o.minDf)
      .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, o.maxVocabulary)
      .map(([t]) => t)
      .sort();
    if (vocabulary.length === 0)
      throw new EncoderError('the corpus has no term to build a vocabulary from');
    const n = texts.length;
    const idf = Float64Array.from(
      vocabulary,
      (t) => Math.log((1 + n) / (1 + (df.get(t) ?? 0))) + 1,
    );
    const index = new Map(vocabulary.map((t, i) => [t, i]));
    const matrix = tfidfRows(docs, index, idf);
    const dim = Math.min(o.dim, n, vocabulary.length);
    const svd = sparseTruncatedSvd(matrix, {
      rank: dim,
      oversample: o.oversample,
      powerIterations: o.powerIterations,
      seed: o.seed,
    });
    const m = vocabulary.length;
    const components = new Float32Array(m * dim);
    for (let k = 0; k < dim; k += 1)
      for (let t = 0; t < m; t += 1) components[t * dim + k] = svd.v[k * m + t] as number;
    return new LsaEncoder(dim, o.stopwords, vocabulary, idf, components, {
      passages: n,
      seed: o.seed,
      minDf: o.minDf,
      oversample: o.oversample,
      powerIterations: o.powerIterations,
      singularValues: Array.from(svd.sigma),
    });
  }

  /** The unit vector of `text`; all zeros when it has no term of the vocabulary. */
  encode(text: string, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    const counts = termCounts(tokenize(text, this.stopwords ? ENGLISH_STOPWORDS : undefined));
    const acc = new Float64Array(this.dim);
    for (const [term, tf] of counts) {
      const t = this.index.get(term);
      if (t === undefined) continue;
      const w = (1 + Math.log(tf)) * (this.idf[t] as number);
      const base = t * this.dim;
      for (let k = 0; k < this.dim; k += 1)
        acc[k] = (acc[k] as number) + w * (this.components[base + k] as number);
    }
    let norm = 0;
    for (let k = 0; k < this.dim; k += 1) norm += (acc[k] as number) ** 2;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < this.dim; k += 1) out[k] = (acc[k] as number) * inv;
    return out;
  }

  /** Whether `text` has at least one term of the vocabulary (else its vector is zero). */
  knowsAnyTerm(text: string): boolean {
    return tokenize(text, this.stopwords ? ENGLISH_STOPWORDS : undefined).some((w) =>
      this.index.has(w),
    );
  }

  encodeAll(texts: readonly string[]): Float32Array {
    const out = new Float32Array(texts.length * this.dim);
    texts.forEach((t, i) => this.encode(t, out.subarray(i * this.dim, (i + 1) * this.dim)));
    return out;
  }

  toFile(): LsaEncoderFile {
    const bytes = new Uint8Array(
      this.components.buffer,
      this.components.byteOffset,
      this.components.byteLength,
    );
    return {
      format: LSA_ENCODER_FORMAT,
      dim: this.dim,
      stopwords: this.stopwords,
      tf: 'sublinear',
      idf: 'smooth',
      fit: this.fitInfo,
      vocabulary: [...this.vocabulary],
      idfWeights: Array.from(this.idf),
      components: Buffer.from(bytes).toString('base64'),
    };
  }

  toBytes(): Uint8Array {
    return new TextEncoder().encode(`${JSON.stringify(this.toFile())}\n`);
  }

  static fromBytes(bytes: Uint8Array, what = 'encoder.json'): LsaEncoder {
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new EncoderError(`${what}: not JSON (${(err as Error).message})`);
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success)
      throw new EncoderError(
        `${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const f = parsed.data;
    const m = f.vocabulary.length;
    if (f.idfWeights.length !== m)
      throw new EncoderError(`${what}: ${f.idfWeights.length} idf weights for ${m} terms`);
    const buf = Buffer.from(f.components, 'base64');
    if (buf.length !== m * f.dim * 4)
      throw new EncoderError(
        `${what}: components hold ${buf.length} bytes, expected ${m} × ${f.dim} × 4`,
      );
    const components = new Float32Array(m * f.dim);
    new Uint8Array(components.buffer).set(buf);
    if (new Set(f.vocabulary).size !== m)
      throw new EncoderError(`${what}: the vocabulary repeats a term`);
    return new LsaEncoder(
      f.dim,
      f.stopwords,
      f.vocabulary,
      Float64Array.from(f.idfWeights),
      components,
      f.fit,
    );
  }
}

function termCounts(tokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

/** L2-normalized sublinear TF-IDF rows of the passages (terms outside the vocabulary dropped). */
function tfidfRows(
  docs: readonly Map<string, number>[],
  index: ReadonlyMap<string, number>,
  idf: Float64Array,
): CsrMatrix {
  const rowPtr = new Uint32Array(docs.length + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  docs.forEach((counts, i) => {
    const entries: Array<[number, number]> = [];
    for (const [term, tf] of counts) {
      const t = index.get(term);
      if (t !== undefined) entries.push([t, (1 + Math.log(tf)) * (idf[t] as number)]);
    }
    entries.sort(([a], [b]) => a - b);
    const norm = Math.sqrt(entries.reduce((s, [, w]) => s + w * w, 0));
    for (const [t, w] of entries) {
      cols.push(t);
      vals.push(norm > 0 ? w / norm : 0);
    }
    rowPtr[i + 1] = cols.length;
  });
  return {
    rows: docs.length,
    cols: index.size,
    rowPtr,
    colIdx: Uint32Array.from(cols),
    vals: Float64Array.from(vals),
  };
}

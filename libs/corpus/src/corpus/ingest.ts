// Ingest: a corpus → passage vectors (the LSA encoder fitted here, or precomputed vectors) → a
// table compressed with a post-training codec (+ the fp32 companion on request) → one model
// version, written atomically through the registry (docs/adr/0010).
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { LsaEncoder } from '../encoder/lsa-encoder';
import { compressRows, fullTable } from './compress-rows';
import { CorpusError, type Passage } from './corpus';
import {
  DEFAULT_TABLE,
  ENCODER_FILE,
  encodePassages,
  fileEntryOf,
  fp32Companion,
  PASSAGES_FILE,
  RETRIEVAL_FORMAT,
  type RetrievalEntry,
} from './corpus-version';

export type IngestVectors =
  | { kind: 'lsa'; dim: number; seed?: number; stopwords?: boolean }
  | { kind: 'precomputed'; vectors: Float32Array; dim: number; source: string };

export interface IngestOptions {
  registryRoot: string;
  corpus: string;
  /** Default: a timestamp (v20261128T093000123Z). */
  version?: string;
  table?: string;
  passages: readonly Passage[];
  vectors: IngestVectors;
  /** Post-training codec spec (compressRows). */
  codec: string;
  keepFp32: boolean;
  seed?: number;
}

export interface IngestResult {
  corpus: string;
  version: string;
  versionDir: string;
  table: string;
  fp32Table?: string;
  method: string;
  spec: string;
  rows: number;
  dim: number;
  memoryBytes: number;
  bytesPerVector: number;
  fp32BytesPerVector: number;
  /** Whether the store can Search the table (codecs with search on their codes). */
  searchable: boolean;
  encodeSeconds: number;
  compressSeconds: number;
}

export function defaultVersion(now = new Date()): string {
  return `v${now.toISOString().replace(/[-:.]/g, '')}`;
}

export function ingestCorpus(options: IngestOptions): IngestResult {
  const { passages } = options;
  if (passages.length === 0) throw new CorpusError('the corpus is empty');
  const ids = new Set<string>();
  for (const p of passages) {
    if (ids.has(p.id)) throw new CorpusError(`duplicate passage id ${JSON.stringify(p.id)}`);
    ids.add(p.id);
  }
  const seed = options.seed ?? 42;
  const table = options.table ?? DEFAULT_TABLE;
  const dir = new ModelRegistryDir(options.registryRoot);
  const version = options.version ?? defaultVersion();

  const encodeStart = performance.now();
  let vectors: Float32Array;
  let dim: number;
  let encoder: LsaEncoder | undefined;
  if (options.vectors.kind === 'lsa') {
    encoder = LsaEncoder.fit(
      passages.map((p) => p.text),
      {
        dim: options.vectors.dim,
        seed: options.vectors.seed ?? seed,
        ...(options.vectors.stopwords === undefined
          ? {}
          : { stopwords: options.vectors.stopwords }),
      },
    );
    dim = encoder.dim;
    vectors = encoder.encodeAll(passages.map((p) => p.text));
  } else {
    ({ vectors, dim } = options.vectors);
    if (vectors.length !== passages.length * dim)
      throw new CorpusError(
        `${vectors.length} vector values for ${passages.length} passages of dim ${dim}`,
      );
  }
  const encodeSeconds = (performance.now() - encodeStart) / 1000;

  const compressStart = performance.now();
  const compressed = compressRows(options.codec, vectors, passages.length, dim, seed);
  const compressSeconds = (performance.now() - compressStart) / 1000;

  const tables = [tableToWrite(table, compressed)];
  const fp32Table = options.keepFp32 ? fp32Companion(table) : undefined;
  if (fp32Table !== undefined)
    tables.push(tableToWrite(fp32Table, fullTable(vectors, passages.length, dim)));

  const passagesBytes = encodePassages(passages);
  const files = new Map<string, Uint8Array>([[PASSAGES_FILE, passagesBytes]]);
  let encoderEntry: RetrievalEntry['encoder'];
  if (encoder !== undefined) {
    const bytes = encoder.toBytes();
    files.set(ENCODER_FILE, bytes);
    encoderEntry = { kind: 'lsa', ...fileEntryOf(ENCODER_FILE, bytes) };
  } else {
    encoderEntry = {
      kind: 'precomputed',
      source: options.vectors.kind === 'precomputed' ? options.vectors.source : '',
    };
  }
  const retrieval: RetrievalEntry = {
    format: RETRIEVAL_FORMAT,
    table,
    ...(fp32Table === undefined ? {} : { fp32Table }),
    dim,
    passages: { ...fileEntryOf(PASSAGES_FILE, passagesBytes), count: passages.length },
    encoder: encoderEntry,
  };
  dir.writeVersion({
    model: options.corpus,
    version,
    tables,
    files,
    extra: { retrieval, method: compressed.spec, seed },
  });
  const memoryBytes = compressed.memoryBytes();
  return {
    corpus: options.corpus,
    version,
    versionDir: dir.path(options.corpus, version),
    table,
    ...(fp32Table === undefined ? {} : { fp32Table }),
    method: compressed.method,
    spec: compressed.spec,
    rows: passages.length,
    dim,
    memoryBytes,
    bytesPerVector: memoryBytes / passages.length,
    fp32BytesPerVector: dim * 4,
    searchable: compressed.search !== undefined,
    encodeSeconds,
    compressSeconds,
  };
}

// A corpus as a model version (docs/adr/0010): the usual manifest and tables (`passages`, and
// `passages.fp32` when kept for exact re-ranking) plus two files the registry does not know:
//   passages.jsonl  {"id","text"} per line, line i = row i of the table
//   encoder.json    the fitted LSA encoder (absent for precomputed vectors)
// Both are listed under the manifest's `retrieval` field with their size and SHA-256, and are
// verified on every read, like the tables.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { manifestSchema, ModelRegistryDir, sha256, type Manifest } from '@embpress/model-registry';
import { LsaEncoder } from '../encoder/lsa-encoder';
import { CorpusError, type Passage } from './corpus';

export const RETRIEVAL_FORMAT = 'embpress.retrieval/v1';
export const PASSAGES_FILE = 'passages.jsonl';
export const ENCODER_FILE = 'encoder.json';
export const DEFAULT_TABLE = 'passages';

/** The exact companion the store re-ranks with (`exact_rerank`, ADR 0008). */
export const fp32Companion = (table: string) => `${table}.fp32`;

const fileEntry = z
  .object({
    file: z.string().min(1),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export const retrievalSchema = z
  .object({
    format: z.literal(RETRIEVAL_FORMAT),
    table: z.string().min(1),
    /** Name of the fp32 companion table, when the version has one. */
    fp32Table: z.string().min(1).optional(),
    dim: z.number().int().positive(),
    passages: fileEntry.extend({ count: z.number().int().positive() }).strict(),
    encoder: z.discriminatedUnion('kind', [
      fileEntry.extend({ kind: z.literal('lsa') }).strict(),
      z.object({ kind: z.literal('precomputed'), source: z.string() }).strict(),
    ]),
  })
  .strict();
export type RetrievalEntry = z.infer<typeof retrievalSchema>;

export function encodePassages(passages: readonly Passage[]): Uint8Array {
  return new TextEncoder().encode(
    passages.map((p) => `${JSON.stringify({ id: p.id, text: p.text })}\n`).join(''),
  );
}

export function fileEntryOf(file: string, bytes: Uint8Array) {
  return { file, bytes: bytes.length, sha256: sha256(bytes) };
}

export interface CorpusVersion {
  corpus: string;
  version: string;
  manifest: Manifest;
  retrieval: RetrievalEntry;
  passages: Passage[];
  /** The text encoder; undefined for precomputed vectors (queries must then be vectors). */
  encoder?: LsaEncoder;
}

function verifiedFile(dir: string, what: string, entry: z.infer<typeof fileEntry>): Uint8Array {
  const path = join(dir, entry.file);
  if (!existsSync(path)) throw new CorpusError(`${what}: ${entry.file} is missing`);
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes.length !== entry.bytes || sha256(bytes) !== entry.sha256)
    throw new CorpusError(
      `${what}: ${entry.file} does not match its size and SHA-256 in the manifest`,
    );
  return bytes;
}

/** Reads a corpus version's manifest, passages and encoder (verified), without its tables. */
export function readCorpusVersion(
  root: ModelRegistryDir,
  corpus: string,
  version: string,
): CorpusVersion {
  const dir = root.path(corpus, version);
  const what = `${corpus}/${version}`;
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath))
    throw new CorpusError(`${what}: no manifest.json under ${root.root}`);
  const manifest = manifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
  const parsed = retrievalSchema.safeParse((manifest as Record<string, unknown>).retrieval);
  if (!parsed.success)
    throw new CorpusError(
      `${what} is not a retrieval corpus (manifest "retrieval": ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`,
    );
  const retrieval = parsed.data;
  const passagesBytes = verifiedFile(dir, what, retrieval.passages);
  const passages = new TextDecoder()
    .decode(passagesBytes)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Passage);
  if (passages.length !== retrieval.passages.count)
    throw new CorpusError(
      `${what}: ${passages.length} passages, manifest says ${retrieval.passages.count}`,
    );
  const encoder =
    retrieval.encoder.kind === 'lsa'
      ? LsaEncoder.fromBytes(
          verifiedFile(dir, what, retrieval.encoder),
          `${what}/${retrieval.encoder.file}`,
        )
      : undefined;
  if (encoder !== undefined && encoder.dim !== retrieval.dim)
    throw new CorpusError(`${what}: encoder dim ${encoder.dim}, manifest says ${retrieval.dim}`);
  return { corpus, version, manifest, retrieval, passages, encoder };
}

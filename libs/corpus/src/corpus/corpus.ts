// Corpora for ingest: a JSONL file of passages ({"id", "text"} per line), or the precomputed
// MiniLM vectors of the @sap-ux/fiori-docs-embeddings package with their records as passages.
// Bad input is reported with the file, the line and the field.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface Passage {
  id: string;
  text: string;
}

export class CorpusError extends Error {
  override readonly name = 'CorpusError';
}

const MAX_ID_CHARS = 512;

/** Passages of a JSONL file: one object per non-blank line with string `id` and `text`. */
export function parseCorpusJsonl(content: string, file: string): Passage[] {
  const passages: Passage[] = [];
  const seen = new Map<string, number>();
  const lines = content.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const at = `${file}:${i + 1}`;
    if (line === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new CorpusError(`${at}: not a JSON object (${(err as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new CorpusError(`${at}: not a JSON object`);
    const { id, text } = value as { id?: unknown; text?: unknown };
    if (typeof id !== 'string' || id === '' || id.length > MAX_ID_CHARS)
      throw new CorpusError(
        `${at}: field "id" must be a non-empty string of at most ${MAX_ID_CHARS} characters`,
      );
    if (typeof text !== 'string' || text.trim() === '')
      throw new CorpusError(`${at}: field "text" must be a non-empty string`);
    const first = seen.get(id);
    if (first !== undefined)
      throw new CorpusError(
        `${at}: field "id": duplicate id ${JSON.stringify(id)} (first on line ${first})`,
      );
    seen.set(id, i + 1);
    passages.push({ id, text });
  });
  if (passages.length === 0)
    throw new CorpusError(`${file}: the corpus is empty (no passage lines)`);
  return passages;
}

export function readCorpusJsonl(file: string): Passage[] {
  if (!existsSync(file)) throw new CorpusError(`${file}: no such file`);
  return parseCorpusJsonl(readFileSync(file, 'utf8'), file);
}

export interface PrecomputedCorpus {
  passages: Passage[];
  /** passages.length × dim, row-major. */
  vectors: Float32Array;
  dim: number;
  /** Where the vectors come from (model name, package). */
  source: string;
}

export const MINILM_PACKAGE = '@sap-ux/fiori-docs-embeddings';

/**
 * The package's 778 × 384 MiniLM vectors (embeddings.bin: float32 LE, no header) with the
 * records of records.jsonl (same order) as passages. The package is ESM; its files are read by
 * path, found through its package.json.
 */
export function readMiniLmCorpus(): PrecomputedCorpus {
  let pkg: string;
  try {
    pkg = require.resolve(`${MINILM_PACKAGE}/package.json`);
  } catch {
    throw new CorpusError(`${MINILM_PACKAGE} is not installed (a devDependency: npm install)`);
  }
  const dir = join(dirname(pkg), 'data', 'embeddings');
  const metaFile = join(dir, 'metadata.json');
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as {
    model?: unknown;
    dimensions?: unknown;
    totalVectors?: unknown;
  };
  const dim = meta.dimensions;
  const count = meta.totalVectors;
  if (typeof dim !== 'number' || typeof count !== 'number')
    throw new CorpusError(`${metaFile}: needs numeric "dimensions" and "totalVectors"`);
  const recordsFile = join(dir, 'records.jsonl');
  const passages = readFileSync(recordsFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      const r = JSON.parse(line) as { id?: unknown; content?: unknown };
      if (typeof r.id !== 'string' || typeof r.content !== 'string')
        throw new CorpusError(`${recordsFile}:${i + 1}: needs string "id" and "content"`);
      return { id: r.id, text: r.content };
    });
  const binFile = join(dir, 'embeddings.bin');
  const bytes = readFileSync(binFile);
  if (passages.length !== count || bytes.length !== count * dim * 4)
    throw new CorpusError(
      `${dir}: ${passages.length} records and ${bytes.length} vector bytes, metadata says ${count} × ${dim}`,
    );
  const vectors = new Float32Array(count * dim);
  new Uint8Array(vectors.buffer).set(bytes);
  return { passages, vectors, dim, source: `${String(meta.model)} (${MINILM_PACKAGE})` };
}

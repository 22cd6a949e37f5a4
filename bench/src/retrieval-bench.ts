// `embpress bench retrieval`: what each post-training codec costs retrieval.
//  - recallAt10 on the real MiniLM set (778 × 384, @sap-ux/fiori-docs-embeddings), leave-one-out:
//    each vector queries the other 777; truth = exact fp32 inner-product top 10.
//  - speed on 100k × 384 generated clustered unit vectors with 1,000 queries from the same
//    clusters: compressSeconds, bytesPerVector, p50Ms/p99Ms of one k=10 query, and
//    syntheticRecallAt10 against the exact fp32 scan.
//  - answerHitAt5 on XQuAD (--xquad DIR): the TF-IDF + SVD encoder fitted on the 240 paragraphs,
//    passage vectors compressed by the method, fraction of the 1,190 questions whose top 5
//    paragraphs contain the answer text.
// Searches run in this process through the table's own search() on its codes (searchMode
// "codes"); tables without one (fp32, int8, prune) are decoded once and scanned exactly
// ("decoded"). Progress on stderr; the last stdout line is {results: [...]}.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  exactSearch,
  registry,
  Rng,
  type CompressedTable,
  type SearchHits,
} from '@embpress/compression';
import { percentile } from '@embpress/loadtest';
import {
  integerOption,
  isOptionError,
  lazyRequire,
  UsageError,
} from '@embpress/service-kit/config';

type Corpus = typeof import('@embpress/corpus');
const corpus = (): Corpus => lazyRequire<Corpus>('@embpress/corpus');

export const RETRIEVAL_BENCH_USAGE = `usage:
  embpress bench retrieval [--methods fp32,fp16,int8,rowwise-int8,pq,prune,ivf] [--nprobes 8,16,32]
                           [--xquad DIR] [--synthetic-rows 100000] [--synthetic-queries 1000]
                           [--clusters 1000] [--seed 42] [--json]
      A method is a name below or any post-training codec spec (commas inside parentheses are
      kept): fp32, fp16, int8 (global scale), rowwise-int8, pq = pq(subvectors=64,bits=8),
      prune = prune(density=0.25), ivf = ivf(nlist=1024,nprobe=16)|rowwise-int8. An ivf method
      gives one row per --nprobes value; its nlist is capped at ceil(4·√rows) on the small sets.`;

const ALIASES: Record<string, string> = {
  fp32: 'fp32',
  fp16: 'fp16',
  int8: 'int8',
  'rowwise-int8': 'rowwise-int8',
  pq: 'pq(subvectors=64,bits=8)',
  prune: 'prune(density=0.25)',
  ivf: 'ivf(nlist=1024,nprobe=16)|rowwise-int8',
};
const DIM = 384;
const K = 10;

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Splits on commas outside parentheses: "pq(subvectors=64,bits=8),fp16" → two specs. */
export function splitMethods(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of raw) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  out.push(current.trim());
  return out.filter((s) => s !== '');
}

/**
 * The spec as applied to a set of `rows` × `dim`: ivf's nlist capped at ceil(4·√rows) (FAISS's
 * usual sizing); pq's subvectors lowered to the largest divisor of dim (XQuAD's encoder has
 * dim 240, not a multiple of 64).
 */
function specFor(spec: string, rows: number, dim: number): string {
  if (spec.startsWith('pq')) {
    const { method, params } = registry.resolve(spec);
    let m = params.subvectors as number;
    while (dim % m !== 0) m -= 1;
    return registry.format(method.id, { ...params, subvectors: m });
  }
  if (!spec.startsWith('ivf')) return spec;
  const { method, params } = registry.resolve(spec);
  const cap = Math.ceil(4 * Math.sqrt(rows));
  return registry.format(method.id, { ...params, nlist: Math.min(params.nlist as number, cap) });
}

/** A searcher over a table: its own search on codes, or an exact scan of its decoded rows. */
interface Searcher {
  mode: 'codes' | 'decoded';
  search(query: Float32Array, k: number, nprobe?: number): SearchHits;
}

function searcherOf(table: CompressedTable): Searcher {
  if (table.search !== undefined) {
    const search = table.search.bind(table);
    return {
      mode: 'codes',
      search: (q, k, nprobe) =>
        search(q, k, 'inner-product', nprobe === undefined ? undefined : { nprobe }),
    };
  }
  const rows = new Float32Array(table.rows * table.dim);
  table.lookup(
    Uint32Array.from({ length: table.rows }, (_, i) => i),
    rows,
  );
  return { mode: 'decoded', search: (q, k) => exactSearch(rows, table.dim, q, k, 'inner-product') };
}

/** Unit vectors around `clusters` random unit centres (noise ≈ as large as the centre). */
function clusteredVectors(
  rows: number,
  dim: number,
  clusters: number,
  seed: number,
  centres?: Float32Array,
) {
  const rng = new Rng(seed);
  const c = centres ?? new Float32Array(clusters * dim);
  if (centres === undefined) {
    for (let i = 0; i < clusters; i += 1) {
      const row = c.subarray(i * dim, (i + 1) * dim);
      for (let j = 0; j < dim; j += 1) row[j] = rng.normal();
      normalize(row);
    }
  }
  const out = new Float32Array(rows * dim);
  const sigma = 1 / Math.sqrt(dim);
  for (let i = 0; i < rows; i += 1) {
    const centre = rng.int(0, clusters - 1);
    const row = out.subarray(i * dim, (i + 1) * dim);
    for (let j = 0; j < dim; j += 1)
      row[j] = (c[centre * dim + j] as number) + sigma * rng.normal();
    normalize(row);
  }
  return { vectors: out, centres: c };
}

function normalize(v: Float32Array): void {
  let s = 0;
  for (const x of v) s += x * x;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let j = 0; j < v.length; j += 1) v[j] = (v[j] as number) * inv;
}

function overlap(a: ArrayLike<number>, b: ReadonlySet<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 1) if (b.has(a[i] as number)) n += 1;
  return n;
}

interface XquadSet {
  contexts: string[];
  questions: Array<{ question: string; answer: string }>;
}

function readXquad(dir: string): XquadSet {
  const file = join(dir, 'xquad.en.json');
  if (!existsSync(file)) throw new UsageError(`--xquad: ${file} does not exist`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    data: Array<{
      paragraphs: Array<{
        context: string;
        qas: Array<{ question: string; answers: Array<{ text: string }> }>;
      }>;
    }>;
  };
  const contexts: string[] = [];
  const questions: XquadSet['questions'] = [];
  for (const article of json.data)
    for (const p of article.paragraphs) {
      contexts.push(p.context);
      for (const qa of p.qas)
        questions.push({ question: qa.question, answer: qa.answers[0]?.text ?? '' });
    }
  return { contexts, questions };
}

export interface RetrievalRow {
  method: string;
  spec: string;
  searchMode: 'codes' | 'decoded';
  nprobe?: number;
  recallAt10: number;
  minilmBytesPerVector: number;
  syntheticRecallAt10: number;
  bytesPerVector: number;
  compressSeconds: number;
  p50Ms: number;
  p99Ms: number;
  answerHitAt5?: number;
}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      methods: { type: 'string', default: 'fp32,fp16,int8,rowwise-int8,pq,prune,ivf' },
      nprobes: { type: 'string' },
      xquad: { type: 'string' },
      'synthetic-rows': { type: 'string', default: '100000' },
      'synthetic-queries': { type: 'string', default: '1000' },
      clusters: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '42' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${RETRIEVAL_BENCH_USAGE}\n`);
    return;
  }
  const methods = splitMethods(values.methods).map((m) => ({ name: m, spec: ALIASES[m] ?? m }));
  for (const m of methods) registry.resolve(m.spec === 'fp32' ? 'full' : m.spec);
  const nprobes =
    values.nprobes === undefined
      ? undefined
      : splitMethods(values.nprobes).map((n) => integerOption('nprobes', n, 1));
  const rows = integerOption('synthetic-rows', values['synthetic-rows'], 100);
  const queryCount = integerOption('synthetic-queries', values['synthetic-queries'], 1);
  const clusters = integerOption('clusters', values.clusters, 1);
  const seed = integerOption('seed', values.seed, 0);
  const r = corpus();

  // ---- the sets -------------------------------------------------------------------------
  const minilm = r.readMiniLmCorpus();
  const mN = minilm.passages.length;
  const mv = minilm.vectors;
  log(`MiniLM: ${mN} × ${minilm.dim}; exact leave-one-out top ${K}`);
  const mTruth = Array.from({ length: mN }, (_, q) => {
    const hits = exactSearch(
      mv,
      minilm.dim,
      mv.subarray(q * minilm.dim, (q + 1) * minilm.dim),
      K + 1,
      'inner-product',
    );
    return new Set(
      Array.from(hits.ids)
        .filter((id) => id !== q)
        .slice(0, K),
    );
  });
  log(`synthetic: ${rows} × ${DIM} around ${clusters} clusters, ${queryCount} queries`);
  const synth = clusteredVectors(rows, DIM, clusters, seed);
  const queries = clusteredVectors(queryCount, DIM, clusters, seed + 1, synth.centres).vectors;
  const started = performance.now();
  const sTruth = Array.from(
    { length: queryCount },
    (_, q) =>
      new Set(
        exactSearch(
          synth.vectors,
          DIM,
          queries.subarray(q * DIM, (q + 1) * DIM),
          K,
          'inner-product',
        ).ids,
      ),
  );
  log(
    `synthetic: exact top ${K} of ${queryCount} queries in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  let xquad:
    | {
        set: XquadSet;
        encoder: import('@embpress/corpus').LsaEncoder;
        vectors: Float32Array;
        questions: Float32Array;
      }
    | undefined;
  if (values.xquad !== undefined) {
    const set = readXquad(values.xquad);
    const encoder = r.LsaEncoder.fit(set.contexts, { dim: 256, seed });
    xquad = {
      set,
      encoder,
      vectors: encoder.encodeAll(set.contexts),
      questions: encoder.encodeAll(set.questions.map((q) => q.question)),
    };
    log(
      `XQuAD: ${set.contexts.length} paragraphs, ${set.questions.length} questions, encoder dim ${encoder.dim}, ${encoder.vocabulary.length} terms`,
    );
  }

  // ---- per method -------------------------------------------------------------------------
  const results: RetrievalRow[] = [];
  for (const { name, spec } of methods) {
    const mTable = r.compressRows(specFor(spec, mN, minilm.dim), mv, mN, minilm.dim, seed);
    const t0 = performance.now();
    const sTable = r.compressRows(specFor(spec, rows, DIM), synth.vectors, rows, DIM, seed);
    const compressSeconds = (performance.now() - t0) / 1000;
    const xTable =
      xquad === undefined
        ? undefined
        : r.compressRows(
            specFor(spec, xquad.set.contexts.length, xquad.encoder.dim),
            xquad.vectors,
            xquad.set.contexts.length,
            xquad.encoder.dim,
            seed,
          );
    const mSearch = searcherOf(mTable);
    const sSearch = searcherOf(sTable);
    const xSearch = xTable === undefined ? undefined : searcherOf(xTable);
    const probes = spec.startsWith('ivf')
      ? (nprobes ?? [registry.resolve(spec).params.nprobe as number])
      : [undefined];
    for (const nprobe of probes) {
      let mHits = 0;
      for (let q = 0; q < mN; q += 1) {
        const got = mSearch.search(
          mv.subarray(q * minilm.dim, (q + 1) * minilm.dim),
          K + 1,
          nprobe,
        );
        mHits += overlap(
          Array.from(got.ids)
            .filter((id) => id !== q)
            .slice(0, K),
          mTruth[q] as Set<number>,
        );
      }
      const times: number[] = [];
      let sHits = 0;
      for (let q = 0; q < queryCount; q += 1) {
        const query = queries.subarray(q * DIM, (q + 1) * DIM);
        const t = performance.now();
        const got = sSearch.search(query, K, nprobe);
        times.push(performance.now() - t);
        sHits += overlap(got.ids, sTruth[q] as Set<number>);
      }
      times.sort((a, b) => a - b);
      let answerHitAt5: number | undefined;
      if (xquad !== undefined && xSearch !== undefined) {
        const { set, encoder, questions } = xquad;
        let hit = 0;
        set.questions.forEach((q, i) => {
          const got = xSearch.search(
            questions.subarray(i * encoder.dim, (i + 1) * encoder.dim),
            5,
            nprobe,
          );
          if (Array.from(got.ids).some((id) => (set.contexts[id] as string).includes(q.answer)))
            hit += 1;
        });
        answerHitAt5 = hit / set.questions.length;
      }
      const row: RetrievalRow = {
        method: nprobe === undefined ? name : `${name}@nprobe=${nprobe}`,
        spec: sTable.spec,
        searchMode: sSearch.mode,
        ...(nprobe === undefined ? {} : { nprobe }),
        recallAt10: mHits / (mN * K),
        minilmBytesPerVector: mTable.memoryBytes() / mN,
        syntheticRecallAt10: sHits / (queryCount * K),
        bytesPerVector: sTable.memoryBytes() / rows,
        compressSeconds,
        p50Ms: percentile(times, 0.5),
        p99Ms: percentile(times, 0.99),
        ...(answerHitAt5 === undefined ? {} : { answerHitAt5 }),
      };
      results.push(row);
      log(
        `${row.method} [${row.spec}, ${row.searchMode}]: MiniLM recall@10 ${row.recallAt10.toFixed(4)} (${row.minilmBytesPerVector.toFixed(1)} B/vec), synthetic recall@10 ${row.syntheticRecallAt10.toFixed(4)}, ${row.bytesPerVector.toFixed(1)} B/vec, compress ${compressSeconds.toFixed(2)} s, p50 ${row.p50Ms.toFixed(2)} ms, p99 ${row.p99Ms.toFixed(2)} ms${answerHitAt5 === undefined ? '' : `, XQuAD answer-hit@5 ${answerHitAt5.toFixed(4)}`}`,
      );
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ results })}\n`);
  else for (const row of results) process.stdout.write(`${JSON.stringify(row)}\n`);
}

export async function benchRetrievalCommand(args: string[]): Promise<void> {
  try {
    await run(args);
  } catch (err) {
    if (err instanceof UsageError || isOptionError(err) || (err as Error).name === 'SpecError') {
      process.stderr.write(
        `embpress bench retrieval: ${(err as Error).message}\n\n${RETRIEVAL_BENCH_USAGE}\n`,
      );
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

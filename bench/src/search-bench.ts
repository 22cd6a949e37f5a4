// `embpress bench search --vs faiss [--json]`: embpress's IVF and exhaustive searches side by side
// with FAISS on one generated dataset (issue #13). A benchmark, never a CI test: it needs python3
// with faiss-cpu (exit code 2 naming the install command when missing).
//  - data: clustered unit vectors (default 100k × 384 around 1,000 centres, 1,000 queries from
//    the same centres, one seed), written as float32 files that bench/src/faiss_reference.py
//    reads;
//  - ours: `ivf(nlist=N)|rowwise-int8` (libs/compression, on @embpress/kernels) and the flat fp32
//    scan (FlatIndex); FAISS: IndexIVFScalarQuantizer(8-bit) with the same nlist, about the same
//    bytes per vector, and IndexFlatIP; both sides on one thread, one query per call;
//  - interleaved: blocks of queries alternate between the two sides (ours in this process, then
//    FAISS in its child process), so load on the shared machine hits both alike; each nprobe
//    starts with --warmup untimed queries on both sides (V8 optimizes our search meanwhile);
//  - recall@k of both sides against the exact top k (the flat fp32 scan's), p50/p99 of each
//    side's per-call times at each nprobe, the exhaustive scans' p50/p99, the IVF build times
//    and the bytes per vector.
// Progress on stderr; the last stdout line is the JSON report.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  FlatIndex,
  registry,
  Rng,
  type CodecMethod,
  type CompressedTable,
} from '@embpress/compression';
import { kernelImpl } from '@embpress/kernels';
import { percentile } from '@embpress/loadtest';
import { integerOption, isOptionError, listOption, UsageError } from '@embpress/service-kit/config';
import { BenchSetupError } from './bench-setup-error';

export const SEARCH_BENCH_USAGE = `usage:
  embpress bench search --vs faiss [--rows 100000] [--dim 384] [--queries 1000] [--clusters 1000]
                        [--nlist 1024] [--nprobes 8,32,64] [--k 10] [--exhaustive-queries 200]
                        [--warmup 200] [--block 50] [--seed 42] [--python python3] [--json]
      Builds ivf(nlist=N)|rowwise-int8 and FAISS IndexIVFScalarQuantizer(8-bit) with the same nlist
      on one generated set of clustered unit vectors, then searches both one query per call on one
      thread, interleaved in blocks of --block queries, at each nprobe (after --warmup untimed
      queries on each side); the exhaustive fp32 scan
      against IndexFlatIP on the first --exhaustive-queries queries. Needs python3 with faiss-cpu
      (pip install faiss-cpu). Last stdout line: the JSON report.`;

export const FAISS_SCRIPT = join(__dirname, 'faiss_reference.py');

export interface SearchBenchOptions {
  rows: number;
  dim: number;
  queries: number;
  clusters: number;
  nlist: number;
  nprobes: number[];
  k: number;
  exhaustiveQueries: number;
  /** Untimed queries per side before each nprobe's timed ones (JIT, caches). */
  warmup: number;
  block: number;
  seed: number;
  python: string;
  json: boolean;
}

/** Parses the arguments after `bench search` (UsageError on a bad value). */
export function parseSearchBenchArgs(args: string[]): SearchBenchOptions | 'help' {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      vs: { type: 'string' },
      rows: { type: 'string', default: '100000' },
      dim: { type: 'string', default: '384' },
      queries: { type: 'string', default: '1000' },
      clusters: { type: 'string', default: '1000' },
      nlist: { type: 'string', default: '1024' },
      nprobes: { type: 'string', default: '8,32,64' },
      k: { type: 'string', default: '10' },
      'exhaustive-queries': { type: 'string', default: '200' },
      warmup: { type: 'string', default: '200' },
      block: { type: 'string', default: '50' },
      seed: { type: 'string', default: '42' },
      python: { type: 'string', default: 'python3' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  if (values.vs !== 'faiss')
    throw new UsageError(
      `--vs must be faiss (the only reference), got ${JSON.stringify(values.vs)}`,
    );
  const rows = integerOption('rows', values.rows, 2);
  const queries = integerOption('queries', values.queries, 1);
  const nlist = integerOption('nlist', values.nlist, 1);
  if (nlist > rows) throw new UsageError(`--nlist ${nlist} is more than the ${rows} rows`);
  return {
    rows,
    dim: integerOption('dim', values.dim, 1),
    queries,
    clusters: integerOption('clusters', values.clusters, 1),
    nlist,
    nprobes: listOption(values.nprobes).map((s) => integerOption('nprobes', s, 1)),
    k: integerOption('k', values.k, 1),
    exhaustiveQueries: Math.min(
      queries,
      integerOption('exhaustive-queries', values['exhaustive-queries'], 1),
    ),
    warmup: Math.min(queries, integerOption('warmup', values.warmup, 0)),
    block: integerOption('block', values.block, 1),
    seed: integerOption('seed', values.seed, 0),
    python: values.python,
    json: values.json,
  };
}

/** Unit vectors around `clusters` random unit centres (noise about as large as the centre). */
export function clusteredUnitVectors(
  rows: number,
  queries: number,
  dim: number,
  clusters: number,
  seed: number,
): { base: Float32Array; queries: Float32Array } {
  const rng = new Rng(seed);
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < clusters; i += 1) {
    const row = centres.subarray(i * dim, (i + 1) * dim);
    for (let j = 0; j < dim; j += 1) row[j] = rng.normal();
    normalize(row);
  }
  const draw = (count: number) => {
    const out = new Float32Array(count * dim);
    const sigma = 1 / Math.sqrt(dim);
    for (let i = 0; i < count; i += 1) {
      const c = rng.int(0, clusters);
      const row = out.subarray(i * dim, (i + 1) * dim);
      for (let j = 0; j < dim; j += 1)
        row[j] = (centres[c * dim + j] as number) + sigma * rng.normal();
      normalize(row);
    }
    return out;
  };
  return { base: draw(rows), queries: draw(queries) };
}

function normalize(v: Float32Array): void {
  let s = 0;
  for (const x of v) s += x * x;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let j = 0; j < v.length; j += 1) v[j] = (v[j] as number) * inv;
}

/** What the reference side answers (FAISS in a child process, or a fake in tests). */
export interface ReferenceSide {
  /** Builds its indexes; bytes per vector of its IVF index. */
  build(): Promise<{ buildSeconds: number; bytesPerVector: number; version: string }>;
  /** Queries [start, end), one per call: k ids each (query-major) and each call's ms. */
  search(
    index: 'ivf' | 'flat',
    nprobe: number,
    start: number,
    end: number,
  ): Promise<{ ids: number[]; times: number[] }>;
  close(): Promise<void>;
}

export interface SearchBenchReport {
  results: {
    nprobe: number;
    recall: number;
    faissRecall: number;
    p50Ms: number;
    p99Ms: number;
    faissP50Ms: number;
    faissP99Ms: number;
  }[];
  exhaustive: { p50Ms: number; p99Ms: number; faissP50Ms: number; faissP99Ms: number };
  buildSeconds: number;
  faissBuildSeconds: number;
  bytesPerVector: number;
  faissBytesPerVector: number;
  spec: string;
  faissVersion: string;
  /** Fraction of FAISS IndexFlatIP's top k found by our flat scan (1 up to float ties). */
  exhaustiveAgreement: number;
  dataset: {
    rows: number;
    dim: number;
    queries: number;
    clusters: number;
    seed: number;
    k: number;
  };
  kernels: string;
  machine: { cpus: number; cpuModel: string; node: string };
  /** 1-minute load average when the bench started and when it ended. */
  loadAverage: { start: number; end: number };
}

/** Runs the benchmark with `reference` as the other side (FAISS, or a fake in tests). */
export async function runSearchBench(
  o: SearchBenchOptions,
  data: { base: Float32Array; queries: Float32Array },
  reference: ReferenceSide,
  log: (line: string) => void,
): Promise<SearchBenchReport> {
  const loadStart = loadavg()[0] as number;
  const { dim, k } = o;
  const query = (q: number) => data.queries.subarray(q * dim, (q + 1) * dim);

  log(`faiss: building IndexFlatIP and IndexIVFScalarQuantizer(nlist=${o.nlist}, 8-bit), 1 thread`);
  const faiss = await reference.build();
  log(
    `faiss ${faiss.version}: IVF built in ${faiss.buildSeconds.toFixed(2)} s, ${faiss.bytesPerVector.toFixed(1)} B/vector`,
  );

  const resolved = registry.resolve(`ivf(nlist=${o.nlist})|rowwise-int8`);
  log(`ours: building ${resolved.spec} (kernels: ${kernelImpl()})`);
  const started = performance.now();
  const table: CompressedTable = (resolved.method as CodecMethod).compress(
    data.base,
    { fields: [o.rows], dim },
    resolved.params,
    { seed: o.seed },
  );
  const buildSeconds = (performance.now() - started) / 1000;
  const bytesPerVector = table.memoryBytes() / o.rows;
  log(`ours: built in ${buildSeconds.toFixed(2)} s, ${bytesPerVector.toFixed(1)} B/vector`);
  const flat = new FlatIndex(data.base, dim);
  const search = table.search?.bind(table);
  if (search === undefined) throw new Error(`${table.spec} has no search`);

  // Exhaustive first: our flat top k is the truth for the recalls (exact fp32 inner product).
  const truth = new Array<Set<number>>(o.queries);
  const flatTimes: number[] = [];
  const faissFlatTimes: number[] = [];
  let agreement = 0;
  const exhaustiveTruth = (q: number) => {
    const t = performance.now();
    const hits = flat.search(query(q), k, 'inner-product');
    flatTimes.push(performance.now() - t);
    return hits.ids;
  };
  // Beyond the timed exhaustive queries the truth is computed untimed, in the same way.
  for (let q = o.exhaustiveQueries; q < o.queries; q += 1)
    truth[q] = new Set(flat.search(query(q), k, 'inner-product').ids);
  for (let from = 0; from < o.exhaustiveQueries; from += o.block) {
    const to = Math.min(o.exhaustiveQueries, from + o.block);
    for (let q = from; q < to; q += 1) truth[q] = new Set(exhaustiveTruth(q));
    const theirs = await reference.search('flat', 0, from, to);
    faissFlatTimes.push(...theirs.times);
    for (let q = from; q < to; q += 1)
      agreement += overlap(
        theirs.ids.slice((q - from) * k, (q - from + 1) * k),
        truth[q] as Set<number>,
      );
  }
  log(`exhaustive: ${o.exhaustiveQueries} queries each side`);

  const results: SearchBenchReport['results'] = [];
  for (const nprobe of o.nprobes) {
    const ours: number[] = [];
    const theirsTimes: number[] = [];
    let hits = 0;
    let faissHits = 0;
    // Warm-up, untimed on both sides: our search's first calls run before V8 has optimized
    // them (the first nprobe's p99 was those calls), FAISS's warm its caches the same way.
    for (let q = 0; q < o.warmup; q += 1) search(query(q), k, 'inner-product', { nprobe });
    if (o.warmup > 0) await reference.search('ivf', nprobe, 0, o.warmup);
    for (let from = 0; from < o.queries; from += o.block) {
      const to = Math.min(o.queries, from + o.block);
      for (let q = from; q < to; q += 1) {
        const t = performance.now();
        const found = search(query(q), k, 'inner-product', { nprobe });
        ours.push(performance.now() - t);
        hits += overlap(Array.from(found.ids), truth[q] as Set<number>);
      }
      const theirs = await reference.search('ivf', nprobe, from, to);
      theirsTimes.push(...theirs.times);
      for (let q = from; q < to; q += 1)
        faissHits += overlap(
          theirs.ids.slice((q - from) * k, (q - from + 1) * k),
          truth[q] as Set<number>,
        );
    }
    const row = {
      nprobe,
      recall: hits / (o.queries * k),
      faissRecall: faissHits / (o.queries * k),
      ...latency(ours),
      ...faissLatency(theirsTimes),
    };
    results.push(row);
    log(
      `nprobe ${nprobe}: recall ${row.recall.toFixed(4)} vs ${row.faissRecall.toFixed(4)}, p50 ${row.p50Ms.toFixed(3)} vs ${row.faissP50Ms.toFixed(3)} ms, p99 ${row.p99Ms.toFixed(3)} vs ${row.faissP99Ms.toFixed(3)} ms`,
    );
  }
  flat.dispose();
  await reference.close();
  return {
    results,
    exhaustive: { ...latency(flatTimes), ...faissLatency(faissFlatTimes) },
    buildSeconds,
    faissBuildSeconds: faiss.buildSeconds,
    bytesPerVector,
    faissBytesPerVector: faiss.bytesPerVector,
    spec: table.spec,
    faissVersion: faiss.version,
    exhaustiveAgreement: agreement / (o.exhaustiveQueries * k),
    dataset: { rows: o.rows, dim, queries: o.queries, clusters: o.clusters, seed: o.seed, k },
    kernels: kernelImpl(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
    },
    loadAverage: { start: loadStart, end: loadavg()[0] as number },
  };
}

function latency(times: number[]): { p50Ms: number; p99Ms: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
}

function faissLatency(times: number[]): { faissP50Ms: number; faissP99Ms: number } {
  const { p50Ms, p99Ms } = latency(times);
  return { faissP50Ms: p50Ms, faissP99Ms: p99Ms };
}

function overlap(found: ArrayLike<number>, truth: ReadonlySet<number>): number {
  let n = 0;
  for (let i = 0; i < found.length; i += 1) if (truth.has(found[i] as number)) n += 1;
  return n;
}

/** The version of faiss `python` imports; BenchSetupError (exit code 2) when it cannot. */
export function checkFaiss(python: string): string {
  const r = spawnSync(python, ['-c', 'import numpy, faiss; print(faiss.__version__)'], {
    encoding: 'utf8',
  });
  if (r.error !== undefined)
    throw new BenchSetupError(
      `--vs faiss needs ${python} (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Python 3 or pass --python PATH`,
    );
  if (r.status !== 0) {
    const last = (r.stderr ?? '').trim().split('\n').pop() ?? '';
    throw new BenchSetupError(
      `--vs faiss needs faiss and numpy importable by ${python} (${last}); install them with: pip install faiss-cpu`,
    );
  }
  return r.stdout.trim();
}

/** FAISS in a child process speaking faiss_reference.py's line protocol. */
class FaissProcess implements ReferenceSide {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: ((line: string) => void)[] = [];
  private exited: string | undefined;

  constructor(python: string, args: string[], log: (line: string) => void) {
    this.child = spawn(python, [FAISS_SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
    createInterface({ input: this.child.stderr }).on('line', (line) => log(`faiss: ${line}`));
    this.child.on('exit', (code, signal) => {
      this.exited = `faiss_reference.py exited (${signal ?? code})`;
      for (const waiter of this.pending.splice(0)) waiter('');
    });
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (this.exited !== undefined) return reject(new Error(this.exited));
      this.pending.push((line) =>
        line === '' ? reject(new Error(this.exited ?? 'no answer')) : resolve(JSON.parse(line)),
      );
    });
  }

  async build() {
    const ready = await this.next();
    return {
      buildSeconds: ready['buildSeconds'] as number,
      bytesPerVector: ready['bytesPerVector'] as number,
      version: ready['version'] as string,
    };
  }

  async search(index: 'ivf' | 'flat', nprobe: number, start: number, end: number) {
    const answer = this.next();
    this.child.stdin.write(`${JSON.stringify({ op: 'search', index, nprobe, start, end })}\n`);
    const r = await answer;
    return { ids: r['ids'] as number[], times: r['times'] as number[] };
  }

  async close() {
    if (this.exited !== undefined) return;
    const done = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.write(`${JSON.stringify({ op: 'quit' })}\n`);
    this.child.stdin.end();
    await done;
  }
}

/** `embpress bench search ...` */
export async function benchSearchCommand(args: string[]): Promise<void> {
  let o: SearchBenchOptions | 'help';
  try {
    o = parseSearchBenchArgs(args);
  } catch (err) {
    if (err instanceof UsageError || isOptionError(err)) {
      process.stderr.write(
        `embpress bench search: ${(err as Error).message}\n${SEARCH_BENCH_USAGE}\n`,
      );
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  if (o === 'help') {
    process.stdout.write(`${SEARCH_BENCH_USAGE}\n`);
    return;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const version = checkFaiss(o.python);
  log(
    `faiss ${version} (${o.python}); data: ${o.rows} × ${o.dim} around ${o.clusters} centres, ${o.queries} queries, seed ${o.seed}`,
  );
  const data = clusteredUnitVectors(o.rows, o.queries, o.dim, o.clusters, o.seed);
  const dir = mkdtempSync(join(tmpdir(), 'embpress-search-bench-'));
  try {
    const le = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    writeFileSync(join(dir, 'base.f32'), le(data.base));
    writeFileSync(join(dir, 'queries.f32'), le(data.queries));
    const faiss = new FaissProcess(
      o.python,
      [
        '--base',
        join(dir, 'base.f32'),
        '--queries',
        join(dir, 'queries.f32'),
        '--dim',
        String(o.dim),
        '--nlist',
        String(o.nlist),
        '--k',
        String(o.k),
        '--seed',
        String(o.seed),
      ],
      log,
    );
    const report = await runSearchBench(o, data, faiss, log);
    process.stdout.write(
      o.json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

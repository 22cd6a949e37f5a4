// Search benchmark of the code scans (issue #6 "Must show": search p99 for k=10 over 100k × 384
// int8 vectors ≤ 20 ms at recall@10 ≥ 0.95). Generated clustered data (unit vectors around
// `clusters` random unit centres), queries from the same distribution, exact fp32 top-k as the
// reference; for the exhaustive rowwise-int8 scan and for ivf(nlist)|rowwise-int8 at each nprobe:
// recall@k and per-query latency p50/p99 (one query per search call, as a retriever issues them).
//
//   node --require tsx/cjs tools/bench-search.ts [--rows 100000] [--dim 384] [--clusters 1000]
//     [--queries 1000] [--k 10] [--nlist 1024] [--nprobe 8,16,32,64] [--exhaustive-queries 200]
//     [--seed 1] [--json]
//
// Last stdout line with --json: {rows, dim, ..., compressSeconds, results:[{method, nprobe?,
// recallAt10, p50Ms, p99Ms, queries}]}.
import { readFileSync } from 'node:fs';
import {
  exactSearch,
  registry,
  Rng,
  type CodecMethod,
  type CompressedTable,
} from '@embpress/compression';
import { percentile } from '@embpress/loadtest';

interface Options {
  rows: number;
  dim: number;
  clusters: number;
  queries: number;
  k: number;
  nlist: number;
  nprobe: number[];
  exhaustiveQueries: number;
  seed: number;
  noise: number;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    rows: 100_000,
    dim: 384,
    clusters: 1000,
    queries: 1000,
    k: 10,
    nlist: 1024,
    nprobe: [8, 16, 32, 64],
    exhaustiveQueries: 200,
    seed: 1,
    noise: 0.6,
    json: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] as string;
    if (flag === '--json') {
      o.json = true;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i += 1;
    const int = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`${flag}: ${value} is not a positive integer`);
      return n;
    };
    switch (flag) {
      case '--rows':
        o.rows = int();
        break;
      case '--dim':
        o.dim = int();
        break;
      case '--clusters':
        o.clusters = int();
        break;
      case '--queries':
        o.queries = int();
        break;
      case '--k':
        o.k = int();
        break;
      case '--nlist':
        o.nlist = int();
        break;
      case '--exhaustive-queries':
        o.exhaustiveQueries = int();
        break;
      case '--seed':
        o.seed = int();
        break;
      case '--noise':
        o.noise = Number(value);
        break;
      case '--nprobe':
        o.nprobe = value.split(',').map((v) => Number(v));
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  return o;
}

/** `count` unit vectors: a random unit centre of `clusters` plus gaussian noise of norm ≈ noise. */
function clustered(
  centres: Float32Array,
  clusters: number,
  count: number,
  dim: number,
  noise: number,
  rng: Rng,
): Float32Array {
  const out = new Float32Array(count * dim);
  const sigma = noise / Math.sqrt(dim);
  for (let i = 0; i < count; i += 1) {
    const c = rng.int(0, clusters) * dim;
    let norm = 0;
    for (let j = 0; j < dim; j += 1) {
      const v = (centres[c + j] as number) + sigma * rng.normal();
      out[i * dim + j] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let j = 0; j < dim; j += 1) out[i * dim + j] = (out[i * dim + j] as number) * inv;
  }
  return out;
}

function unitCentres(clusters: number, dim: number, rng: Rng): Float32Array {
  const out = new Float32Array(clusters * dim);
  for (let c = 0; c < clusters; c += 1) {
    let norm = 0;
    for (let j = 0; j < dim; j += 1) {
      const v = rng.normal();
      out[c * dim + j] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let j = 0; j < dim; j += 1) out[c * dim + j] = (out[c * dim + j] as number) * inv;
  }
  return out;
}

interface Result {
  method: string;
  nprobe?: number;
  queries: number;
  recallAt10: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of the search call (this process, all threads): the work, without waiting for a core. */
  cpuP50Ms: number;
  cpuP99Ms: number;
}

/** One search call per query; recall@k against the exact ids. */
function measure(
  method: string,
  table: CompressedTable,
  queries: Float32Array,
  count: number,
  o: Options,
  truth: Uint32Array,
  nprobe?: number,
): Result {
  const search = table.search?.bind(table);
  if (search === undefined) throw new Error(`${table.spec} cannot search`);
  const times: number[] = [];
  const cpu: number[] = [];
  let found = 0;
  // Warm-up (JIT) on a few queries, not timed.
  for (let q = 0; q < Math.min(20, count); q += 1)
    search(queries.subarray(q * o.dim, (q + 1) * o.dim), o.k, 'inner-product', { nprobe });
  for (let q = 0; q < count; q += 1) {
    const query = queries.subarray(q * o.dim, (q + 1) * o.dim);
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    const hits = search(query, o.k, 'inner-product', { nprobe });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1e3);
    const exact = new Set(truth.subarray(q * o.k, (q + 1) * o.k));
    for (const id of hits.ids) if (exact.has(id)) found += 1;
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return {
    method,
    ...(nprobe === undefined ? {} : { nprobe }),
    queries: count,
    recallAt10: found / (count * o.k),
    p50Ms: Number(percentile(times, 0.5).toFixed(3)),
    p99Ms: Number(percentile(times, 0.99).toFixed(3)),
    cpuP50Ms: Number(percentile(cpu, 0.5).toFixed(3)),
    cpuP99Ms: Number(percentile(cpu, 0.99).toFixed(3)),
  };
}

function compress(
  spec: string,
  data: Float32Array,
  o: Options,
): { table: CompressedTable; seconds: number } {
  const { method, params } = registry.resolve(spec);
  const start = process.hrtime.bigint();
  const table = (method as CodecMethod).compress(data, { fields: [o.rows], dim: o.dim }, params, {
    seed: o.seed,
  });
  return { table, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const loadavgAtStart = readFileSync('/proc/loadavg', 'utf8').trim();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const rng = new Rng(o.seed);
  const centres = unitCentres(o.clusters, o.dim, rng);
  const data = clustered(centres, o.clusters, o.rows, o.dim, o.noise, rng);
  const queries = clustered(centres, o.clusters, o.queries, o.dim, o.noise, rng);
  log(`data ${o.rows} × ${o.dim}, ${o.clusters} clusters; ${o.queries} queries`);

  let start = process.hrtime.bigint();
  const truth = exactSearch(data, o.dim, queries, o.k, 'inner-product').ids;
  log(`exact fp32 top-${o.k}: ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s`);

  const results: Result[] = [];
  const rowwise = compress('rowwise-int8', data, o);
  log(`rowwise-int8 compressed in ${rowwise.seconds.toFixed(1)} s`);
  const exhaustive = Math.min(o.exhaustiveQueries, o.queries);
  results.push(measure('rowwise-int8', rowwise.table, queries, exhaustive, o, truth));
  log(JSON.stringify(results.at(-1)));

  const spec = `ivf(nlist=${o.nlist},nprobe=${Math.min(o.nlist, o.nprobe[0] ?? 8)})|rowwise-int8`;
  start = process.hrtime.bigint();
  const ivf = compress(spec, data, o);
  log(`${ivf.table.spec} compressed in ${ivf.seconds.toFixed(1)} s`);
  for (const nprobe of o.nprobe) {
    results.push(measure(ivf.table.spec, ivf.table, queries, o.queries, o, truth, nprobe));
    log(JSON.stringify(results.at(-1)));
  }
  const summary = {
    rows: o.rows,
    dim: o.dim,
    clusters: o.clusters,
    queries: o.queries,
    k: o.k,
    metric: 'inner-product',
    compressSeconds: {
      'rowwise-int8': Number(rowwise.seconds.toFixed(2)),
      ivf: Number(ivf.seconds.toFixed(2)),
    },
    bytesPerVector: {
      'rowwise-int8': rowwise.table.memoryBytes() / o.rows,
      ivf: ivf.table.memoryBytes() / o.rows,
    },
    loadavgAtStart,
    loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
    results,
  };
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main();

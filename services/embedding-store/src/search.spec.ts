// Search over a real store (gRPC on 127.0.0.1:0): an ivf table with nprobe variations, exact
// re-rank from the `<table>.fp32` companion, and the errors when a companion is missing or wrong.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { common, store } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exactSearch,
  registry,
  Rng,
  writeArtifact,
  type CodecMethod,
  type CompressedTable,
} from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { loadStoreConfig } from './config';
import { startStore } from './main';

const rows = 800;
const dim = 12;

/** Unit vectors around 16 random centres (the data an inverted file is made for). */
function clustered(rng: Rng, count: number): Float32Array {
  const centres = new Rng(99);
  const c = new Float32Array(16 * dim).map(() => centres.normal());
  const out = new Float32Array(count * dim);
  for (let r = 0; r < count; r += 1) {
    const at = rng.int(0, 16) * dim;
    let norm = 0;
    for (let j = 0; j < dim; j += 1) {
      const v = (c[at + j] as number) + 0.35 * rng.normal();
      out[r * dim + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < dim; j += 1)
      out[r * dim + j] = (out[r * dim + j] as number) / Math.sqrt(norm);
  }
  return out;
}

const data = clustered(new Rng(1), rows);
const queries = clustered(new Rng(2), 6);
const nq = queries.length / dim;

function compress(spec: string, table = data, count = rows): CompressedTable {
  const { method, params } = registry.resolve(spec);
  return (method as CodecMethod).compress(table, { fields: [count], dim }, params, { seed: 1 });
}

function fullBytes(table: Float32Array, count: number): Uint8Array {
  return writeArtifact({
    method: 'full',
    spec: 'full',
    params: {},
    shape: { fields: [count], dim },
    sections: new Map([['table', table]]),
  });
}

describe('Search', () => {
  let running: RunningService;
  let client: store.EmbeddingStoreServiceClient;
  let root: string;
  // k-means on 16 rows per list (not the default 256): lists coarse enough that nprobe visibly
  // matters on this small data set (the test below checks that one list misses hits).
  const ivf = compress('ivf(nlist=20,nprobe=3,trainPerList=16)|rowwise-int8');
  const plain = compress('rowwise-int8');

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embpress-store-search-'));
    const full = registry.load(fullBytes(data, rows));
    const short = registry.load(fullBytes(data.subarray(0, (rows - 1) * dim), rows - 1));
    new ModelRegistryDir(root).writeVersion({
      model: 'docs',
      version: 'v1',
      tables: [
        tableToWrite('passages', ivf),
        tableToWrite('passages.fp32', full),
        tableToWrite('plain', plain),
        tableToWrite('plain.fp32', full),
        tableToWrite('lonely', plain),
        tableToWrite('odd', plain),
        tableToWrite('odd.fp32', short),
      ],
    });
    running = await startStore(
      loadStoreConfig({
        EMBPRESS_STORE_PORT: '0',
        EMBPRESS_STORE_REGISTRY_ROOT: root,
        EMBPRESS_STORE_SEARCH_RERANK_FACTOR: '4',
      }),
      pino({ level: 'silent' }),
    );
    client = new store.EmbeddingStoreServiceClient(running.address, credentials.createInsecure());
    await new Promise<void>((resolve, reject) =>
      client.loadVersion({ model: 'docs', version: 'v1' }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await new Promise<void>((resolve, reject) =>
      client.activateVersion({ model: 'docs', version: 'v1' }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  });

  afterAll(async () => {
    client.close();
    await running.stop();
    rmSync(root, { recursive: true, force: true });
  });

  function search(
    table: string,
    k: number,
    options: { nprobe?: number; exactRerank?: boolean; metric?: store.Metric } = {},
  ): Promise<{ res?: store.SearchResponse; err?: ServiceError }> {
    return new Promise((resolve) =>
      client.search(
        {
          model: 'docs',
          table,
          k,
          metric: options.metric ?? store.Metric.METRIC_INNER_PRODUCT,
          exactRerank: options.exactRerank ?? false,
          nprobe: options.nprobe ?? 0,
          version: '',
          queries: {
            encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
            dim,
            count: nq,
            data: Buffer.from(queries.buffer, queries.byteOffset, queries.byteLength),
            codec: '',
          },
        },
        new Metadata(),
        { deadline: Date.now() + 10_000 },
        (err, res) => resolve(err ? { err } : { res }),
      ),
    );
  }

  const flatIds = (res: store.SearchResponse | undefined) =>
    (res?.results ?? []).flatMap((r) => r.ids);
  const flatScores = (res: store.SearchResponse | undefined) =>
    (res?.results ?? []).flatMap((r) => r.scores);

  it('passes nprobe to an ivf table: 0 = its default, each value the codec result', async () => {
    for (const nprobe of [1, 3, 7, 20]) {
      const { res, err } = await search('passages', 5, { nprobe });
      expect(err).toBeUndefined();
      const local = ivf.search?.(queries, 5, 'inner-product', { nprobe });
      expect(flatIds(res)).toEqual(Array.from(local?.ids ?? []));
      expect(flatScores(res)).toEqual(Array.from(local?.scores ?? []));
    }
    const byDefault = await search('passages', 5);
    expect(flatIds(byDefault.res)).toEqual(
      Array.from(ivf.search?.(queries, 5, 'inner-product', { nprobe: 3 }).ids ?? []),
    );
    // Every list: exactly the exhaustive scan of the same codes.
    const all = await search('passages', 5, { nprobe: 20 });
    expect(flatIds(all.res)).toEqual(
      Array.from(plain.search?.(queries, 5, 'inner-product').ids ?? []),
    );
    // The knob matters on this data: one list misses hits that every list finds.
    const one = await search('passages', 5, { nprobe: 1 });
    expect(flatIds(one.res)).not.toEqual(flatIds(all.res));
    // Tables without a coarse index ignore nprobe.
    const flat = await search('plain', 5, { nprobe: 2 });
    expect(flatIds(flat.res)).toEqual(flatIds(all.res));
  });

  it('exact_rerank equals a brute-force fp32 search', async () => {
    for (const metric of [store.Metric.METRIC_INNER_PRODUCT, store.Metric.METRIC_L2]) {
      const exact = exactSearch(
        data,
        dim,
        queries,
        5,
        metric === store.Metric.METRIC_L2 ? 'l2' : 'inner-product',
      );
      for (const table of ['plain', 'passages']) {
        const { res, err } = await search(table, 5, {
          exactRerank: true,
          metric,
          nprobe: 20,
        });
        expect(err).toBeUndefined();
        expect(res?.results.map((r) => r.ids.length)).toEqual(Array(nq).fill(5));
        expect(flatIds(res)).toEqual(Array.from(exact.ids));
        expect(flatScores(res)).toEqual(Array.from(exact.scores));
      }
    }
  });

  it('exact_rerank without the <table>.fp32 companion is FAILED_PRECONDITION naming it', async () => {
    const { err } = await search('lonely', 3, { exactRerank: true });
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(err?.details).toMatch(/"lonely\.fp32"/);
    const odd = await search('odd', 3, { exactRerank: true });
    expect(odd.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(odd.err?.details).toMatch(/"odd\.fp32" must be a full table of 800 × 12/);
  });
});

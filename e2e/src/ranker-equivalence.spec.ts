// The ranker end to end (issue #6, Ranker and Equivalence): a tiny DLRM trained here into a temp
// registry (rowwise-int8 table, so the store sends compressed codes the client decodes), served by
// a real `embpress serve store` and real `embpress serve ranker` processes on 127.0.0.1:0. Every
// test-split row ranked through them must score what the trainer predicted for it offline
// (max |diff| <= 1e-5), and the ranker with its hot-row cache (the default) must score exactly
// what a ranker without it (EMBPRESS_RANKER_ROW_CACHE_BYTES=0) scores, cold and warm. Then:
// unknown model, a stopped store (UNAVAILABLE, degraded answers when configured, or answers from
// the cache alone for a pinned version whose rows it holds), and the trace of a Rank call read
// from the exported span file.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, synthSplit } from '@embpress/data';
import { ModelRegistryDir } from '@embpress/model-registry';
import { ranker } from '@embpress/proto';
import { lazyRequire } from '@embpress/service-kit/config';

type RawRows = import('@embpress/bench/ranker-rows').RawRows;
// The raw-row helpers of the ranker benchmark (what a client sends), loaded like the CLI loads
// the bench app.
const { readRawRows, rowColumns, rowFeatures } = lazyRequire<
  typeof import('@embpress/bench/ranker-rows')
>('@embpress/bench/ranker-rows');
import { readyPort, runCli, type CliProcess, stopCli } from '@embpress/cli/testing';

// Generous: the spec trains a model and starts a store and three rankers, which on a loaded 2-core
// machine took over a minute to report SERVING.
jest.setTimeout(300_000);

type Trainer = typeof import('@embpress/training');
type TrainResult = import('@embpress/training').TrainResult;
// Services are loaded, not imported, by the CLI (module boundaries).
const { train } = lazyRequire<Trainer>('@embpress/training');

const ROWS = 3000;

interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  startTimeUnixNano: string;
}

function rank(
  port: number,
  request: Partial<ranker.RankRequest>,
): Promise<ServiceError | ranker.RankResponse> {
  const client = new ranker.RankerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise((resolve) => {
    client.rank(
      ranker.RankRequest.fromPartial(request),
      new Metadata(),
      { deadline: Date.now() + 20_000 },
      (err, res) => {
        client.close();
        resolve(err ?? res);
      },
    );
  });
}

function ok(result: ServiceError | ranker.RankResponse): ranker.RankResponse {
  if (result instanceof Error) throw new Error(`Rank failed: ${result.code} ${result.details}`);
  return result;
}

describe('ranker over a real store', () => {
  let dir: string;
  let trained: TrainResult;
  let test: RawRows;
  let store: CliProcess;
  let rankerProc: CliProcess;
  let degradedProc: CliProcess;
  let uncachedProc: CliProcess;
  let rankerPort: number;
  let degradedPort: number;
  let uncachedPort: number;
  const spansFile = () => join(dir, 'spans.jsonl');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-ranker-'));
    const file = join(dir, 'train.txt');
    await generateSynthetic({ rows: ROWS, seed: 21, out: file });
    const registryRoot = join(dir, 'models');
    trained = await train({
      data: `criteo:${file}`,
      model: 'dlrm',
      modelOverrides: { dim: 8, bottom: [16], top: [16] },
      method: 'rowwise-int8',
      epochs: 1,
      batchSize: 128,
      lr: 0.01,
      optimizer: 'adam',
      partsPerEpoch: 2,
      earlyStopParts: 2,
      seed: 7,
      backend: 'wasm',
      registryRoot,
      modelName: 'ctr',
      version: 'v1',
    });
    new ModelRegistryDir(registryRoot).setActiveVersion('ctr', 'v1');
    // The trainer's test split of a Criteo file: a range of data rows, in file order.
    const range = synthSplit('criteo', ROWS).test;
    if (range === undefined) throw new Error('no test split');
    test = await readRawRows(`criteo:${file}`, range);

    const common = { EMBPRESS_SPANS_FILE: spansFile(), EMBPRESS_LOG_LEVEL: 'warn' };
    store = runCli(['serve', 'store'], {
      ...common,
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_REGISTRY_ROOT: registryRoot,
    });
    const storePort = await readyPort(store, 120_000);
    const rankerEnv = {
      ...common,
      EMBPRESS_RANKER_PORT: '0',
      EMBPRESS_RANKER_STORE_ADDRESS: `127.0.0.1:${storePort}`,
      EMBPRESS_RANKER_REGISTRY_ROOT: registryRoot,
      EMBPRESS_RANKER_STORE_TIMEOUT_MS: '3000',
    };
    rankerProc = runCli(['serve', 'ranker'], rankerEnv);
    degradedProc = runCli(['serve', 'ranker'], {
      ...rankerEnv,
      EMBPRESS_RANKER_DEGRADED_ON_SHARD_FAILURE: 'true',
    });
    uncachedProc = runCli(['serve', 'ranker'], {
      ...rankerEnv,
      EMBPRESS_RANKER_ROW_CACHE_BYTES: '0',
    });
    [rankerPort, degradedPort, uncachedPort] = await Promise.all([
      readyPort(rankerProc, 120_000),
      readyPort(degradedProc, 120_000),
      readyPort(uncachedProc, 120_000),
    ]);
  });

  afterAll(async () => {
    await Promise.all([
      stopCli(rankerProc),
      stopCli(degradedProc),
      stopCli(uncachedProc),
      stopCli(store),
    ]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('scores every test row as the trainer did offline (max |diff| <= 1e-5)', async () => {
    const predictions = trained.test.predictions;
    expect(test.rows.length).toBe(predictions.length);
    expect(test.rows.length).toBeGreaterThan(100);
    let maxDiff = 0;
    const cold: ranker.RankResponse[] = [];
    for (let start = 0; start < test.rows.length; start += 100) {
      const chunk = test.rows.slice(start, start + 100);
      const response = ok(
        await rank(rankerPort, {
          model: 'ctr',
          candidates: chunk.map((row, i) => ({
            id: String(start + i),
            features: rowFeatures(test, row),
          })),
        }),
      );
      cold.push(response);
      expect(response).toMatchObject({ model: 'ctr', version: 'v1', degraded: false });
      expect(response.ranked).toHaveLength(chunk.length);
      for (let i = 1; i < response.ranked.length; i += 1)
        expect(response.ranked[i - 1]?.score).toBeGreaterThanOrEqual(
          response.ranked[i]?.score as number,
        );
      for (const { id, score } of response.ranked)
        maxDiff = Math.max(maxDiff, Math.abs(score - (predictions[Number(id)] as number)));
    }
    expect(maxDiff).toBeLessThanOrEqual(1e-5);

    // With and without the hot-row cache, cold (first pass above) and warm (every row cached
    // now), and with the candidates as rows or as columns: the same scores, exactly.
    for (let start = 0; start < test.rows.length; start += 100) {
      const request = {
        model: 'ctr',
        candidates: test.rows.slice(start, start + 100).map((row, i) => ({
          id: String(start + i),
          features: rowFeatures(test, row),
        })),
      };
      // The same candidates as feature columns (one value per candidate).
      const rows = test.rows.slice(start, start + 100);
      const columnar = {
        model: 'ctr',
        candidateIds: rows.map((_, i) => String(start + i)),
        columns: rowColumns(test, rows),
      };
      const [warm, uncached, columns] = await Promise.all([
        rank(rankerPort, request).then(ok),
        rank(uncachedPort, request).then(ok),
        rank(uncachedPort, columnar).then(ok),
      ]);
      expect(warm.ranked).toEqual(uncached.ranked);
      expect(cold[start / 100]?.ranked).toEqual(uncached.ranked);
      expect(columns.ranked).toEqual(uncached.ranked);
    }

    // The degraded-mode ranker answers like the other one while the store is up.
    const same = ok(
      await rank(degradedPort, {
        model: 'ctr',
        version: 'v1',
        candidates: [{ id: '0', features: rowFeatures(test, test.rows[0] as never) }],
      }),
    );
    expect(same.degraded).toBe(false);
    expect(
      Math.abs((same.ranked[0]?.score as number) - (predictions[0] as number)),
    ).toBeLessThanOrEqual(1e-5);
  });

  it('answers NOT_FOUND for a model the store does not serve', async () => {
    const result = await rank(rankerPort, {
      model: 'nope',
      candidates: [{ id: 'a', features: [] }],
    });
    expect((result as ServiceError).code).toBe(status.NOT_FOUND);
    expect((result as ServiceError).details).toMatch(/^store DescribeTables: .*"nope"/);
  });

  it('answers UNAVAILABLE once the store is gone, or degraded scores when configured', async () => {
    await stopCli(store);
    const request = {
      model: 'ctr',
      candidates: test.rows.slice(0, 5).map((row, i) => ({
        id: String(i),
        features: rowFeatures(test, row),
      })),
    };
    const failed = await rank(uncachedPort, request);
    expect((failed as ServiceError).code).toBe(status.UNAVAILABLE);
    expect((failed as ServiceError).details).toMatch(/^store (BatchLookup|DescribeTables): /);
    // A pinned version whose rows are all in the hot-row cache needs no store call at all.
    const cached = ok(await rank(rankerPort, { ...request, version: 'v1' }));
    expect(cached).toMatchObject({ model: 'ctr', version: 'v1', degraded: false });
    for (const { id, score } of cached.ranked)
      expect(
        Math.abs(score - (trained.test.predictions[Number(id)] as number)),
      ).toBeLessThanOrEqual(1e-5);

    const degraded = ok(await rank(degradedPort, request));
    expect(degraded).toMatchObject({ model: 'ctr', version: 'v1', degraded: true });
    expect(degraded.ranked).toHaveLength(5);
    for (const { score } of degraded.ranked) {
      expect(score).toBeGreaterThan(0);
      expect(score).toBeLessThan(1);
    }
  });

  it('traces a Rank call: ranker span → store lookup span (table, method, ids, bytes) → store', async () => {
    // Graceful stops flush the spans (the store already stopped).
    await Promise.all([stopCli(rankerProc), stopCli(degradedProc), stopCli(uncachedProc)]);
    const spans: SpanLine[] = readFileSync(spansFile(), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SpanLine);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    // The first Rank of the cached ranker: every row missed, so the store was called.
    const lookup = spans.find(
      (s) =>
        s.name === 'ranker.store_lookup' &&
        s.attributes['embpress.degraded'] === undefined &&
        s.attributes['embpress.cache.misses'] !== undefined &&
        s.resource['service.name'] === 'embpress-ranker',
    );
    expect(lookup?.attributes['embpress.cache.hits']).toBe(0);
    expect(lookup?.attributes['embpress.cache.misses']).toBeGreaterThan(0);
    expect(lookup?.attributes).toMatchObject({
      'embpress.table': 'sparse',
      'embpress.method': 'rowwise-int8',
      'embpress.encoding': 'codes',
      'embpress.version': 'v1',
    });
    expect(lookup?.attributes['embpress.ids']).toBeGreaterThan(0);
    expect(lookup?.attributes['embpress.bytes']).toBeGreaterThan(0);
    const rankSpan = byId.get(lookup?.parentSpanId ?? '');
    expect(rankSpan).toMatchObject({
      kind: 'SERVER',
      name: expect.stringMatching(/RankerService\/Rank$/),
      traceId: lookup?.traceId,
    });
    const siblings = spans
      .filter((s) => s.parentSpanId === rankSpan?.spanId)
      .map((s) => s.name)
      .sort();
    // (the first call of a model also asks the store for its active version: DescribeTables)
    expect(siblings).toEqual(
      expect.arrayContaining([
        'ranker.dense_forward',
        'ranker.feature_mapping',
        'ranker.store_lookup',
      ]),
    );
    const client = spans.find((s) => s.parentSpanId === lookup?.spanId && s.kind === 'CLIENT');
    // The store call: one message on the LookupStream (the store client's default transport).
    expect(client?.name).toMatch(/EmbeddingStoreService\/LookupStream$/);
    const server = spans.find((s) => s.parentSpanId === client?.spanId && s.kind === 'SERVER');
    expect(server?.resource['service.name']).toBe('embpress-store');
    expect(server?.traceId).toBe(lookup?.traceId);
    expect(server?.attributes['embpress.ids']).toBeGreaterThan(0);
    expect(server?.attributes['embpress.bytes_out']).toBeGreaterThan(0);
    // The client's decode of the codes: a child of the lookup, after the store call returned.
    const decode = spans.find(
      (s) => s.parentSpanId === lookup?.spanId && s.name === 'ranker.decode',
    );
    // The store was asked for the distinct ids the cache missed (fewer than the request's ids:
    // a field's values repeat across candidates).
    expect(decode?.attributes['embpress.rows']).toBe(lookup?.attributes['embpress.cache.misses']);
    expect(decode?.attributes['embpress.rows']).toBeLessThan(
      lookup?.attributes['embpress.ids'] as number,
    );
    expect(BigInt(decode?.startTimeUnixNano ?? 0)).toBeGreaterThanOrEqual(
      BigInt(client?.startTimeUnixNano ?? '9'.repeat(30)),
    );
    // A warm Rank: every row from the cache, no store call below its lookup span.
    const warm = spans.find(
      (s) =>
        s.name === 'ranker.store_lookup' &&
        s.attributes['embpress.cache.misses'] === 0 &&
        (s.attributes['embpress.cache.hits'] as number) > 0,
    );
    expect(warm?.attributes).toMatchObject({ 'embpress.shards': 0, 'embpress.bytes': 0 });
    expect(spans.filter((s) => s.parentSpanId === warm?.spanId)).toEqual([]);
    // Without the cache: no cache attributes, the request's ids all go to the store.
    const uncached = spans.find(
      (s) =>
        s.name === 'ranker.store_lookup' &&
        s.attributes['embpress.cache.hits'] === undefined &&
        s.attributes['embpress.degraded'] === undefined,
    );
    const uncachedDecode = spans.find(
      (s) => s.parentSpanId === uncached?.spanId && s.name === 'ranker.decode',
    );
    expect(uncachedDecode?.attributes['embpress.rows']).toBe(uncached?.attributes['embpress.ids']);
  });
});

// `--model fm` served like any other model (issue #12 item 3): a small FM trained here on
// generated Criteo rows into a temp registry, served by real `embpress serve store` and
// `embpress serve ranker` processes on 127.0.0.1:0; every test-split row ranked through them must
// score what the trainer predicted for it offline (max |diff| <= 1e-5), as rows and as columns.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
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
import { type CliProcess, stopCli, serveStoreAndRanker } from '@embpress/cli/testing';

jest.setTimeout(120_000);

type Trainer = typeof import('@embpress/training');
type TrainResult = import('@embpress/training').TrainResult;
// Services are loaded, not imported, by the CLI (module boundaries).
const { train } = lazyRequire<Trainer>('@embpress/training');

const ROWS = 2000;

function rank(port: number, request: Partial<ranker.RankRequest>): Promise<ranker.RankResponse> {
  const client = new ranker.RankerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.rank(
      ranker.RankRequest.fromPartial(request),
      new Metadata(),
      { deadline: Date.now() + 20_000 },
      (err: ServiceError | null, res) => {
        client.close();
        if (err !== null) reject(new Error(`Rank failed: ${err.code} ${err.details}`));
        else resolve(res);
      },
    );
  });
}

describe('an FM served by the ranker over a real store', () => {
  let dir: string;
  let trained: TrainResult;
  let test: RawRows;
  let store: CliProcess | undefined;
  let rankerProc: CliProcess | undefined;
  let rankerPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-ranker-fm-'));
    const file = join(dir, 'train.txt');
    await generateSynthetic({ rows: ROWS, seed: 31, out: file });
    const registryRoot = join(dir, 'models');
    trained = await train({
      data: `criteo:${file}`,
      model: 'fm',
      modelOverrides: { dim: 5 },
      method: 'full',
      epochs: 2,
      batchSize: 128,
      lr: 0.01,
      seed: 3,
      backend: 'wasm',
      registryRoot,
      modelName: 'fm',
      version: 'v1',
      checkpoints: false,
    });
    new ModelRegistryDir(registryRoot).setActiveVersion('fm', 'v1');
    const range = synthSplit('criteo', ROWS).test;
    if (range === undefined) throw new Error('no test split');
    test = await readRawRows(`criteo:${file}`, range);

    ({
      store,
      ranker: rankerProc,
      rankerPort,
    } = await serveStoreAndRanker(registryRoot, join(dir, 'spans.jsonl'), {
      EMBPRESS_RANKER_WORKERS: '1',
    }));
  });

  afterAll(async () => {
    await Promise.all([stopCli(rankerProc), stopCli(store)]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('is an FM that learned something', () => {
    expect(trained.manifest).toMatchObject({ architecture: { kind: 'fm', dim: 5 } });
    expect(trained.metrics.testAuc).toBeGreaterThan(0.55);
  });

  it('scores every test row as the trainer did offline (max |diff| <= 1e-5)', async () => {
    const predictions = trained.test.predictions;
    expect(test.rows.length).toBe(predictions.length);
    expect(test.rows.length).toBeGreaterThan(100);
    let maxDiff = 0;
    for (let start = 0; start < test.rows.length; start += 100) {
      const rows = test.rows.slice(start, start + 100);
      const [asRows, asColumns] = await Promise.all([
        rank(rankerPort, {
          model: 'fm',
          candidates: rows.map((row, i) => ({
            id: String(start + i),
            features: rowFeatures(test, row),
          })),
        }),
        rank(rankerPort, {
          model: 'fm',
          candidateIds: rows.map((_, i) => String(start + i)),
          columns: rowColumns(test, rows),
        }),
      ]);
      expect(asRows).toMatchObject({ model: 'fm', version: 'v1', degraded: false });
      expect(asRows.ranked).toHaveLength(rows.length);
      expect(asColumns.ranked).toEqual(asRows.ranked);
      for (const { id, score } of asRows.ranked)
        maxDiff = Math.max(maxDiff, Math.abs(score - (predictions[Number(id)] as number)));
    }
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
  });
});

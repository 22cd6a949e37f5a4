// The ranker-rank load test's two request forms against a real ranker: a tiny DLRM trained here on
// the synthetic data the scenario draws its raw values from (`embpress data synth --seed
// synthSeed`, scale 0.001), served by real `embpress serve store` and `embpress serve ranker`
// processes on 127.0.0.1:0. The same generated requests, sent as rows and as columns (the
// scenario's default, whose missing values are NaN and "" rather than left-out features), must
// score every candidate exactly alike; and the load test's own driver accepts the ranker's answers
// to both.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '@embpress/data';
import {
  connectScenario,
  loadScenario,
  rankRequests,
  type RankerScenario,
} from '@embpress/loadtest';
import { ModelRegistryDir } from '@embpress/model-registry';
import { ranker } from '@embpress/proto';
import { lazyRequire } from '@embpress/service-kit/config';
import { type CliProcess, stopCli, serveStoreAndRanker } from '@embpress/cli/testing';

jest.setTimeout(120_000);

type Trainer = typeof import('@embpress/training');
// Services are loaded, not imported, by the CLI (module boundaries).
const { train } = lazyRequire<Trainer>('@embpress/training');

/** Enough rows for a vocabulary holding the scenario's frequent values and "" of sparse fields. */
const ROWS = 1200;
const REQUESTS = 6;
const CANDIDATES = 40;

function rank(port: number, request: ranker.RankRequest): Promise<ranker.RankResponse> {
  const client = new ranker.RankerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.rank(
      request,
      new Metadata(),
      { deadline: Date.now() + 20_000 },
      (err: ServiceError | null, res) => {
        client.close();
        if (err) reject(new Error(`Rank failed: ${err.code} ${err.details}`));
        else resolve(res);
      },
    );
  });
}

/** Scores by candidate id: the ranked order of equal scores is not what is compared. */
const scoresById = (response: ranker.RankResponse): Record<string, number> =>
  Object.fromEntries(response.ranked.map((r) => [r.id, r.score]));

describe('loadtest ranker-rank: rows and columns score alike on a real ranker', () => {
  let dir: string;
  let store: CliProcess;
  let rankerProc: CliProcess;
  let rankerPort: number;
  const scenario = loadScenario('ranker-rank') as RankerScenario;
  const form = (requestForm: 'rows' | 'columns'): RankerScenario => ({
    ...scenario,
    target: `127.0.0.1:${rankerPort}`,
    timeoutMs: 20_000,
    request: { ...scenario.request, model: 'ctr', candidates: CANDIDATES, requestForm },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-loadtest-columns-'));
    const file = join(dir, 'train.txt');
    await generateSynthetic({
      rows: ROWS,
      seed: scenario.request.synthSeed,
      out: file,
      scale: 0.001,
    });
    const registryRoot = join(dir, 'models');
    await train({
      data: `criteo:${file}`,
      model: 'dlrm',
      modelOverrides: { dim: 4, bottom: [8], top: [8] },
      method: 'rowwise-int8',
      epochs: 1,
      batchSize: 128,
      lr: 0.01,
      optimizer: 'adam',
      partsPerEpoch: 1,
      earlyStopParts: 1,
      seed: 7,
      backend: 'wasm',
      registryRoot,
      datasetCacheDir: join(dir, 'datasets'),
      modelName: 'ctr',
      version: 'v1',
    });
    new ModelRegistryDir(registryRoot).setActiveVersion('ctr', 'v1');
    ({
      store,
      ranker: rankerProc,
      rankerPort,
    } = await serveStoreAndRanker(registryRoot, join(dir, 'spans.jsonl')));
  });

  afterAll(async () => {
    await Promise.all([stopCli(rankerProc), stopCli(store)]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('scores each generated request the same as rows and as columns, exactly', async () => {
    const rows = rankRequests(form('rows'));
    const columns = rankRequests(form('columns'));
    let missingNumeric = 0;
    let missingCategorical = 0;
    const distinct = new Set<number>();
    for (let i = 0; i < REQUESTS; i += 1) {
      const asColumns = columns(i);
      expect(asColumns.candidates).toEqual([]);
      for (const col of asColumns.columns) {
        missingNumeric += col.numeric.filter(Number.isNaN).length;
        missingCategorical += col.categorical.filter((v) => v === '').length;
      }
      const [a, b] = await Promise.all([rank(rankerPort, rows(i)), rank(rankerPort, asColumns)]);
      expect(a).toMatchObject({ model: 'ctr', version: 'v1', degraded: false });
      expect(a.ranked).toHaveLength(CANDIDATES);
      expect(scoresById(b)).toEqual(scoresById(a));
      for (const r of a.ranked) distinct.add(r.score);
    }
    // The comparison covered missing values of both kinds, and scores that tell candidates apart.
    expect(missingNumeric).toBeGreaterThan(0);
    expect(missingCategorical).toBeGreaterThan(0);
    expect(distinct.size).toBeGreaterThan(1);

    // And it can fail: the same columns with other markers for a missing value (an unseen text,
    // a positive count) score otherwise.
    const marked = columns(0);
    const remarked: ranker.RankRequest = {
      ...marked,
      columns: marked.columns.map((col) => ({
        ...col,
        numeric: col.numeric.map((v) => (Number.isNaN(v) ? 1000 : v)),
        categorical: col.categorical.map((v) => (v === '' ? 'not-a-value' : v)),
      })),
    };
    const [asRows, other] = await Promise.all([
      rank(rankerPort, rows(0)),
      rank(rankerPort, remarked),
    ]);
    expect(scoresById(other)).not.toEqual(scoresById(asRows));
  });

  it("the load test's driver takes the ranker's answers to both forms", async () => {
    for (const requestForm of ['columns', 'rows'] as const) {
      const calls = await connectScenario(form(requestForm));
      try {
        expect(calls.detail).toMatchObject({ requestForm, candidates: CANDIDATES });
        for (let i = 0; i < 3; i += 1) await calls.call(i);
      } finally {
        calls.close();
      }
    }
  });
});

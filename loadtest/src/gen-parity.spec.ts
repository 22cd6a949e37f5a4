// The k6 scripts' request generation (loadtest/k6/gen.js, plain JavaScript) against the
// TypeScript generators: for one scenario file both must send identical requests, so that a k6
// run and an `embpress loadtest` run measure the same workload.
import { common, ranker } from '@embpress/proto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { rankRequests, retrieveRequests, storeLookupRequests, type TableShape } from './requests';
import {
  loadScenario,
  type RankerScenario,
  type RetrieverScenario,
  type Scenario,
  type StoreScenario,
} from './scenario';

type Generator = (i: number) => Record<string, unknown>;
interface K6Gen {
  storeLookupGenerator(s: Scenario, tables: TableShape[]): Generator;
  rankGenerator(s: Scenario): Generator;
  retrieveGenerator(s: Scenario): Generator;
  withEnv(s: Scenario, env: Record<string, string>): Scenario;
  k6Options(s: Scenario): {
    scenarios: Record<string, Record<string, unknown>>;
    thresholds: Record<string, string[]>;
  };
  requestIndex(s: Scenario, name: string, iterationInTest: number): number;
}

function loadK6Gen(): K6Gen {
  const source = readFileSync(join(__dirname, '..', 'k6', 'gen.js'), 'utf8');
  // The file is an ES module of plain functions with no imports: drop `export` and evaluate it.
  const body = source.replace(/^export /gm, '');
  return runInNewContext(
    `${body}\n({ storeLookupGenerator, rankGenerator, retrieveGenerator, withEnv, k6Options, requestIndex })`,
    {},
  ) as K6Gen;
}

/** Plain JSON (k6's values come from another realm). */
const plain = <T>(value: T): unknown => JSON.parse(JSON.stringify(value));

/** A ts-proto Feature as k6's protojson writes it (oneof member set directly). */
function protojsonFeature(f: ranker.Feature): Record<string, unknown> {
  if (f.value?.$case === 'numeric') return { name: f.name, numeric: f.value.value };
  return { name: f.name, categorical: f.value?.value };
}

/** A ts-proto FeatureColumn in protojson: only its set list, a NaN double as "NaN". */
function protojsonColumn(column: ranker.FeatureColumn): Record<string, unknown> {
  if (column.numeric.length > 0)
    return { name: column.name, numeric: column.numeric.map((v) => (Number.isNaN(v) ? 'NaN' : v)) };
  return { name: column.name, categorical: column.categorical };
}

const withForm = (scenario: RankerScenario, requestForm: 'rows' | 'columns'): RankerScenario => ({
  ...scenario,
  request: { ...scenario.request, requestForm },
});

describe('k6/gen.js sends the requests of the TypeScript generators', () => {
  const k6 = loadK6Gen();

  it('store-lookup: the same ids per table and the encoding by name', () => {
    const scenario = loadScenario('store-lookup') as StoreScenario;
    const tables = [
      { table: 'C1', rows: 1460 },
      { table: 'C2', rows: 3 },
      { table: 'C3', rows: 2_000_000 },
    ];
    const ts = storeLookupRequests(scenario, tables);
    const js = k6.storeLookupGenerator(scenario, tables);
    for (let i = 0; i < 50; i += 1) {
      const a = ts(i);
      expect(plain(js(i))).toEqual({
        model: a.model,
        version: a.version,
        encoding: common.rowEncodingToJSON(a.encoding),
        tables: a.tables,
      });
    }
  });

  it('ranker-rank as columns (the scenario default): the same context and columns, value for value', () => {
    const scenario = loadScenario('ranker-rank') as RankerScenario;
    expect(scenario.request.requestForm).toBe('columns');
    const ts = rankRequests(scenario);
    const js = k6.rankGenerator(scenario);
    let missingNumeric = 0;
    let missingCategorical = 0;
    for (const i of [0, 1, 2, 17, 1000]) {
      const a = ts(i);
      const b = plain(js(i));
      expect(b).toEqual({
        model: a.model,
        version: a.version,
        context: a.context.map(protojsonFeature),
        candidateIds: a.candidateIds,
        columns: a.columns.map(protojsonColumn),
      });
      // Read back as proto3 JSON, k6's message is the TypeScript one ("NaN" included).
      expect(ranker.RankRequest.fromJSON(b)).toEqual(a);
      for (const col of a.columns) {
        missingNumeric += col.numeric.filter(Number.isNaN).length;
        missingCategorical += col.categorical.filter((v) => v === '').length;
      }
    }
    // Missing values of both kinds were compared, not only present ones.
    expect(missingNumeric).toBeGreaterThan(0);
    expect(missingCategorical).toBeGreaterThan(0);
    // A scenario file without the field (k6 reads the raw JSON, with no schema defaults) too.
    const raw = JSON.parse(JSON.stringify(scenario)) as { request: Record<string, unknown> };
    delete raw.request.requestForm;
    expect(plain(k6.rankGenerator(raw as unknown as Scenario)(3))).toEqual(plain(js(3)));
  });

  it('ranker-rank as rows: the same context and candidates, value for value', () => {
    const scenario = withForm(loadScenario('ranker-rank') as RankerScenario, 'rows');
    const ts = rankRequests(scenario);
    const js = k6.rankGenerator(scenario);
    for (const i of [0, 1, 2, 17, 1000]) {
      const a = ts(i);
      expect(plain(js(i))).toEqual({
        model: a.model,
        version: a.version,
        context: a.context.map(protojsonFeature),
        candidates: a.candidates.map((c) => ({
          id: c.id,
          features: c.features.map(protojsonFeature),
        })),
      });
    }
  });

  it('retriever-retrieve: the same query texts, and the same vectors bit for bit', () => {
    const scenario = loadScenario('retriever-retrieve') as RetrieverScenario;
    const ts = retrieveRequests(scenario);
    const js = k6.retrieveGenerator(scenario);
    for (let i = 0; i < 50; i += 1) {
      const a = ts(i);
      expect(js(i).text).toBe(a.query?.value);
    }
    const vectors: RetrieverScenario = {
      ...scenario,
      request: { ...scenario.request, query: { kind: 'vector', dim: 16 } },
    };
    const tsv = retrieveRequests(vectors);
    const jsv = k6.retrieveGenerator(vectors);
    for (let i = 0; i < 5; i += 1) {
      const a = tsv(i).query;
      if (a?.$case !== 'vector') throw new Error('expected a vector');
      const b = jsv(i).vector as { data: Float32Array; dim: number; encoding: string };
      expect(b.encoding).toBe('ROW_ENCODING_FLOAT32_LE');
      expect(Buffer.from(b.data.buffer).equals(a.value.data)).toBe(true);
    }
  });

  it('k6 options: warmup then the measured phase at the scenario rate, p99 threshold on it', () => {
    const scenario = k6.withEnv(loadScenario('store-lookup'), {
      RATE: '50',
      DURATION: '2',
      WARMUP: '0.5',
      MODEL: 'ctr',
    });
    expect(scenario).toMatchObject({ ratePerSec: 50, durationSec: 2, warmupSec: 0.5 });
    expect((scenario as StoreScenario).request.model).toBe('ctr');
    const options = plain(k6.k6Options(scenario)) as ReturnType<K6Gen['k6Options']>;
    expect(options.scenarios.main).toMatchObject({
      executor: 'constant-arrival-rate',
      rate: 50,
      timeUnit: '1s',
      duration: '2s',
      startTime: '0.5s',
      maxVUs: 1000,
    });
    expect(options.scenarios.warmup).toMatchObject({ duration: '0.5s', startTime: '0s' });
    expect(options.thresholds['grpc_req_duration{scenario:main}']).toEqual(['p(99)<10']);
    // Measured request 0 is the Node runner's request warmup × rate.
    expect(k6.requestIndex(scenario, 'main', 0)).toBe(25);
    expect(k6.requestIndex(scenario, 'warmup', 3)).toBe(3);
    const fractional = plain(k6.k6Options({ ...scenario, ratePerSec: 2.5 })) as ReturnType<
      K6Gen['k6Options']
    >;
    expect(fractional.scenarios.main).toMatchObject({ rate: 2500, timeUnit: '1000s' });
  });
});

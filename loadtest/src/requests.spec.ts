import { generateSynthetic, MISSING_VALUE, transformDenseValue } from '@embpress/data';
import { common, type ranker } from '@embpress/proto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MISSING_CATEGORICAL,
  MISSING_NUMERIC,
  rankRequests,
  retrieveRequests,
  storeLookupRequests,
  synthFields,
  type TableShape,
} from './requests';
import {
  loadScenario,
  parseScenario,
  scenarioNames,
  type RankerScenario,
  type RetrieverScenario,
  type StoreScenario,
} from './scenario';

function mostFrequent<T>(values: Iterable<T>): { value: T | undefined; count: number } {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: { value: T | undefined; count: number } = { value: undefined, count: 0 };
  for (const [value, count] of counts) if (count > best.count) best = { value, count };
  return best;
}

describe('shipped scenarios', () => {
  it('all three parse', () => {
    expect(scenarioNames()).toEqual(['store-lookup', 'ranker-rank', 'retriever-retrieve']);
    expect(loadScenario('store-lookup').service).toBe('store');
    expect(loadScenario('ranker-rank').service).toBe('ranker');
    expect(loadScenario('retriever-retrieve').service).toBe('retriever');
  });

  it('the ranker scenario lists the synthetic Criteo fields at scale 0.001, C1-C13 shared', () => {
    const scenario = loadScenario('ranker-rank') as RankerScenario;
    const shared = new Set(Array.from({ length: 13 }, (_, i) => `C${i + 1}`));
    expect(scenario.request.fields).toEqual(synthFields('criteo', 0.001, shared));
  });

  it('names the problems of a bad scenario and an unknown name', () => {
    const good = JSON.parse(JSON.stringify(loadScenario('store-lookup'))) as StoreScenario;
    expect(() =>
      parseScenario({ ...good, ratePerSec: 0, request: { ...good.request, encoding: 'x' } }),
    ).toThrow(/ratePerSec.*request\.encoding|request\.encoding.*ratePerSec/);
    expect(() => parseScenario({ ...good, target: 'nowhere' })).toThrow(/target/);
    expect(() => loadScenario('no-such-scenario')).toThrow(/store-lookup, ranker-rank/);
  });
});

describe('storeLookupRequests', () => {
  const scenario = loadScenario('store-lookup') as StoreScenario;
  const tables: TableShape[] = [
    { table: 'C1', rows: 1000 },
    { table: 'C2', rows: 7 },
  ];
  const next = storeLookupRequests(scenario, tables);

  it('asks idsPerTable ids of every table, within its rows, in the scenario encoding', () => {
    const req = next(0);
    expect(req.model).toBe('demo');
    expect(req.encoding).toBe(common.RowEncoding.ROW_ENCODING_CODES);
    expect(req.tables.map((t) => t.table)).toEqual(['C1', 'C2']);
    for (const [k, t] of req.tables.entries()) {
      expect(t.ids).toHaveLength(64);
      for (const id of t.ids) {
        expect(Number.isInteger(id)).toBe(true);
        expect(id).toBeGreaterThanOrEqual(0);
        expect(id).toBeLessThan((tables[k] as TableShape).rows);
      }
    }
  });

  it('is a function of (seed, i): the same i gives the same request, another seed another', () => {
    expect(next(5)).toEqual(next(5));
    expect(next(5)).not.toEqual(next(6));
    const reseeded = storeLookupRequests({ ...scenario, seed: 2 }, tables);
    expect(reseeded(5)).not.toEqual(next(5));
  });

  it('draws ids Zipf(s) over the rows: row 0 as often as 1/H(n, s)', () => {
    let h = 0;
    for (let k = 1; k <= 1000; k += 1) h += k ** -1.1;
    const ids: number[] = [];
    for (let i = 0; i < 300; i += 1) ids.push(...(next(i).tables[0]?.ids ?? []));
    const share = ids.filter((id) => id === 0).length / ids.length;
    expect(share).toBeGreaterThan((1 / h) * 0.85);
    expect(share).toBeLessThan((1 / h) * 1.15);
    // Heavier head than tail.
    expect(ids.filter((id) => id < 10).length).toBeGreaterThan(
      ids.filter((id) => id >= 500).length,
    );
  });
});

const withForm = (scenario: RankerScenario, requestForm: 'rows' | 'columns'): RankerScenario => ({
  ...scenario,
  request: { ...scenario.request, requestForm },
});

describe('rankRequests as rows', () => {
  const scenario = withForm(loadScenario('ranker-rank') as RankerScenario, 'rows');
  const next = rankRequests(scenario);
  const shared = new Set(scenario.request.fields.filter((f) => f.shared).map((f) => f.name));

  it('puts the shared fields in the context and the others in each of the candidates', () => {
    const req = next(3);
    expect(req.model).toBe('demo');
    expect(req.candidates).toHaveLength(100);
    expect(new Set(req.candidates.map((c) => c.id)).size).toBe(100);
    for (const f of req.context) expect(shared.has(f.name)).toBe(true);
    for (const c of req.candidates) {
      for (const f of c.features) expect(shared.has(f.name)).toBe(false);
      const names = c.features.map((f) => f.name);
      expect(new Set(names).size).toBe(names.length);
    }
    expect(req.candidateIds).toEqual([]);
    expect(req.columns).toEqual([]);
    expect(next(3)).toEqual(req);
  });

  it('writes numeric counts as numbers and categorical values as 8 hex digits', () => {
    const req = next(0);
    for (const f of [...req.context, ...req.candidates.flatMap((c) => c.features)]) {
      if (f.name.startsWith('I')) {
        expect(f.value?.$case).toBe('numeric');
        const v = f.value?.value as number;
        expect(Number.isInteger(v) && v >= -3).toBe(true);
      } else {
        expect(f.value?.$case).toBe('categorical');
        expect(f.value?.value).toMatch(/^[0-9a-f]{8}$/);
      }
    }
  });

  it('leaves missing values out at the profile rate (C20: 44%)', () => {
    let present = 0;
    let total = 0;
    for (let i = 0; i < 20; i += 1) {
      for (const c of next(i).candidates) {
        total += 1;
        if (c.features.some((f) => f.name === 'C20')) present += 1;
      }
    }
    expect(1 - present / total).toBeGreaterThan(0.39);
    expect(1 - present / total).toBeLessThan(0.49);
  });

  it('sends the raw values `embpress data synth` writes: the same most frequent value per field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loadtest-synth-'));
    try {
      const out = join(dir, 'train.txt');
      await generateSynthetic({ rows: 3000, seed: scenario.request.synthSeed, out, scale: 0.001 });
      const rows = readFileSync(out, 'utf8').trim().split('\n');
      // Criteo TSV: label, I1..I13, C1..C26.
      const fileTop = (field: number) => mostFrequent(rows.map((r) => r.split('\t')[field]));
      // One candidate per request, as many requests as file rows: the modes are clear.
      const small = rankRequests({ ...scenario, request: { ...scenario.request, candidates: 1 } });
      const requests = Array.from({ length: 3000 }, (_, i) => small(i));
      const generated = (name: string) =>
        mostFrequent(
          requests.flatMap((req) =>
            [...req.context, ...req.candidates.flatMap((c) => c.features)]
              .filter((f) => f.name === name)
              .map((f) => f.value?.value),
          ),
        );
      expect(generated('C3').value).toBe(fileTop(14 + 2).value); // shared field
      expect(generated('C15').value).toBe(fileTop(14 + 14).value); // per-candidate field
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The candidates a columnar request describes, as the rows form writes them: candidate k holds
 * column c's k-th value as a Feature, and no Feature where that value is the missing marker.
 */
function columnsAsCandidates(req: ranker.RankRequest): ranker.Candidate[] {
  return req.candidateIds.map((id, k) => {
    const features: ranker.Feature[] = [];
    for (const column of req.columns) {
      if (column.numeric.length > 0) {
        const value = column.numeric[k] as number;
        if (!Number.isNaN(value))
          features.push({ name: column.name, value: { $case: 'numeric', value } });
      } else {
        const value = column.categorical[k] as string;
        if (value !== MISSING_CATEGORICAL)
          features.push({ name: column.name, value: { $case: 'categorical', value } });
      }
    }
    return { id, features };
  });
}

describe('rankRequests as columns (the scenario default)', () => {
  const scenario = loadScenario('ranker-rank') as RankerScenario;
  const next = rankRequests(scenario);
  const own = scenario.request.fields.filter((f) => !f.shared);

  it('is the default when a scenario file leaves requestForm out', () => {
    expect(scenario.request.requestForm).toBe('columns');
    const raw = JSON.parse(JSON.stringify(scenario)) as RankerScenario;
    delete (raw.request as Partial<RankerScenario['request']>).requestForm;
    expect((parseScenario(raw) as RankerScenario).request.requestForm).toBe('columns');
    expect(() =>
      parseScenario({ ...raw, request: { ...raw.request, requestForm: 'tensor' } }),
    ).toThrow(/request\.requestForm/);
  });

  it('sends candidate ids and one column per candidate field, one value per candidate', () => {
    const req = next(3);
    expect(req.candidates).toEqual([]);
    expect(req.candidateIds).toEqual(Array.from({ length: 100 }, (_, c) => `c${c}`));
    expect(req.columns.map((col) => col.name)).toEqual(own.map((f) => f.name));
    req.columns.forEach((col, k) => {
      // Exactly one list set, of the field's kind: what the ranker's validation asks.
      if (own[k]?.kind === 'numeric') {
        expect(col.numeric).toHaveLength(100);
        expect(col.categorical).toEqual([]);
      } else {
        expect(col.categorical).toHaveLength(100);
        expect(col.numeric).toEqual([]);
      }
    });
    expect(next(3)).toEqual(req);
  });

  it('carries the values of the rows form: column c, candidate k = candidate k, feature c', () => {
    const rows = rankRequests(withForm(scenario, 'rows'));
    let missingNumeric = 0;
    let missingCategorical = 0;
    for (const i of [0, 1, 2, 17, 1000]) {
      const a = rows(i);
      const b = next(i);
      expect(b.context).toEqual(a.context);
      expect({ model: b.model, version: b.version }).toEqual({
        model: a.model,
        version: a.version,
      });
      expect(columnsAsCandidates(b)).toEqual(a.candidates);
      // Value by value, the missing markers included: where a candidate leaves a feature out, its
      // column holds NaN (numeric) or "" (categorical).
      b.columns.forEach((col) => {
        b.candidateIds.forEach((_, k) => {
          const feature = a.candidates[k]?.features.find((f) => f.name === col.name);
          if (col.numeric.length > 0) {
            const v = col.numeric[k] as number;
            if (feature === undefined) {
              expect(v).toBeNaN();
              missingNumeric += 1;
            } else expect(feature.value).toEqual({ $case: 'numeric', value: v });
          } else {
            const v = col.categorical[k] as string;
            if (feature === undefined) {
              expect(v).toBe('');
              missingCategorical += 1;
            } else expect(feature.value).toEqual({ $case: 'categorical', value: v });
          }
        });
      });
    }
    expect(missingNumeric).toBeGreaterThan(0);
    expect(missingCategorical).toBeGreaterThan(0);
  });

  it('marks missing values as the ranker maps a feature left out', () => {
    // Dense: an omitted field stays at 0 in the ranker's batch; NaN is transformed to 0 too.
    expect(MISSING_NUMERIC).toBeNaN();
    expect(transformDenseValue(MISSING_NUMERIC)).toBe(0);
    // Categorical: an omitted field gets the id of the vocabulary's MISSING_VALUE; a column's ""
    // is looked up as that same value.
    expect(MISSING_CATEGORICAL).toBe(MISSING_VALUE);
  });
});

describe('retrieveRequests', () => {
  const scenario = loadScenario('retriever-retrieve') as RetrieverScenario;

  it('draws query texts from the list, the first one most often', () => {
    const next = retrieveRequests(scenario);
    const texts = Array.from({ length: 400 }, (_, i) => {
      const req = next(i);
      expect(req).toMatchObject({ corpus: 'docs', table: 'passages', k: 10, rerankFactor: 0 });
      expect(req.query?.$case).toBe('text');
      return req.query?.value as string;
    });
    const list = scenario.request.query.kind === 'text' ? scenario.request.query.texts : [];
    for (const t of texts) expect(list).toContain(t);
    expect(mostFrequent(texts).value).toBe(list[0]);
  });

  it('sends unit FLOAT32_LE vectors of the scenario dim', () => {
    const next = retrieveRequests({
      ...scenario,
      request: { ...scenario.request, query: { kind: 'vector', dim: 384 } },
    });
    const req = next(7);
    if (req.query?.$case !== 'vector') throw new Error('expected a vector query');
    const block = req.query.value;
    expect(block).toMatchObject({ encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE, dim: 384 });
    expect(block.count).toBe(1);
    expect(block.data.byteLength).toBe(384 * 4);
    const v = new Float32Array(block.data.buffer, block.data.byteOffset, 384);
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    expect(norm).toBeCloseTo(1, 5);
    expect(next(8).query).not.toEqual(req.query);
  });
});

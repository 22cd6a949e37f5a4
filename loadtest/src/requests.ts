// Request generators of the scenarios: pure functions from (scenario, request index) to the
// request message, with no gRPC in sight, so their shape is testable without a service. Request i
// draws only from RequestRng(seed, i), in a fixed order that k6/gen.js follows too.
import {
  combine as synthCombine,
  hex8,
  MISSING_VALUE,
  permute32,
  scaledCardinality,
  synthProfile,
  type SynthProfileName,
} from '@embpress/data';
import { common, type ranker, type retriever, type store } from '@embpress/proto';
import { RequestRng } from './gen/random';
import { ZipfRanks } from './gen/zipf';
import type {
  CategoricalField,
  FeatureField,
  NumericField,
  RankerScenario,
  RetrieverScenario,
  StoreScenario,
} from './scenario';

const { exp, floor, log, max, sqrt } = Math;
const TEXT_CACHE_RANKS = 1 << 16;

export interface TableShape {
  table: string;
  rows: number;
}

const ENCODINGS: Record<StoreScenario['request']['encoding'], common.RowEncoding> = {
  codes: common.RowEncoding.ROW_ENCODING_CODES,
  float16: common.RowEncoding.ROW_ENCODING_FLOAT16_LE,
  float32: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
};

/**
 * BatchLookup requests: `idsPerTable` ids in each table, id = Zipf rank − 1 (row 0 the hottest,
 * as in a frequency-ordered vocabulary), drawn table by table.
 */
export function storeLookupRequests(
  scenario: StoreScenario,
  tables: readonly TableShape[],
): (i: number) => store.BatchLookupRequest {
  const { model, version, idsPerTable, zipfExponent, encoding } = scenario.request;
  const samplers = tables.map((t) => new ZipfRanks(t.rows, zipfExponent));
  return (i) => {
    const rng = new RequestRng(scenario.seed, i);
    return {
      model,
      version,
      encoding: ENCODINGS[encoding],
      tables: tables.map((t, k) => {
        const zipf = samplers[k] as ZipfRanks;
        const ids = new Array<number>(idsPerTable);
        for (let j = 0; j < idsPerTable; j += 1) ids[j] = zipf.sample(rng) - 1;
        return { table: t.table, ids };
      }),
    };
  };
}

/**
 * The feature fields of a synthetic profile at a cardinality scale, as a ranker scenario lists
 * them (dense first, then categorical, in the profile's order); `shared` names the fields that
 * belong to the request context rather than to each candidate.
 */
export function synthFields(
  profileName: SynthProfileName,
  scale: number,
  shared: ReadonlySet<string>,
): FeatureField[] {
  const profile = synthProfile(profileName);
  const numeric: NumericField[] = profile.dense.map((d) => ({
    name: d.name,
    kind: 'numeric',
    missingRate: d.missingRate,
    median: d.median,
    sigma: d.sigma,
    negativeRate: d.negativeRate,
    shared: shared.has(d.name),
  }));
  const categorical: CategoricalField[] = profile.categorical.map((c, synthIndex) => ({
    name: c.name,
    kind: 'categorical',
    synthIndex,
    cardinality: scaledCardinality(c.fullCardinality, scale),
    missingRate: c.missingRate,
    style: c.style,
    shared: shared.has(c.name),
  }));
  return [...numeric, ...categorical];
}

/**
 * How the columnar form writes a value the rows form leaves out (ranker.proto FeatureColumn). The
 * ranker maps both as it maps an omitted Feature (services/ranker feature-mapping.ts): a dense NaN
 * is transformed to 0, as an omitted dense field is (transformDenseValue, libs/data dense.ts); a
 * categorical "" is MISSING_VALUE, whose id is the one an omitted categorical field gets.
 */
export const MISSING_NUMERIC = Number.NaN;
export const MISSING_CATEGORICAL: string = MISSING_VALUE;

/** Draws one raw value of a field; undefined = missing. */
type FieldDrawer =
  | { kind: 'numeric'; name: string; draw: (rng: RequestRng) => number | undefined }
  | { kind: 'categorical'; name: string; draw: (rng: RequestRng) => string | undefined };

function fieldDrawer(field: FeatureField, synthSeed: number, zipfExponent: number): FieldDrawer {
  if (field.kind === 'numeric') {
    const { name, missingRate, median, sigma, negativeRate } = field;
    const mu = log(median + 1);
    // The synthetic generator's raw counts (libs/data RowSampler): lognormal around the median,
    // occasionally negative.
    const draw = (rng: RequestRng): number | undefined => {
      if (rng.next() < missingRate) return undefined;
      if (negativeRate > 0 && rng.next() < negativeRate) return -1 - floor(rng.next() * 3);
      return max(0, floor(exp(mu + sigma * rng.normal())) - 1);
    };
    return { kind: 'numeric', name, draw };
  }
  const { name, cardinality, missingRate, style, synthIndex } = field;
  const zipf = new ZipfRanks(cardinality, zipfExponent);
  const key = synthCombine(synthSeed >>> 0, 0x1000 + synthIndex);
  // The texts of the most frequent ranks, formatted once (a Zipf draw mostly lands there).
  const cached = new Array<string | undefined>(Math.min(cardinality, TEXT_CACHE_RANKS) + 1).fill(
    undefined,
  );
  const draw = (rng: RequestRng): string | undefined => {
    if (missingRate > 0 && rng.next() < missingRate) return undefined;
    const rank = zipf.sample(rng);
    let text = cached[rank];
    if (text === undefined) {
      const v = permute32(rank, key);
      text = style === 'hex' ? hex8(v) : String(v);
      if (rank < cached.length) cached[rank] = text;
    }
    return text;
  };
  return { kind: 'categorical', name, draw };
}

/** The fields' present values as Features; a missing value is left out, as clients do. */
function drawFeatures(drawers: readonly FieldDrawer[], rng: RequestRng): ranker.Feature[] {
  const features: ranker.Feature[] = [];
  for (const d of drawers) {
    if (d.kind === 'numeric') {
      const value = d.draw(rng);
      if (value !== undefined) features.push({ name: d.name, value: { $case: 'numeric', value } });
    } else {
      const value = d.draw(rng);
      if (value !== undefined)
        features.push({ name: d.name, value: { $case: 'categorical', value } });
    }
  }
  return features;
}

/**
 * Rank requests: the shared (context) fields drawn once, then `candidates` candidates with the
 * other fields; raw values as `embpress data synth --seed synthSeed` writes them. Both request
 * forms make the same draws in the same order (candidate by candidate, field by field), so
 * request i carries the same values as rows or as columns: only the message shape differs.
 */
export function rankRequests(scenario: RankerScenario): (i: number) => ranker.RankRequest {
  const { model, version, candidates, synthSeed, zipfExponent, fields, requestForm } =
    scenario.request;
  const shared = fields.filter((f) => f.shared).map((f) => fieldDrawer(f, synthSeed, zipfExponent));
  const own = fields.filter((f) => !f.shared).map((f) => fieldDrawer(f, synthSeed, zipfExponent));
  const ids = Array.from({ length: candidates }, (_, c) => `c${c}`);
  if (requestForm === 'rows') {
    return (i) => {
      const rng = new RequestRng(scenario.seed, i);
      const context = drawFeatures(shared, rng);
      const list: ranker.Candidate[] = new Array(candidates);
      for (let c = 0; c < candidates; c += 1)
        list[c] = { id: ids[c] as string, features: drawFeatures(own, rng) };
      return { model, version, context, candidates: list, candidateIds: [], columns: [] };
    };
  }
  return (i) => {
    const rng = new RequestRng(scenario.seed, i);
    const context = drawFeatures(shared, rng);
    // One column per own field, every one holding a value for every candidate.
    const numeric = own.map((d) => (d.kind === 'numeric' ? new Array<number>(candidates) : []));
    const categorical = own.map((d) =>
      d.kind === 'categorical' ? new Array<string>(candidates) : [],
    );
    for (let c = 0; c < candidates; c += 1) {
      for (let k = 0; k < own.length; k += 1) {
        const d = own[k] as FieldDrawer;
        if (d.kind === 'numeric') (numeric[k] as number[])[c] = d.draw(rng) ?? MISSING_NUMERIC;
        else (categorical[k] as string[])[c] = d.draw(rng) ?? MISSING_CATEGORICAL;
      }
    }
    const columns = own.map((d, k) => ({
      name: d.name,
      numeric: numeric[k] as number[],
      categorical: categorical[k] as string[],
    }));
    // A fresh id list per request: a caller may keep or change a request it was handed.
    return { model, version, context, candidates: [], candidateIds: ids.slice(), columns };
  };
}

/** A random unit vector of `dim` float32 values (little-endian bytes). */
export function unitVectorBytes(rng: RequestRng, dim: number): Buffer {
  const v = new Float32Array(dim);
  let norm = 0;
  for (let d = 0; d < dim; d += 1) {
    const x = rng.normal();
    v[d] = x;
    norm += x * x;
  }
  const scale = 1 / sqrt(norm || 1);
  for (let d = 0; d < dim; d += 1) v[d] = (v[d] as number) * scale;
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Retrieve requests: a query text drawn Zipf over the scenario's list, or a random unit vector. */
export function retrieveRequests(
  scenario: RetrieverScenario,
): (i: number) => retriever.RetrieveRequest {
  const { corpus, table, k, rerankFactor, query } = scenario.request;
  const zipf = query.kind === 'text' ? new ZipfRanks(query.texts.length, query.zipfExponent) : null;
  return (i) => {
    const rng = new RequestRng(scenario.seed, i);
    const base = { corpus, table, k, rerankFactor };
    if (query.kind === 'text') {
      const rank = (zipf as ZipfRanks).sample(rng);
      return { ...base, query: { $case: 'text', value: query.texts[rank - 1] as string } };
    }
    const data = unitVectorBytes(rng, query.dim);
    return {
      ...base,
      query: {
        $case: 'vector',
        value: {
          encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
          dim: query.dim,
          count: 1,
          data,
          codec: '',
        },
      },
    };
  };
}

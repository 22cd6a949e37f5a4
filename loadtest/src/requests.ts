// Request generators of the scenarios: pure functions from (scenario, request index) to the
// request message, with no gRPC in sight, so their shape is testable without a service. Request i
// draws only from RequestRng(seed, i), in a fixed order that k6/gen.js follows too.
import {
  combine as synthCombine,
  hex8,
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

type FieldDrawer = (rng: RequestRng) => ranker.Feature | undefined;

function fieldDrawer(field: FeatureField, synthSeed: number, zipfExponent: number): FieldDrawer {
  if (field.kind === 'numeric') {
    const { name, missingRate, median, sigma, negativeRate } = field;
    const mu = log(median + 1);
    // The synthetic generator's raw counts (libs/data RowSampler): lognormal around the median,
    // occasionally negative; a missing value is left out of the request, as clients do.
    return (rng) => {
      if (rng.next() < missingRate) return undefined;
      let value: number;
      if (negativeRate > 0 && rng.next() < negativeRate) value = -1 - floor(rng.next() * 3);
      else value = max(0, floor(exp(mu + sigma * rng.normal())) - 1);
      return { name, value: { $case: 'numeric', value } };
    };
  }
  const { name, cardinality, missingRate, style, synthIndex } = field;
  const zipf = new ZipfRanks(cardinality, zipfExponent);
  const key = synthCombine(synthSeed >>> 0, 0x1000 + synthIndex);
  // The texts of the most frequent ranks, formatted once (a Zipf draw mostly lands there).
  const cached = new Array<string | undefined>(Math.min(cardinality, TEXT_CACHE_RANKS) + 1).fill(
    undefined,
  );
  return (rng) => {
    if (missingRate > 0 && rng.next() < missingRate) return undefined;
    const rank = zipf.sample(rng);
    let text = cached[rank];
    if (text === undefined) {
      const v = permute32(rank, key);
      text = style === 'hex' ? hex8(v) : String(v);
      if (rank < cached.length) cached[rank] = text;
    }
    return { name, value: { $case: 'categorical', value: text } };
  };
}

/**
 * Rank requests: the shared (context) fields drawn once, then `candidates` candidates with the
 * other fields; raw values as `embpress data synth --seed synthSeed` writes them.
 */
export function rankRequests(scenario: RankerScenario): (i: number) => ranker.RankRequest {
  const { model, version, candidates, synthSeed, zipfExponent, fields } = scenario.request;
  const shared = fields.filter((f) => f.shared).map((f) => fieldDrawer(f, synthSeed, zipfExponent));
  const own = fields.filter((f) => !f.shared).map((f) => fieldDrawer(f, synthSeed, zipfExponent));
  const draw = (drawers: FieldDrawer[], rng: RequestRng): ranker.Feature[] => {
    const features: ranker.Feature[] = [];
    for (const d of drawers) {
      const feature = d(rng);
      if (feature !== undefined) features.push(feature);
    }
    return features;
  };
  return (i) => {
    const rng = new RequestRng(scenario.seed, i);
    const context = draw(shared, rng);
    const list: ranker.Candidate[] = new Array(candidates);
    for (let c = 0; c < candidates; c += 1) list[c] = { id: `c${c}`, features: draw(own, rng) };
    return { model, version, context, candidates: list, candidateIds: [], columns: [] };
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

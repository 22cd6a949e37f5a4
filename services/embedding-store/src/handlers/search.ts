import { TopK, type CompressedTable, type Metric, type SearchHits } from '@embpress/compression';
import { store } from '@embpress/proto';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  optionalName,
  requireEnum,
  requireFloat32Block,
  requireIntInRange,
  requireName,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { toServiceError } from '../domain/errors';
import type { LoadedVersion, ModelVersions } from '../domain/model-versions';
import { tableOf } from './lookup';

/** Name of the exact fp32 companion of a table, read by `exact_rerank` (ADR 0008). */
export function fp32CompanionName(table: string): string {
  return `${table}.fp32`;
}

/**
 * The `full` table `<table>.fp32` of the same version with the table's rows and dim, or
 * FAILED_PRECONDITION naming what is missing.
 */
function fp32Companion(
  loaded: LoadedVersion,
  name: string,
  table: CompressedTable,
): CompressedTable {
  const companionName = fp32CompanionName(name);
  const companion = loaded.tables.get(companionName);
  if (companion === undefined)
    throw new FailedPreconditionError(
      `exact_rerank needs the fp32 table "${companionName}" in ${loaded.model}/${loaded.version}, which has none (tables: ${[...loaded.tables.keys()].join(', ')})`,
    );
  if (companion.method !== 'full' || companion.rows !== table.rows || companion.dim !== table.dim)
    throw new FailedPreconditionError(
      `exact_rerank: "${companionName}" must be a full table of ${table.rows} × ${table.dim}, it is ${companion.spec} ${companion.rows} × ${companion.dim}`,
    );
  return companion;
}

/**
 * Re-scores each query's candidates (hits found on the codes) with exact fp32 rows and keeps the
 * best k: inner product, or squared L2 (ties: smaller id), summed in the order exactSearch uses,
 * so the result equals a brute-force fp32 search whenever the true top k are among the candidates.
 */
function rerank(
  exact: CompressedTable,
  queries: Float32Array,
  candidates: SearchHits,
  k: number,
  metric: Metric,
): SearchHits {
  const dim = exact.dim;
  const count = queries.length / dim;
  const perQuery = candidates.ids.length / count;
  const keep = Math.min(k, perQuery);
  const ids = new Uint32Array(count * keep);
  const scores = new Float32Array(count * keep);
  const rows = new Float32Array(perQuery * dim);
  const heap = new TopK(keep);
  const l2 = metric === 'l2';
  for (let q = 0; q < count; q += 1) {
    const found = candidates.ids.subarray(q * perQuery, (q + 1) * perQuery);
    exact.lookup(found, rows);
    const qo = q * dim;
    for (let c = 0; c < perQuery; c += 1) {
      const ro = c * dim;
      let s = 0;
      if (l2) {
        for (let j = 0; j < dim; j += 1) {
          const diff = (queries[qo + j] as number) - (rows[ro + j] as number);
          s += diff * diff;
        }
        s = -s;
      } else {
        for (let j = 0; j < dim; j += 1)
          s += (queries[qo + j] as number) * (rows[ro + j] as number);
      }
      heap.push(found[c] as number, s);
    }
    heap.drain(ids, scores, q * keep, l2);
  }
  return { ids, scores };
}

const MAX_DIM = 65_536;
const { Metric } = store;

export function searchHandler(
  config: StoreConfig,
  versions: ModelVersions,
): UnaryHandler<store.SearchRequest, store.SearchResponse> {
  return async (request) => {
    requireName('model', request.model);
    requireName('table', request.table);
    const version = optionalName('version', request.version);
    const queries = requireFloat32Block('queries', request.queries, {
      maxCount: config.maxSearchQueries,
      maxDim: MAX_DIM,
    });
    const k = requireIntInRange('k', request.k, 1, config.maxSearchK);
    const metric = requireEnum(
      'metric',
      request.metric,
      [Metric.METRIC_UNSPECIFIED, Metric.METRIC_INNER_PRODUCT, Metric.METRIC_L2],
      Metric,
    );
    let lease;
    try {
      lease = versions.acquire(request.model, version);
    } catch (err) {
      throw toServiceError(err, request.model);
    }
    try {
      const table = tableOf(lease.version, request.table);
      if (table.search === undefined)
        throw new FailedPreconditionError(
          `table "${request.table}" (${table.spec}) does not support Search (fp16, rowwise-int8, pq and ivf tables do)`,
        );
      const dim = request.queries?.dim ?? 0;
      if (dim !== table.dim)
        throw new InvalidArgumentError(
          'queries.dim',
          `is ${dim}, table "${request.table}" has dim ${table.dim}`,
        );
      const kept = Math.min(k, table.rows);
      const searchMetric: Metric = metric === Metric.METRIC_L2 ? 'l2' : 'inner-product';
      // nprobe 0 = the table's default; tables without a coarse index ignore it.
      const options = { nprobe: request.nprobe };
      let hits: SearchHits;
      if (request.exactRerank) {
        const exact = fp32Companion(lease.version, request.table, table);
        const candidates = Math.min(table.rows, kept * config.searchRerankFactor);
        hits = rerank(
          exact,
          queries,
          table.search(queries, candidates, searchMetric, options),
          kept,
          searchMetric,
        );
      } else {
        hits = table.search(queries, kept, searchMetric, options);
      }
      const perQuery = hits.ids.length / (queries.length / dim);
      const results = Array.from({ length: queries.length / dim }, (_, q) => ({
        ids: Array.from(hits.ids.subarray(q * perQuery, (q + 1) * perQuery)),
        scores: Array.from(hits.scores.subarray(q * perQuery, (q + 1) * perQuery)),
      }));
      return {
        model: request.model,
        version: lease.version.version,
        table: request.table,
        results,
      };
    } finally {
      lease.release();
    }
  };
}

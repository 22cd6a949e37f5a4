import { store } from '@embpress/proto';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  optionalName,
  requireEnum,
  requireFloat32Block,
  requireIntInRange,
  requireName,
  UnimplementedError,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { toServiceError } from '../domain/errors';
import type { ModelVersions } from '../domain/model-versions';
import { tableOf } from './lookup';

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
    if (request.exactRerank)
      throw new UnimplementedError(
        'exact_rerank: re-ranking with fp32 rows arrives with the retriever issue (#6)',
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
          `table "${request.table}" (${table.spec}) does not support Search (fp16, rowwise-int8 and pq tables do)`,
        );
      const dim = request.queries?.dim ?? 0;
      if (dim !== table.dim)
        throw new InvalidArgumentError(
          'queries.dim',
          `is ${dim}, table "${request.table}" has dim ${table.dim}`,
        );
      const hits = table.search(
        queries,
        Math.min(k, table.rows),
        metric === Metric.METRIC_L2 ? 'l2' : 'inner-product',
      );
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

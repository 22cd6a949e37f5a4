// The search fan-out of the sharded client: every shard holding part of the table searches its
// rows, their ids come back as global ids, and the best k of all shards are kept per query.
import { common, store } from '@embpress/proto';
import type { ShardRouter } from './shard-map';
import { placementOf } from './shard-routing';
import type { ShardReplicas } from './shard-replicas';
import { invalid } from './sharded-errors';
import type { SearchHitList, ShardedSearchRequest, ShardedSearchResult } from './sharded-types';
import type { CallSettings } from './store-client';

/** The best `k` hits of several shards' lists (each sorted, best first); ties go to the lower id. */
export function mergeTopK(
  lists: readonly SearchHitList[],
  k: number,
  lowerIsBetter: boolean,
): SearchHitList {
  const hits: Array<[number, number]> = [];
  for (const list of lists) list.ids.forEach((id, i) => hits.push([id, list.scores[i] as number]));
  hits.sort(([idA, a], [idB, b]) => (a === b ? idA - idB : lowerIsBetter ? a - b : b - a));
  const best = hits.slice(0, k);
  return { ids: best.map(([id]) => id), scores: best.map(([, score]) => score) };
}

/**
 * Top-k rows of a table for each query over the shards of `replicas` (ShardedStoreClient.search);
 * `timeoutMs` is the deadline when the caller has none to propagate.
 */
export async function searchShards(
  router: ShardRouter,
  replicas: ShardReplicas,
  timeoutMs: number,
  request: ShardedSearchRequest,
  settings: CallSettings,
): Promise<ShardedSearchResult> {
  if (request.model === '') throw invalid('model: is required');
  const { queries, dim } = request;
  if (!Number.isInteger(dim) || dim < 1 || queries.length === 0 || queries.length % dim !== 0)
    throw invalid(`queries: ${queries.length} values are not a whole number of rows of dim ${dim}`);
  const placement = placementOf(router, request.model, request.table);
  const starts = new Map(
    placement.kind === 'table'
      ? [[placement.shard, 0]]
      : placement.ranges.map((r) => [r.shard, r.start] as [string, number]),
  );
  const deadline = settings.deadline ?? Date.now() + timeoutMs;
  const metric = request.metric ?? store.Metric.METRIC_INNER_PRODUCT;
  const block: common.VectorBlock = {
    encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
    dim,
    count: queries.length / dim,
    data: Buffer.from(queries.buffer, queries.byteOffset, queries.byteLength),
    codec: '',
  };
  const answers = await replicas.oneVersionFromEvery(
    request.model,
    [...starts.keys()],
    deadline,
    (_shard, client) =>
      client.search(
        {
          model: request.model,
          version: request.version ?? '',
          table: request.table,
          queries: block,
          k: request.k,
          metric,
          exactRerank: request.exactRerank ?? false,
          nprobe: request.nprobe ?? 0,
        },
        { deadline, metadata: settings.metadata },
      ),
  );
  const lowerIsBetter = metric === store.Metric.METRIC_L2;
  const results = Array.from({ length: block.count }, (_, q) =>
    mergeTopK(
      answers.map((a) => {
        const hits = a.response.results[q];
        const start = starts.get(a.shard) ?? 0;
        return { ids: (hits?.ids ?? []).map((id) => id + start), scores: hits?.scores ?? [] };
      }),
      request.k,
      lowerIsBetter,
    ),
  );
  return {
    model: request.model,
    version: answers[0]?.response.version ?? '',
    table: request.table,
    results,
    shards: answers.map((a) => ({
      shard: a.shard,
      address: a.address,
      version: a.response.version,
    })),
  };
}

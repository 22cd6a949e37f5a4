// Rank: validate → the version (the request's, or the store's active one) → its dense network and
// feature mapping (cached) → raw features to row ids, as the trainer encoded them → the rows the
// hot-row cache holds for that version (domain/row-cache.ts), and for the others ONE BatchLookup
// per shard, pinned to that version (the sharded client sends each distinct id once, asks for the
// table's compressed codes when this side can decode them, and decodes them into fp32 rows in
// request order) → the dense forward in tfjs → candidates by score, best first.
// Spans under the gRPC server span: ranker.feature_mapping, ranker.store_lookup (with the cache's
// embpress.cache.hits / .misses in distinct ids; its children, when some rows missed: the gRPC
// client spans of the store calls, then ranker.decode, the client's decode of the codes),
// ranker.dense_forward.
import { status } from '@grpc/grpc-js';
import { trace, type Span } from '@opentelemetry/api';
import { common, type ranker } from '@embpress/proto';
import { ModelRegistryDir } from '@embpress/model-registry';
import {
  annotateSpan,
  assertTimeLeft,
  fromUpstream,
  isServiceError,
  outgoingDeadline,
  type UnaryHandler,
} from '@embpress/service-kit';
import {
  CLIENT_DECODED_CODECS,
  ShardRouter,
  singleAddressShardMap,
  type ActiveVersions,
  type ShardedStoreClient,
} from '@embpress/store-client';
import type { RankerConfig } from '../config';
import { degradedRows, shardFailureOf } from '../domain/degraded-lookup';
import type { ModelCache } from '../domain/model-cache';
import type { RankerMetrics } from '../domain/ranker-metrics';
import { Float32Pool } from '../domain/float32-pool';
import { lookupThroughCache, type CachedRows, type RowCache } from '../domain/row-cache';
import type { ServedModel } from '../domain/served-model';
import type { RankRequestIn } from '../wire/rank-request-decoder';
import { validateRankRequest } from './validate-rank';

const tracer = trace.getTracer('embpress-ranker');
const { RowEncoding } = common;

/** Runs `f` in a child span of the active one, ending it (with the error, if any) afterwards. */
function inSpan<T>(name: string, f: (span: Span) => T): T {
  return tracer.startActiveSpan(name, (span) => {
    const end = (err?: unknown) => {
      if (err !== undefined) {
        span.recordException(err as Error);
        span.setStatus({ code: 2, message: (err as Error).message });
      }
      span.end();
    };
    try {
      const out = f(span);
      if (out instanceof Promise)
        return out.then(
          (v: unknown) => {
            end();
            return v;
          },
          (err: unknown) => {
            end(err);
            throw err;
          },
        ) as T;
      end();
      return out;
    } catch (err) {
      end(err);
      throw err;
    }
  });
}

export interface RankDependencies {
  config: RankerConfig;
  store: ShardedStoreClient;
  versions: ActiveVersions;
  models: ModelCache;
  /** Hot rows of the served versions (off when built with 0 bytes). */
  rowCache: RowCache;
  metrics: RankerMetrics;
}

export function rankHandler(
  deps: RankDependencies,
): UnaryHandler<RankRequestIn, ranker.RankResponse> {
  const { config, store, versions, models, rowCache, metrics } = deps;
  const registry = new ModelRegistryDir(config.registryRoot);
  const router = new ShardRouter(config.shardMap ?? singleAddressShardMap(config.store.address));
  // The rows arrays of cached lookups, reused (domain/float32-pool.ts).
  const rowArrays = new Float32Pool(16);

  /** The version to serve when the request names none; degraded mode survives a down store. */
  async function activeVersion(model: string, deadline: number): Promise<string> {
    try {
      return await versions.resolve(model, deadline);
    } catch (err) {
      if (config.degradedOnShardFailure && shardFailureOf(err) !== undefined) {
        const fallback = versions.lastKnown(model) ?? registry.activeVersion(model);
        if (fallback !== undefined) return fallback;
      }
      throw fromUpstream(err, 'store DescribeTables');
    }
  }

  /**
   * Rows of `ids` (duplicates included, in order) from the store, pinned to the served version:
   * one BatchLookup per shard, or in degraded mode zeros for the rows of shards that failed.
   * `cacheable` is false for a degraded answer: its zeros must never enter the row cache.
   */
  async function storeRows(
    served: ServedModel,
    ids: Uint32Array,
    deadline: number,
    span: Span,
  ): Promise<{ rows: Float32Array; degraded: boolean; cacheable: boolean }> {
    const { table } = served;
    const codes = CLIENT_DECODED_CODECS.has(table.method);
    const encoding = codes ? RowEncoding.ROW_ENCODING_CODES : RowEncoding.ROW_ENCODING_FLOAT32_LE;
    try {
      const result = await store.batchLookup(
        {
          model: served.model,
          version: served.version,
          tables: [{ table: table.name, ids }],
          encoding,
        },
        { deadline },
      );
      const rows = (result.tables[0] as { rows: Float32Array }).rows;
      span.setAttributes({
        'embpress.shards': result.shards.length,
        'embpress.bytes': rows.byteLength,
      });
      // The client decoded the codes after the store calls returned: recorded as a child span
      // with the client's own timing (it runs inside the client, not in a callback of ours).
      tracer
        .startSpan('ranker.decode', {
          startTime: result.decode.startMs,
          attributes: {
            'embpress.method': table.method,
            'embpress.encoding': codes ? 'codes' : 'float32',
            'embpress.rows': ids.length,
          },
        })
        .end(result.decode.startMs + result.decode.durationMs);
      return { rows, degraded: false, cacheable: result.version === served.version };
    } catch (err) {
      const failure = config.degradedOnShardFailure ? shardFailureOf(err) : undefined;
      if (failure === undefined) throw err;
      // The failed shards' rows become zeros; the other shards' rows are still asked for.
      const degraded = await degradedRows(
        router,
        served.model,
        table.name,
        table.dim,
        ids,
        failure.shard,
        async (kept) => {
          const again = await store.batchLookup(
            {
              model: served.model,
              version: served.version,
              tables: [{ table: table.name, ids: kept }],
              encoding,
            },
            { deadline },
          );
          return (again.tables[0] as { rows: Float32Array }).rows;
        },
      );
      span.setAttributes({
        'embpress.degraded': true,
        'embpress.failed_shards': degraded.failedShards.join(','),
        'embpress.zeroed_ids': degraded.zeroed,
      });
      return { rows: degraded.rows, degraded: true, cacheable: false };
    }
  }

  /**
   * Rows of `ids` for the served version: the hot-row cache's first (domain/row-cache.ts), then
   * ONE store lookup of the distinct ids it does not hold, whose rows are cached unless the answer
   * was degraded. With the cache off, every id goes to the store, as before the cache.
   */
  async function lookupRows(
    served: ServedModel,
    ids: Uint32Array,
    deadline: number,
  ): Promise<{ rows: Float32Array; degraded: boolean; pooled: boolean }> {
    const { table } = served;
    const codes = CLIENT_DECODED_CODECS.has(table.method);
    return inSpan('ranker.store_lookup', async (span) => {
      span.setAttributes({
        'embpress.model': served.model,
        'embpress.version': served.version,
        'embpress.table': table.name,
        'embpress.method': table.method,
        'embpress.encoding': codes ? 'codes' : 'float32',
        'embpress.ids': ids.length,
      });
      const ns = rowCache.namespace(served.model, served.version, table.name, table.dim);
      if (ns === undefined) {
        const fetched = await storeRows(served, ids, deadline, span);
        return { rows: fetched.rows, degraded: fetched.degraded, pooled: false };
      }
      const into = rowArrays.acquire(ids.length * table.dim);
      let got: CachedRows;
      try {
        got = await lookupThroughCache(
          rowCache,
          ns,
          ids,
          (missing) => storeRows(served, missing, deadline, span),
          (hits, misses) => {
            span.setAttributes({ 'embpress.cache.hits': hits, 'embpress.cache.misses': misses });
            metrics.recordCache(served.model, table.name, table.method, hits, misses);
          },
          into,
        );
      } catch (err) {
        rowArrays.release(into);
        throw err;
      }
      if (got.misses === 0) span.setAttributes({ 'embpress.shards': 0, 'embpress.bytes': 0 });
      return { rows: got.rows, degraded: got.degraded, pooled: true };
    });
  }

  async function rankWith(
    request: RankRequestIn,
    version: string,
    deadline: number,
  ): Promise<ranker.RankResponse> {
    const lease = models.acquire(request.model, version);
    try {
      const served = lease.served;
      const columnar = request.candidateIds.length > 0;
      const batch = inSpan('ranker.feature_mapping', (span) => {
        span.setAttributes({
          'embpress.candidates': columnar ? request.candidateIds.length : request.candidates.length,
          'embpress.request_form': columnar ? 'columns' : 'rows',
        });
        return columnar
          ? served.mapping.mapColumns(request.context, request.candidateIds.length, request.columns)
          : served.mapping.map(request.context, request.candidates);
      });
      const { rows, degraded, pooled } = await lookupRows(served, batch.ids, deadline);
      let scores: Float32Array;
      try {
        assertTimeLeft(deadline, 'the dense forward');
        scores = inSpan('ranker.dense_forward', (span) => {
          span.setAttribute('embpress.candidates', batch.size);
          return served.net.predict(batch.dense, rows);
        });
      } finally {
        // predict copied the rows into the network's own buffers: the array can serve another Rank.
        if (pooled) rowArrays.release(rows);
      }
      const order = Array.from({ length: batch.size }, (_, i) => i);
      // Stable: equal scores keep the request's order.
      order.sort((a, b) => (scores[b] as number) - (scores[a] as number));
      annotateSpan({
        'embpress.model': request.model,
        'embpress.version': version,
        'embpress.candidates': batch.size,
        'embpress.degraded': degraded,
      });
      return {
        model: request.model,
        version,
        ranked: order.map((i) => ({
          id: columnar
            ? (request.candidateIds[i] as string)
            : (request.candidates[i] as ranker.Candidate).id,
          score: scores[i] as number,
        })),
        degraded,
      };
    } finally {
      lease.release();
    }
  }

  return async (request, ctx) => {
    validateRankRequest(request, config);
    // Under overload a request may wait past its deadline: its caller has given up, skip the work.
    assertTimeLeft(ctx.deadline, 'Rank');
    const deadline = outgoingDeadline(ctx.deadline, config.store.timeoutMs);
    const pinned = request.version !== '';
    const version = pinned ? request.version : await activeVersion(request.model, deadline);
    try {
      return await rankWith(request, version, deadline);
    } catch (err) {
      // The cached active version was unloaded by the store since: ask for the active one again.
      if (!pinned && isServiceError(err) && err.code === status.NOT_FOUND) {
        versions.forget(request.model);
        const fresh = await activeVersion(request.model, deadline);
        if (fresh !== version) {
          try {
            return await rankWith(request, fresh, deadline);
          } catch (retryErr) {
            throw fromUpstream(retryErr, 'store BatchLookup');
          }
        }
      }
      throw fromUpstream(err, 'store BatchLookup');
    }
  };
}

// The client of a sharded store (issue #5 item 4): one StoreClient per replica address, round
// robin over the replicas of a shard (an UNAVAILABLE replica is passed over for a while and the
// call moves to the next one), and a BatchLookup split into ONE call per shard, sent in parallel
// under the caller's deadline, whose rows are merged back into request order as fp32. Search
// asks every shard holding part of the table and keeps the best k of all (global ids).
// Every shard must answer from the same version of the model: a request never mixes versions.
// A plain address (no shard map) is a one-shard map, so callers hold one client type.
//
// This module holds the client itself; the pieces it is made of live beside it:
//   sharded-errors.ts   ShardedStoreError and how a shard's failure becomes one
//   sharded-types.ts    the request, result and option shapes
//   shard-routing.ts    ids -> one request per shard, and the answers merged back (pure)
//   shard-replicas.ts   replica round robin, retries, and the one-version rule
//   sharded-search.ts   the search fan-out and the top-k merge
import { common, type store } from '@embpress/proto';
import type { ClientConfig } from '@embpress/service-kit';
import { ShardRouter, singleAddressShardMap, type ShardMap } from './shard-map';
import { ShardReplicas } from './shard-replicas';
import { mergeBatch, planBatch } from './shard-routing';
import { invalid } from './sharded-errors';
import { searchShards } from './sharded-search';
import type {
  ShardedBatchLookupRequest,
  ShardedBatchLookupResult,
  ShardedLookupRequest,
  ShardedLookupResult,
  ShardedSearchRequest,
  ShardedSearchResult,
  ShardedStoreClientOptions,
  TableRows,
} from './sharded-types';
import type { CallSettings, RetryPolicy } from './store-client';

// The package's names for these pieces (and this path's, which importers use) stay as they were.
export { ShardedStoreError } from './sharded-errors';
export {
  planBatch,
  planTable,
  scatterRows,
  type BatchPlan,
  type TablePart,
  type TablePlan,
} from './shard-routing';
export { mergeTopK } from './sharded-search';
export type {
  SearchHitList,
  ShardAnswer,
  ShardedBatchLookupRequest,
  ShardedBatchLookupResult,
  ShardedLookupRequest,
  ShardedLookupResult,
  ShardedSearchRequest,
  ShardedSearchResult,
  ShardedStoreClientOptions,
  TableIdsInput,
  TableRows,
} from './sharded-types';

export class ShardedStoreClient {
  private readonly router: ShardRouter;
  private readonly replicas: ShardReplicas;
  private readonly timeoutMs: number;

  /** A client of `config.address` alone, or of the shards of `shardMap` when one is given. */
  static create(
    config: ClientConfig,
    shardMap?: ShardMap,
    retry?: RetryPolicy,
  ): ShardedStoreClient {
    return new ShardedStoreClient(shardMap ?? singleAddressShardMap(config.address), {
      tls: config.tls,
      timeoutMs: config.timeoutMs,
      retry,
      streams: config.streams,
    });
  }

  constructor(map: ShardMap, options: ShardedStoreClientOptions) {
    this.router = new ShardRouter(map);
    this.timeoutMs = options.timeoutMs;
    this.replicas = new ShardReplicas(map, options);
  }

  /** Rows of one table (a one-table batchLookup). */
  async lookup(
    request: ShardedLookupRequest,
    settings: CallSettings = {},
  ): Promise<ShardedLookupResult> {
    const { model, version, tables, shards } = await this.batchLookup(
      {
        model: request.model,
        version: request.version,
        tables: [{ table: request.table, ids: request.ids }],
        encoding: request.encoding,
      },
      settings,
    );
    return { model, version, shards, ...(tables[0] as TableRows) };
  }

  /**
   * Rows of many tables of one model: one BatchLookup per shard involved, in parallel, under one
   * deadline. When the shards answer from different versions (an activation rolling over them),
   * the whole request is sent once more; if they still differ it fails with ABORTED.
   */
  async batchLookup(
    request: ShardedBatchLookupRequest,
    settings: CallSettings = {},
  ): Promise<ShardedBatchLookupResult> {
    if (request.model === '') throw invalid('model: is required');
    const plan = planBatch(this.router, request.model, request.tables);
    const deadline = settings.deadline ?? Date.now() + this.timeoutMs;
    const version = request.version ?? '';
    const encoding = request.encoding ?? common.RowEncoding.ROW_ENCODING_FLOAT32_LE;
    const answers = await this.replicas.oneVersionFromEvery(
      request.model,
      [...plan.byShard.keys()],
      deadline,
      (shard, client) =>
        client.batchLookup(
          { model: request.model, version, tables: plan.byShard.get(shard) ?? [], encoding },
          { deadline, metadata: settings.metadata },
        ),
    );
    return mergeBatch(request.model, plan, answers);
  }

  /**
   * Top-k rows of a table for each query: every shard holding part of the table searches its
   * rows, ids come back as global ids, and the best k of all shards are kept (ties: lower id).
   */
  async search(
    request: ShardedSearchRequest,
    settings: CallSettings = {},
  ): Promise<ShardedSearchResult> {
    return searchShards(this.router, this.replicas, this.timeoutMs, request, settings);
  }

  /** Tables of every shard (DescribeTables of one replica each), by shard name. */
  async describeTables(
    model = '',
    settings: CallSettings = {},
  ): Promise<Array<{ shard: string; address: string; tables: store.TableInfo[] }>> {
    const deadline = settings.deadline ?? Date.now() + this.timeoutMs;
    return Promise.all(
      this.replicas.names().map(async (name) => {
        const { response, address } = await this.replicas.callShard(
          name,
          (client) => client.describeTables({ model }, { deadline, metadata: settings.metadata }),
          deadline,
        );
        return { shard: name, address, tables: response.tables };
      }),
    );
  }

  close(): void {
    this.replicas.close();
  }
}

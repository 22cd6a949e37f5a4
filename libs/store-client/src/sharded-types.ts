// The request, result and option shapes of the sharded client (ShardedStoreClient): what a
// caller passes in and gets back. Types only.
import type { common, store } from '@embpress/proto';
import type { ClientTls } from '@embpress/service-kit';
import type { RetryPolicy } from './store-client';

export interface TableIdsInput {
  table: string;
  ids: readonly number[] | Uint32Array;
}

export interface ShardedStoreClientOptions {
  tls: ClientTls;
  /** Deadline of a call when the caller has none to propagate. */
  timeoutMs: number;
  /** Attempts per shard call (at least one per replica) and the backoff between rounds. */
  retry?: RetryPolicy;
  /** How long a replica that answered UNAVAILABLE is tried last. */
  replicaCooldownMs?: number;
  /** LookupStream streams per replica for batchLookup (0: unary; default DEFAULT_LOOKUP_STREAMS). */
  streams?: number;
}

export interface ShardedBatchLookupRequest {
  model: string;
  /** Empty or unset: the model's active version (the same on every shard, or the call fails). */
  version?: string;
  tables: readonly TableIdsInput[];
  /** Wire encoding asked of the shards; rows always come back as fp32. Default FLOAT32_LE. */
  encoding?: common.RowEncoding;
}

export interface ShardedLookupRequest {
  model: string;
  version?: string;
  table: string;
  ids: readonly number[] | Uint32Array;
  encoding?: common.RowEncoding;
}

export interface TableRows {
  table: string;
  dim: number;
  /** Rows returned (= ids asked, duplicates included). */
  count: number;
  /** count × dim, row i for the i-th requested id. */
  rows: Float32Array;
}

/** Which replica of which shard answered, from which version. */
export interface ShardAnswer {
  shard: string;
  address: string;
  version: string;
}

export interface ShardedBatchLookupResult {
  model: string;
  /** The one version every shard served the rows from. */
  version: string;
  /** In request order. */
  tables: TableRows[];
  shards: ShardAnswer[];
  /**
   * When decoding the shards' blocks into fp32 rows and merging them into request order started
   * (ms since the epoch) and how long it took: a caller can record it as a span.
   */
  decode: { startMs: number; durationMs: number };
}

export interface ShardedLookupResult extends TableRows {
  model: string;
  version: string;
  shards: ShardAnswer[];
}

export interface ShardedSearchRequest {
  model: string;
  version?: string;
  table: string;
  /** Query vectors, row-major, `dim` values each. */
  queries: Float32Array;
  dim: number;
  k: number;
  /** Default inner product. */
  metric?: store.Metric;
  exactRerank?: boolean;
  /** Coarse lists to scan on inverted-file tables (0 or absent: the table's default). */
  nprobe?: number;
}

export interface SearchHitList {
  /** Global row ids, best first. */
  ids: number[];
  /** Inner product (higher is better) or squared L2 distance (lower is better). */
  scores: number[];
}

export interface ShardedSearchResult {
  model: string;
  version: string;
  table: string;
  /** One entry per query, in query order. */
  results: SearchHitList[];
  shards: ShardAnswer[];
}

// Degraded mode (EMBPRESS_RANKER_DEGRADED_ON_SHARD_FAILURE): when a shard cannot answer, the rows
// it holds become zeros (the embedding of "no information") and the other shards' rows are still
// used. The sharded client fails a whole BatchLookup when one shard fails, so the lookup is sent
// again without the ids of every shard that failed so far, until it succeeds or no shard is left.
import { status } from '@grpc/grpc-js';
import { rangeIndexOf, type ShardRouter } from '@embpress/store-client';
import { isServiceError } from '@embpress/service-kit';

/** Rows (ids.length × dim) of `ids`, from the pinned version. */
export type RowsLookup = (ids: Uint32Array) => Promise<Float32Array>;

export interface DegradedRows {
  rows: Float32Array;
  /** Shards whose rows were replaced by zeros. */
  failedShards: string[];
  /** Ids (positions) answered with zeros. */
  zeroed: number;
}

/** A store failure to degrade on: a shard that is down or too slow, not a refused request. */
export function shardFailureOf(err: unknown): { shard: string | undefined } | undefined {
  if (
    !isServiceError(err) ||
    (err.code !== status.UNAVAILABLE && err.code !== status.DEADLINE_EXCEEDED)
  )
    return undefined;
  return { shard: (err as { shard?: string }).shard };
}

/** The shard holding global row `id` of `table`, or undefined when the map does not place it. */
function shardOf(
  router: ShardRouter,
  model: string,
  table: string,
  id: number,
): string | undefined {
  const placement = router.placement(model, table);
  if (placement === undefined) return undefined;
  if (placement.kind === 'table') return placement.shard;
  return placement.ranges[rangeIndexOf(placement.ranges, id)]?.shard;
}

/**
 * The rows of `ids` after the lookup failed on `firstFailed` (undefined: not known which, e.g. a
 * single store: every row is zeroed).
 */
export async function degradedRows(
  router: ShardRouter,
  model: string,
  table: string,
  dim: number,
  ids: Uint32Array,
  firstFailed: string | undefined,
  lookup: RowsLookup,
): Promise<DegradedRows> {
  const rows = new Float32Array(ids.length * dim);
  if (firstFailed === undefined) return { rows, failedShards: [], zeroed: ids.length };
  const failed = new Set([firstFailed]);
  const shards = Array.from(ids, (id) => shardOf(router, model, table, id));
  for (;;) {
    const keep: number[] = [];
    shards.forEach((shard, i) => {
      if (shard !== undefined && !failed.has(shard)) keep.push(i);
    });
    const result = { rows, failedShards: [...failed], zeroed: ids.length - keep.length };
    if (keep.length === 0) return result;
    try {
      const got = await lookup(Uint32Array.from(keep, (i) => ids[i] as number));
      keep.forEach((i, k) => rows.set(got.subarray(k * dim, (k + 1) * dim), i * dim));
      return result;
    } catch (err) {
      const failure = shardFailureOf(err);
      if (failure === undefined) throw err;
      // Another shard down too (or one that cannot be told apart): drop it as well.
      if (failure.shard === undefined || failed.has(failure.shard)) {
        rows.fill(0);
        return { rows, failedShards: [...failed], zeroed: ids.length };
      }
      failed.add(failure.shard);
    }
  }
}

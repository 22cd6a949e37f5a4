// Routing the ids of a request to shards and merging the shards' answers (pure): a BatchLookup is
// planned into ONE request per shard (row ranges subtract their start, duplicates sent once), and
// the shards' blocks are decoded to fp32 and put back into request order.
import { status } from '@grpc/grpc-js';
import type { common, store } from '@embpress/proto';
import { decodeRows } from './decode-rows';
import { rangeIndexOf, type Placement, type RowRange, type ShardRouter } from './shard-map';
import { invalid, ShardedStoreError } from './sharded-errors';
import type { ShardedBatchLookupResult, TableIdsInput } from './sharded-types';

export function placementOf(router: ShardRouter, model: string, table: string): Placement {
  const placement = router.placement(model, table);
  if (placement === undefined)
    throw new ShardedStoreError(
      status.NOT_FOUND,
      `table "${table}" of model "${model}" is not in the shard map, and the map has no defaultShard`,
    );
  return placement;
}

/** The unique ids of one table that one shard serves, in the shard's own (local) row ids. */
export interface TablePart {
  shard: string;
  ids: number[];
}

/** How the ids of one requested table are spread over shards, and how to put the rows back. */
export interface TablePlan {
  table: string;
  /** Ids the caller asked for (duplicates included). */
  count: number;
  parts: TablePart[];
  /** For each requested position: the part holding its row, and the row's index in that part. */
  partOf: Uint32Array;
  rowOf: Uint32Array;
}

export interface BatchPlan {
  tables: TablePlan[];
  /** The request of each shard: its tables, in request order. */
  byShard: Map<string, store.TableIds[]>;
}

/**
 * Splits the ids of one table by shard: row ranges subtract their start, duplicates are sent once
 * (the ranker sends many), and every requested position remembers where its row comes back.
 * `field` names the request field in errors (`tables[2].ids`).
 */
export function planTable(
  router: ShardRouter,
  model: string,
  table: string,
  ids: readonly number[] | Uint32Array,
  field: string,
): TablePlan {
  const placement = placementOf(router, model, table);
  if (ids.length === 0) throw invalid(`${field}: must not be empty`);
  const parts: TablePart[] = [];
  const unique: Array<Map<number, number>> = [];
  const partOf = new Uint32Array(ids.length);
  const rowOf = new Uint32Array(ids.length);
  // Part of each range (or of the single shard), created when its first id shows up.
  const slots = new Int32Array(placement.kind === 'table' ? 1 : placement.ranges.length).fill(-1);
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff)
      throw invalid(`${field}[${i}]: must be an integer in [0, 4294967295], got ${id}`);
    let slot = 0;
    let local = id;
    let shard: string;
    if (placement.kind === 'table') {
      shard = placement.shard;
    } else {
      slot = rangeIndexOf(placement.ranges, id);
      if (slot < 0) {
        const end = placement.ranges[placement.ranges.length - 1]?.end ?? 0;
        throw invalid(
          `${field}[${i}]: id ${id} is out of range for table "${table}" (rows [0, ${end}))`,
        );
      }
      const range = placement.ranges[slot] as RowRange;
      shard = range.shard;
      local = id - range.start;
    }
    let part = slots[slot] as number;
    if (part < 0) {
      part = parts.length;
      slots[slot] = part;
      parts.push({ shard, ids: [] });
      unique.push(new Map());
    }
    const seen = unique[part] as Map<number, number>;
    let row = seen.get(local);
    if (row === undefined) {
      const partIds = (parts[part] as TablePart).ids;
      row = partIds.length;
      partIds.push(local);
      seen.set(local, row);
    }
    partOf[i] = part;
    rowOf[i] = row;
  }
  return { table, count: ids.length, parts, partOf, rowOf };
}

/** Plans every table of a batch and groups the parts into one request per shard. */
export function planBatch(
  router: ShardRouter,
  model: string,
  tables: readonly TableIdsInput[],
): BatchPlan {
  if (tables.length === 0) throw invalid('tables: must not be empty');
  const names = new Set<string>();
  const plans = tables.map((entry, i) => {
    if (names.has(entry.table)) throw invalid(`tables[${i}].table: "${entry.table}" appears twice`);
    names.add(entry.table);
    return planTable(router, model, entry.table, entry.ids, `tables[${i}].ids`);
  });
  const byShard = new Map<string, store.TableIds[]>();
  for (const plan of plans) {
    for (const part of plan.parts) {
      let list = byShard.get(part.shard);
      if (list === undefined) {
        list = [];
        byShard.set(part.shard, list);
      }
      list.push({ table: plan.table, ids: part.ids });
    }
  }
  return { tables: plans, byShard };
}

/** Rows of every requested position, in request order, from each part's fp32 rows. */
export function scatterRows(
  plan: TablePlan,
  partRows: readonly Float32Array[],
  dim: number,
): Float32Array {
  plan.parts.forEach((part, p) => {
    const rows = partRows[p];
    if (rows === undefined || rows.length !== part.ids.length * dim)
      throw new RangeError(
        `scatterRows: part ${p} of "${plan.table}" has ${rows?.length ?? 0} values, expected ${part.ids.length}×${dim}`,
      );
  });
  const out = new Float32Array(plan.count * dim);
  for (let i = 0; i < plan.count; i += 1) {
    const rows = partRows[plan.partOf[i] as number] as Float32Array;
    const src = (plan.rowOf[i] as number) * dim;
    const dst = i * dim;
    for (let j = 0; j < dim; j += 1) out[dst + j] = rows[src + j] as number;
  }
  return out;
}

/**
 * The result of a batch lookup from the shards' answers to the requests of `plan`: each table's
 * rows decoded to fp32 and put back into request order. The shards must agree on a table's dim.
 */
export function mergeBatch(
  model: string,
  plan: BatchPlan,
  answers: ReadonlyArray<{ shard: string; address: string; response: store.BatchLookupResponse }>,
): ShardedBatchLookupResult {
  const blocks = new Map<string, Map<string, common.VectorBlock>>();
  for (const { shard, response } of answers) {
    const byTable = new Map<string, common.VectorBlock>();
    for (const entry of response.tables)
      if (entry.rows !== undefined) byTable.set(entry.table, entry.rows);
    blocks.set(shard, byTable);
  }
  const address = new Map(answers.map((a) => [a.shard, a.address]));
  const decodeStart = performance.now();
  const tables = plan.tables.map((tablePlan) => {
    let dim = -1;
    const partRows = tablePlan.parts.map((part) => {
      const where = () => `shard "${part.shard}" (${address.get(part.shard)})`;
      const block = blocks.get(part.shard)?.get(tablePlan.table);
      if (block === undefined || block.count !== part.ids.length)
        throw new ShardedStoreError(
          status.INTERNAL,
          `${where()}: sent ${block?.count ?? 'no'} rows of table "${tablePlan.table}", ${part.ids.length} were asked`,
          { shard: part.shard },
        );
      if (dim >= 0 && block.dim !== dim)
        throw new ShardedStoreError(
          status.FAILED_PRECONDITION,
          `${where()}: table "${tablePlan.table}" has dim ${block.dim}, other shards ${dim}: the shards do not hold one table`,
          { shard: part.shard },
        );
      dim = block.dim;
      try {
        return decodeRows(block);
      } catch (err) {
        throw new ShardedStoreError(
          status.FAILED_PRECONDITION,
          `${where()}: rows of table "${tablePlan.table}": ${(err as Error).message}`,
          { shard: part.shard, cause: err },
        );
      }
    });
    return {
      table: tablePlan.table,
      dim,
      count: tablePlan.count,
      rows: scatterRows(tablePlan, partRows, dim),
    };
  });
  const decode = {
    startMs: performance.timeOrigin + decodeStart,
    durationMs: performance.now() - decodeStart,
  };
  const version = answers[0]?.response.version ?? '';
  return {
    model,
    version,
    tables,
    decode,
    shards: answers.map((a) => ({
      shard: a.shard,
      address: a.address,
      version: a.response.version,
    })),
  };
}

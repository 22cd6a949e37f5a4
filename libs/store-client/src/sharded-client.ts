// The client of a sharded store (issue #5 item 4): one StoreClient per replica address, round
// robin over the replicas of a shard (an UNAVAILABLE replica is passed over for a while and the
// call moves to the next one), and a BatchLookup split into ONE call per shard, sent in parallel
// under the caller's deadline, whose rows are merged back into request order as fp32. Search
// asks every shard holding part of the table and keeps the best k of all (global ids).
// Every shard must answer from the same version of the model: a request never mixes versions.
// A plain address (no shard map) is a one-shard map, so callers hold one client type.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { common, store } from '@embpress/proto';
import { isServiceError, type ClientConfig, type ClientTls } from '@embpress/service-kit';
import { decodeRows } from './decode-rows';
import {
  rangeIndexOf,
  ShardRouter,
  singleAddressShardMap,
  type Placement,
  type RowRange,
  type ShardMap,
} from './shard-map';
import { backoffMs, StoreClient, type CallSettings, type RetryPolicy } from './store-client';

// ---- errors -----------------------------------------------------------------------------------

/**
 * A failed sharded call, shaped like a gRPC ServiceError (code, details, metadata) so callers
 * handle it like any other store error (e.g. service-kit's fromUpstream). A shard's own error keeps
 * its status code and gets the shard's name and address in front of its details.
 */
export class ShardedStoreError extends Error implements ServiceError {
  override readonly name = 'ShardedStoreError';
  readonly metadata: Metadata;
  /** The shard that failed; undefined when the client refused the request itself. */
  readonly shard?: string;
  readonly address?: string;

  constructor(
    readonly code: status,
    readonly details: string,
    options: { shard?: string; address?: string; metadata?: Metadata; cause?: unknown } = {},
  ) {
    super(`${code} ${status[code]}: ${details}`, { cause: options.cause });
    this.metadata = options.metadata ?? new Metadata();
    this.shard = options.shard;
    this.address = options.address;
  }
}

function shardFailure(err: unknown, shard: string, address: string): ShardedStoreError {
  const where = `shard "${shard}" (${address})`;
  if (isServiceError(err))
    return new ShardedStoreError(err.code, `${where}: ${err.details}`, {
      shard,
      address,
      metadata: err.metadata,
      cause: err,
    });
  return new ShardedStoreError(
    status.INTERNAL,
    `${where}: ${(err as Error).message ?? String(err)}`,
    {
      shard,
      address,
      cause: err,
    },
  );
}

const invalid = (details: string) => new ShardedStoreError(status.INVALID_ARGUMENT, details);

// ---- splitting a request by shard and merging the replies (pure) ------------------------------

function placementOf(router: ShardRouter, model: string, table: string): Placement {
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

export interface TableIdsInput {
  table: string;
  ids: readonly number[] | Uint32Array;
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

// ---- replicas ---------------------------------------------------------------------------------

class Replica {
  /** Until then the replica is tried only when every other one is down too. */
  downUntil = 0;
  constructor(
    readonly address: string,
    readonly client: StoreClient,
  ) {}
}

class Shard {
  private next = 0;
  constructor(
    readonly name: string,
    readonly replicas: readonly Replica[],
  ) {}

  /** The replicas in the order to try them: round robin, the ones known to be down last. */
  order(now: number): Replica[] {
    const start = this.next;
    this.next = (this.next + 1) % this.replicas.length;
    const rotated = this.replicas.map(
      (_, i) => this.replicas[(start + i) % this.replicas.length] as Replica,
    );
    return [
      ...rotated.filter((r) => r.downUntil <= now),
      ...rotated.filter((r) => r.downUntil > now),
    ];
  }
}

// ---- the client -------------------------------------------------------------------------------

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

const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 25, maxDelayMs: 500 };
const NO_RETRY: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ShardedStoreClient {
  private readonly router: ShardRouter;
  private readonly shards = new Map<string, Shard>();
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly cooldownMs: number;

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
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.cooldownMs = options.replicaCooldownMs ?? 1000;
    for (const shard of map.shards) {
      const replicas = shard.addresses.map(
        (address) =>
          // Each replica tried once per attempt: moving on to another replica is this class's job.
          new Replica(
            address,
            new StoreClient(
              { address, tls: options.tls, timeoutMs: options.timeoutMs, streams: options.streams },
              NO_RETRY,
            ),
          ),
      );
      this.shards.set(shard.name, new Shard(shard.name, replicas));
    }
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
    const answers = await this.oneVersionFromEvery(
      request.model,
      [...plan.byShard.keys()],
      deadline,
      (shard, client) =>
        client.batchLookup(
          { model: request.model, version, tables: plan.byShard.get(shard) ?? [], encoding },
          { deadline, metadata: settings.metadata },
        ),
    );
    return this.merge(request.model, plan, answers);
  }

  /**
   * Top-k rows of a table for each query: every shard holding part of the table searches its
   * rows, ids come back as global ids, and the best k of all shards are kept (ties: lower id).
   */
  async search(
    request: ShardedSearchRequest,
    settings: CallSettings = {},
  ): Promise<ShardedSearchResult> {
    if (request.model === '') throw invalid('model: is required');
    const { queries, dim } = request;
    if (!Number.isInteger(dim) || dim < 1 || queries.length === 0 || queries.length % dim !== 0)
      throw invalid(
        `queries: ${queries.length} values are not a whole number of rows of dim ${dim}`,
      );
    const placement = placementOf(this.router, request.model, request.table);
    const starts = new Map(
      placement.kind === 'table'
        ? [[placement.shard, 0]]
        : placement.ranges.map((r) => [r.shard, r.start] as [string, number]),
    );
    const deadline = settings.deadline ?? Date.now() + this.timeoutMs;
    const metric = request.metric ?? store.Metric.METRIC_INNER_PRODUCT;
    const block: common.VectorBlock = {
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      dim,
      count: queries.length / dim,
      data: Buffer.from(queries.buffer, queries.byteOffset, queries.byteLength),
      codec: '',
    };
    const answers = await this.oneVersionFromEvery(
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

  /** Tables of every shard (DescribeTables of one replica each), by shard name. */
  async describeTables(
    model = '',
    settings: CallSettings = {},
  ): Promise<Array<{ shard: string; address: string; tables: store.TableInfo[] }>> {
    const deadline = settings.deadline ?? Date.now() + this.timeoutMs;
    return Promise.all(
      [...this.shards.keys()].map(async (name) => {
        const { response, address } = await this.callShard(
          name,
          (client) => client.describeTables({ model }, { deadline, metadata: settings.metadata }),
          deadline,
        );
        return { shard: name, address, tables: response.tables };
      }),
    );
  }

  close(): void {
    for (const shard of this.shards.values())
      for (const replica of shard.replicas) replica.client.close();
  }

  /**
   * The same call to several shards in parallel, all answering from ONE version of the model.
   * When they differ (an activation rolling over the shards) the calls are sent once more; if
   * they still differ, ABORTED: rows of different versions are never mixed.
   */
  private async oneVersionFromEvery<Res extends { version: string }>(
    model: string,
    shards: readonly string[],
    deadline: number,
    call: (shard: string, client: StoreClient) => Promise<Res>,
  ): Promise<Array<{ shard: string; address: string; response: Res }>> {
    for (let round = 1; ; round += 1) {
      const answers = await Promise.all(
        shards.map(async (shard) => {
          const { response, address } = await this.callShard(
            shard,
            (client) => call(shard, client),
            deadline,
          );
          return { shard, address, response };
        }),
      );
      if (new Set(answers.map((a) => a.response.version)).size <= 1) return answers;
      const seen = answers.map((a) => `${a.shard}: ${a.response.version}`).join(', ');
      const delay = backoffMs(this.retry, 1);
      if (round >= 2 || Date.now() + delay >= deadline)
        throw new ShardedStoreError(
          status.ABORTED,
          `model "${model}": shards answered from different versions (${seen}); rows of different versions are never mixed. Activate the same version on every shard`,
        );
      await sleep(delay);
    }
  }

  /**
   * One call to one shard: the next replica in round robin; on UNAVAILABLE the next one at once,
   * and after every replica failed a jittered backoff before the next round, within the deadline.
   */
  private async callShard<Res>(
    name: string,
    call: (client: StoreClient) => Promise<Res>,
    deadline: number,
  ): Promise<{ response: Res; address: string }> {
    const shard = this.shards.get(name);
    if (shard === undefined)
      throw new ShardedStoreError(status.INTERNAL, `shard "${name}" is not in the shard map`);
    const order = shard.order(Date.now());
    const attempts = Math.max(this.retry.attempts, order.length);
    for (let attempt = 1; ; attempt += 1) {
      const replica = order[(attempt - 1) % order.length] as Replica;
      try {
        return { response: await call(replica.client), address: replica.address };
      } catch (err) {
        const unavailable = isServiceError(err) && err.code === status.UNAVAILABLE;
        if (unavailable) replica.downUntil = Date.now() + this.cooldownMs;
        const delay =
          attempt % order.length === 0 ? backoffMs(this.retry, attempt / order.length) : 0;
        if (!unavailable || attempt >= attempts || Date.now() + delay >= deadline)
          throw shardFailure(err, name, replica.address);
        if (delay > 0) await sleep(delay);
      }
    }
  }

  private merge(
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
}

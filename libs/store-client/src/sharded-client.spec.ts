import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { common, store } from '@embpress/proto';
import {
  InvalidArgumentError,
  ServiceHost,
  UnavailableError,
  type Handlers,
  type UnaryHandler,
} from '@embpress/service-kit';
import { lookupStreamServer } from './lookup-stream-envelope';
import { ShardRouter, type ShardMap } from './shard-map';
import {
  mergeTopK,
  planBatch,
  planTable,
  scatterRows,
  ShardedStoreClient,
  ShardedStoreError,
  type TablePlan,
} from './sharded-client';

const rows3 = {
  kind: 'rows' as const,
  ranges: [
    { shard: 'a', start: 0, end: 10 },
    { shard: 'b', start: 10, end: 20 },
    { shard: 'c', start: 20, end: 30 },
  ],
};
const router = new ShardRouter({
  shards: ['a', 'b', 'c'].map((name, i) => ({ name, addresses: [`h:${i + 1}`] })),
  tables: [
    { model: 'm', table: 'sparse', placement: rows3 },
    { model: 'm', table: 'side', placement: { kind: 'table', shard: 'b' } },
  ],
});

function caught(fn: () => unknown): ShardedStoreError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ShardedStoreError) return err;
    throw err;
  }
  throw new Error('expected a ShardedStoreError');
}

/** A small LCG, so the property test below is the same on every run. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('planTable', () => {
  it('splits ids by row range, subtracts the range start and sends each id once', () => {
    const plan = planTable(router, 'm', 'sparse', [25, 3, 10, 3, 29, 9, 25, 20, 19, 0], 'ids');
    expect(plan.parts).toEqual([
      { shard: 'c', ids: [5, 9, 0] },
      { shard: 'a', ids: [3, 9, 0] },
      { shard: 'b', ids: [0, 9] },
    ]);
    expect(Array.from(plan.partOf)).toEqual([0, 1, 2, 1, 0, 1, 0, 0, 2, 1]);
    expect(Array.from(plan.rowOf)).toEqual([0, 0, 0, 0, 1, 1, 0, 2, 1, 2]);
    expect(plan.count).toBe(10);
  });

  it('keeps global ids for a table placed whole on one shard', () => {
    const plan = planTable(router, 'm', 'side', Uint32Array.from([7, 7, 123456]), 'ids');
    expect(plan.parts).toEqual([{ shard: 'b', ids: [7, 123456] }]);
    expect(Array.from(plan.rowOf)).toEqual([0, 0, 1]);
  });

  it('refuses ids past the last range (naming table and position), bad ids and unplaced tables', () => {
    const past = caught(() => planTable(router, 'm', 'sparse', [1, 30], 'tables[1].ids'));
    expect(past.code).toBe(status.INVALID_ARGUMENT);
    expect(past.details).toBe(
      'tables[1].ids[1]: id 30 is out of range for table "sparse" (rows [0, 30))',
    );
    expect(caught(() => planTable(router, 'm', 'side', [1, -2], 'ids')).details).toBe(
      'ids[1]: must be an integer in [0, 4294967295], got -2',
    );
    expect(caught(() => planTable(router, 'm', 'side', [1.5], 'ids')).code).toBe(
      status.INVALID_ARGUMENT,
    );
    expect(caught(() => planTable(router, 'm', 'side', [], 'ids')).details).toBe(
      'ids: must not be empty',
    );
    const unplaced = caught(() => planTable(router, 'm', 'other', [1], 'ids'));
    expect(unplaced.code).toBe(status.NOT_FOUND);
    expect(unplaced.details).toContain('table "other" of model "m" is not in the shard map');
  });
});

describe('planBatch', () => {
  it('groups the parts of every table into one request per shard, in request order', () => {
    const plan = planBatch(router, 'm', [
      { table: 'side', ids: [4] },
      { table: 'sparse', ids: [15, 2, 15] },
    ]);
    expect(Object.fromEntries(plan.byShard)).toEqual({
      b: [
        { table: 'side', ids: [4] },
        { table: 'sparse', ids: [5] },
      ],
      a: [{ table: 'sparse', ids: [2] }],
    });
  });

  it('refuses an empty batch and a table asked twice', () => {
    expect(caught(() => planBatch(router, 'm', [])).details).toBe('tables: must not be empty');
    expect(
      caught(() =>
        planBatch(router, 'm', [
          { table: 'side', ids: [1] },
          { table: 'side', ids: [2] },
        ]),
      ).details,
    ).toBe('tables[1].table: "side" appears twice');
  });
});

describe('scatterRows', () => {
  it('puts back, in request order, exactly the rows an unsharded table gives (random ranges and ids)', () => {
    const random = lcg(7);
    for (let trial = 0; trial < 50; trial += 1) {
      const dim = 1 + Math.floor(random() * 5);
      const rows = 1 + Math.floor(random() * 200);
      const global = Float32Array.from({ length: rows * dim }, () => random() - 0.5);
      // Random contiguous ranges over [0, rows), one shard each.
      const cuts = [
        ...new Set([0, rows, ...Array.from({ length: 4 }, () => Math.floor(random() * rows))]),
      ].sort((x, y) => x - y);
      const ranges = cuts
        .slice(1)
        .map((end, i) => ({ shard: `s${i}`, start: cuts[i] as number, end }));
      const map: ShardMap = {
        shards: ranges.map((r) => ({ name: r.shard, addresses: ['h:1'] })),
        tables: [{ model: 'm', table: 't', placement: { kind: 'rows', ranges } }],
      };
      const ids = Array.from({ length: 1 + Math.floor(random() * 300) }, () =>
        Math.floor(random() * rows),
      );
      const plan: TablePlan = planTable(new ShardRouter(map), 'm', 't', ids, 'ids');
      // What each shard's store returns: its slice of the table, gathered at the local ids.
      const partRows = plan.parts.map((part) => {
        const range = ranges.find((r) => r.shard === part.shard) as { start: number; end: number };
        expect(new Set(part.ids).size).toBe(part.ids.length);
        const slice = global.subarray(range.start * dim, range.end * dim);
        const out = new Float32Array(part.ids.length * dim);
        part.ids.forEach((local, k) =>
          out.set(slice.subarray(local * dim, (local + 1) * dim), k * dim),
        );
        return out;
      });
      const expected = new Float32Array(ids.length * dim);
      ids.forEach((id, k) => expected.set(global.subarray(id * dim, (id + 1) * dim), k * dim));
      expect(scatterRows(plan, partRows, dim)).toEqual(expected);
    }
  });

  it('refuses a part whose row count does not match what was asked', () => {
    const plan = planTable(router, 'm', 'side', [1, 2], 'ids');
    expect(() => scatterRows(plan, [new Float32Array(3)], 2)).toThrow(RangeError);
  });
});

describe('mergeTopK', () => {
  it("keeps the best k of every shard's hits, by metric, ties to the lower id", () => {
    const lists = [
      { ids: [3, 1, 7], scores: [0.9, 0.5, 0.1] },
      { ids: [12, 10], scores: [0.7, 0.5] },
      { ids: [], scores: [] },
    ];
    expect(mergeTopK(lists, 4, false)).toEqual({
      ids: [3, 12, 1, 10],
      scores: [0.9, 0.7, 0.5, 0.5],
    });
    expect(mergeTopK(lists, 10, false).ids).toEqual([3, 12, 1, 10, 7]);
    const l2 = [
      { ids: [4, 2], scores: [0.1, 2] },
      { ids: [11, 15], scores: [0.05, 0.1] },
    ];
    expect(mergeTopK(l2, 3, true)).toEqual({ ids: [11, 4, 15], scores: [0.05, 0.1, 0.1] });
  });
});

// ---- the client against small stores on 127.0.0.1:0 ------------------------------------------

const DIM = 3;

interface FakeShard {
  host: ServiceHost;
  /** Ids received by each BatchLookup, per table. */
  received: Array<Record<string, number[]>>;
  version: string;
  /** Versions to answer from before `version` (an activation reaching this shard). */
  nextVersions: string[];
  failNext: number;
}

/**
 * A store holding rows [start, start + rows) of a table whose row g is (g, g + 0.5, -g) in fp32:
 * enough to check that every row comes back from the right shard at the right place.
 */
async function startShard(start: number, rows: number, version: string): Promise<FakeShard> {
  const shard: FakeShard = {
    host: new ServiceHost({
      name: 'fake-shard',
      logger: pino({ level: 'silent' }),
      config: { host: '127.0.0.1', port: 0, tls: {}, shutdownGraceMs: 500, maxInFlight: 64 },
    }),
    received: [],
    version,
    nextVersions: [],
    failNext: 0,
  };
  const notUsed = async (): Promise<never> => {
    throw new Error('not used');
  };
  const batchLookup: UnaryHandler<store.BatchLookupRequest, store.BatchLookupResponse> = async (
    request,
  ) => {
    if (shard.failNext > 0) {
      shard.failNext -= 1;
      throw new UnavailableError('restarting');
    }
    shard.received.push(Object.fromEntries(request.tables.map((t) => [t.table, t.ids])));
    return {
      model: request.model,
      version: request.version || (shard.nextVersions.shift() ?? shard.version),
      tables: request.tables.map((t, i) => {
        const out = new Float32Array(t.ids.length * DIM);
        t.ids.forEach((local, k) => {
          if (local >= rows)
            throw new InvalidArgumentError(`tables[${i}].ids[${k}]`, `id ${local} is out of range`);
          const g = start + local;
          out.set([g, g + 0.5, -g], k * DIM);
        });
        return {
          table: t.table,
          rows: {
            encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
            dim: DIM,
            count: t.ids.length,
            data: Buffer.from(out.buffer),
            codec: '',
          },
        };
      }),
    };
  };
  const handlers: Handlers<store.EmbeddingStoreServiceServer> = {
    batchLookup,
    lookupStream: lookupStreamServer(batchLookup),
    lookup: notUsed,
    search: notUsed,
    describeTables: async () => ({
      tables: [
        store.TableInfo.fromPartial({
          model: 'm',
          table: 't',
          rows,
          dim: DIM,
          version: shard.version,
        }),
      ],
    }),
    loadVersion: notUsed,
    activateVersion: notUsed,
  };
  shard.host.addService<store.EmbeddingStoreServiceServer>(
    store.EmbeddingStoreServiceService,
    handlers,
  );
  await shard.host.start();
  shard.host.markServing();
  return shard;
}

const expectedRows = (ids: number[]) => Float32Array.from(ids.flatMap((g) => [g, g + 0.5, -g]));

describe('ShardedStoreClient', () => {
  let a: FakeShard;
  let b1: FakeShard;
  let b2: FakeShard;
  let client: ShardedStoreClient;
  // Nothing listens on port 1: a replica that is down.
  const DEAD = '127.0.0.1:1';

  beforeAll(async () => {
    [a, b1, b2] = await Promise.all([
      startShard(0, 100, 'v1'),
      startShard(100, 50, 'v1'),
      startShard(100, 50, 'v1'),
    ]);
    const map: ShardMap = {
      shards: [
        { name: 'a', addresses: [a.host.address] },
        { name: 'b', addresses: [b1.host.address, DEAD, b2.host.address] },
      ],
      tables: [
        {
          model: 'm',
          table: 't',
          placement: {
            kind: 'rows',
            ranges: [
              { shard: 'a', start: 0, end: 100 },
              { shard: 'b', start: 100, end: 150 },
            ],
          },
        },
      ],
      defaultShard: 'a',
    };
    client = new ShardedStoreClient(map, {
      tls: {},
      timeoutMs: 3000,
      retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    });
  });
  afterAll(async () => {
    client.close();
    await Promise.all([a, b1, b2].map((s) => s.host.shutdown()));
  });
  beforeEach(() => {
    for (const s of [a, b1, b2]) {
      s.received = [];
      s.version = 'v1';
      s.nextVersions = [];
      s.failNext = 0;
    }
  });

  it('fans out one call per shard, sends unique local ids, merges rows back in request order', async () => {
    const ids = [149, 0, 99, 100, 0, 149, 120, 5, 100];
    const result = await client.batchLookup({ model: 'm', tables: [{ table: 't', ids }] });
    expect(result.version).toBe('v1');
    expect(result.tables).toHaveLength(1);
    expect(result.tables[0]).toMatchObject({ table: 't', dim: DIM, count: ids.length });
    expect(result.tables[0]?.rows).toEqual(expectedRows(ids));
    expect(a.received).toEqual([{ t: [0, 99, 5] }]);
    expect([...b1.received, ...b2.received]).toEqual([{ t: [49, 0, 20] }]);
    expect(result.shards.map((s) => s.shard).sort()).toEqual(['a', 'b']);
  });

  it('balances over the replicas of a shard and passes over the one that is down', async () => {
    const answered = new Set<string>();
    for (let i = 0; i < 12; i += 1) {
      const result = await client.lookup({ model: 'm', table: 't', ids: [100 + i] });
      expect(result.rows).toEqual(expectedRows([100 + i]));
      answered.add(result.shards[0]?.address ?? '');
    }
    expect(answered).toEqual(new Set([b1.host.address, b2.host.address]));
    expect(b1.received.length).toBeGreaterThanOrEqual(4);
    expect(b2.received.length).toBeGreaterThanOrEqual(4);
  });

  it('moves on to the next replica when one answers UNAVAILABLE', async () => {
    b1.failNext = 100;
    for (let i = 0; i < 6; i += 1) {
      const result = await client.lookup({ model: 'm', table: 't', ids: [140] });
      expect(result.rows).toEqual(expectedRows([140]));
    }
    expect(b1.received).toEqual([]);
  });

  it('fails with the shard named when every replica is down', async () => {
    b1.failNext = 100;
    b2.failNext = 100;
    const err = await client
      .lookup({ model: 'm', table: 't', ids: [1, 140] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardedStoreError);
    expect(err).toMatchObject({ code: status.UNAVAILABLE, shard: 'b' });
    expect((err as ShardedStoreError).details).toMatch(/^shard "b" \(127\.0\.0\.1:\d+\): /);
  });

  it("passes a shard's own error on with the shard's name", async () => {
    // A table the map does not list goes whole to the default shard a, which holds 100 rows:
    // its own INVALID_ARGUMENT comes back, with its name in front.
    const err = await client
      .lookup({ model: 'm', table: 'unlisted', ids: [3, 100] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, shard: 'a' });
    expect((err as ShardedStoreError).details).toBe(
      `shard "a" (${a.host.address}): tables[0].ids[1]: id 100 is out of range`,
    );
  });

  it('retries once when shards answer different versions, then fails with ABORTED', async () => {
    b1.version = 'v2';
    b2.version = 'v2';
    const err = await client
      .batchLookup({ model: 'm', tables: [{ table: 't', ids: [1, 101] }] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.ABORTED });
    expect((err as ShardedStoreError).details).toContain('a: v1');
    expect((err as ShardedStoreError).details).toContain('b: v2');
    expect(a.received).toHaveLength(2);

    // v2 reaches shard a between the two tries: the second one succeeds with one version.
    a.received = [];
    a.version = 'v2';
    a.nextVersions = ['v1'];
    const result = await client.batchLookup({
      model: 'm',
      tables: [{ table: 't', ids: [1, 101] }],
    });
    expect(result.version).toBe('v2');
    expect(a.received).toHaveLength(2);
    expect(result.tables[0]?.rows).toEqual(expectedRows([1, 101]));
  });

  it('asks every shard for a pinned version', async () => {
    b1.version = 'v2';
    b2.version = 'v2';
    const result = await client.batchLookup({
      model: 'm',
      version: 'v7',
      tables: [{ table: 't', ids: [1, 101] }],
    });
    expect(result.version).toBe('v7');
    expect(result.shards.map((s) => s.version)).toEqual(['v7', 'v7']);
  });

  it('refuses out-of-range ids before calling any shard, and honours the deadline', async () => {
    const err = await client
      .lookup({ model: 'm', table: 't', ids: [1, 150] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'tables[0].ids[1]: id 150 is out of range for table "t" (rows [0, 150))',
    });
    expect(a.received).toEqual([]);
    const late = await client
      .lookup({ model: 'm', table: 't', ids: [1] }, { deadline: Date.now() - 1 })
      .catch((e: unknown) => e);
    expect(late).toMatchObject({ code: status.DEADLINE_EXCEEDED, shard: 'a' });
  });

  it('describes the tables of every shard', async () => {
    const described = await client.describeTables('m');
    expect(described.map((d) => [d.shard, d.tables[0]?.rows])).toEqual([
      ['a', 100],
      ['b', 50],
    ]);
  });

  it('serves a plain address through the same interface', async () => {
    const single = ShardedStoreClient.create({ address: a.host.address, tls: {}, timeoutMs: 2000 });
    try {
      const result = await single.lookup({ model: 'm', table: 'anything', ids: [7, 7, 3] });
      expect(result.rows).toEqual(expectedRows([7, 7, 3]));
      expect(a.received).toEqual([{ anything: [7, 3] }]);
    } finally {
      single.close();
    }
  });
});

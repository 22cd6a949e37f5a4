// The store over real gRPC on 127.0.0.1:0: every RPC validates its request before anything else.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { common, store } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { healthStatus } from '@embpress/service-kit/testing';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHalf, registry, SparseOptimizer, type CompressedTable } from '@embpress/compression';
import { ModelRegistryDir } from '@embpress/model-registry';
import { decodeRows } from '@embpress/store-client';
import { loadStoreConfig } from '../config';
import { startStore } from '../main';
import { countDistinct } from './lookup';

const shape = { fields: [30, 10], dim: 4 };

/** Publishes a `full` table version of model ctr (as the trainer will) and returns the table. */
function publish(root: string, version: string, seed: number): CompressedTable {
  const { method, params } = registry.resolve('full');
  if (method.kind !== 'trainable') throw new Error('unexpected');
  const table = method
    .createTrainable(shape, params, {
      seed,
      optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }),
    })
    .toTable();
  new ModelRegistryDir(root).writeVersion({
    model: 'ctr',
    version,
    tables: [
      {
        name: 'sparse',
        method: table.method,
        spec: table.spec,
        rows: table.rows,
        dim: table.dim,
        memoryBytes: table.memoryBytes(),
        bytes: table.encode(),
      },
    ],
  });
  return table;
}

function rowsOf(table: CompressedTable, ids: number[]): number[] {
  const out = new Float32Array(ids.length * table.dim);
  table.lookup(Uint32Array.from(ids), out);
  return Array.from(out);
}

type Call<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

describe('EmbeddingStoreService', () => {
  let running: RunningService;
  let client: store.EmbeddingStoreServiceClient;
  let root: string;
  let v1: CompressedTable;
  let v2: CompressedTable;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embpress-store-rpc-'));
    v1 = publish(root, 'v1', 1);
    v2 = publish(root, 'v2', 2);
    const config = loadStoreConfig({
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_MAX_IDS_PER_REQUEST: '100',
      EMBPRESS_STORE_ADMIN_TOKEN: 's3cret',
      EMBPRESS_STORE_REGISTRY_ROOT: root,
    });
    running = await startStore(config, pino({ level: 'silent' }));
    client = new store.EmbeddingStoreServiceClient(running.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await running.stop();
    rmSync(root, { recursive: true, force: true });
  });

  function call<Req, Res>(
    method: Call<Req, Res>,
    request: Req,
    metadata = new Metadata(),
  ): Promise<ServiceError> {
    return new Promise((resolve, reject) =>
      method.call(client, request, metadata, { deadline: Date.now() + 5000 }, (err) =>
        err ? resolve(err) : reject(new Error('expected an error')),
      ),
    );
  }
  function succeed<Req, Res>(
    method: Call<Req, Res>,
    request: Req,
    metadata = admin(),
  ): Promise<Res> {
    return new Promise((resolve, reject) =>
      method.call(client, request, metadata, { deadline: Date.now() + 5000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }
  function admin(): Metadata {
    const md = new Metadata();
    md.set('authorization', 'Bearer s3cret');
    return md;
  }
  const expectStatus = async (
    pending: Promise<ServiceError>,
    code: status,
    details: string | RegExp,
  ) => {
    const err = await pending;
    expect({ code: err.code, details: err.details }).toEqual({
      code,
      details: expect.stringMatching(details),
    });
  };

  it('is SERVING', async () => {
    expect(await healthStatus(running.address, 'embpress.store.v1.EmbeddingStoreService')).toBe(
      'SERVING',
    );
  });

  it('Lookup validates model, table, ids and encoding', async () => {
    const ok = {
      model: 'ctr',
      table: 'C1',
      ids: [1, 2],
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT16_LE,
      version: '',
    };
    await expectStatus(
      call(client.lookup, { ...ok, model: '' }),
      status.INVALID_ARGUMENT,
      /^model: is required$/,
    );
    await expectStatus(
      call(client.lookup, { ...ok, table: 'a/b' }),
      status.INVALID_ARGUMENT,
      /^table: must be/,
    );
    await expectStatus(
      call(client.lookup, { ...ok, ids: [] }),
      status.INVALID_ARGUMENT,
      /^ids: must not be empty$/,
    );
    await expectStatus(
      call(client.lookup, { ...ok, ids: new Array(101).fill(0) }),
      status.INVALID_ARGUMENT,
      /^ids: more than the limit of 100 ids in one request$/,
    );
    await expectStatus(
      call(client.lookup, { ...ok, encoding: 42 as common.RowEncoding }),
      status.INVALID_ARGUMENT,
      /^encoding: must be one of/,
    );
    await expectStatus(
      call(client.lookup, ok),
      status.NOT_FOUND,
      /model "ctr" has no active version/,
    );
  });

  it('BatchLookup validates every table entry and the total id count', async () => {
    const ok = {
      model: 'ctr',
      version: '',
      encoding: 0,
      tables: [
        { table: 'C1', ids: [1] },
        { table: 'C2', ids: [2] },
      ],
    };
    await expectStatus(
      call(client.batchLookup, { ...ok, tables: [] }),
      status.INVALID_ARGUMENT,
      /^tables: must not be empty$/,
    );
    await expectStatus(
      call(client.batchLookup, {
        ...ok,
        tables: [
          { table: 'C1', ids: [1] },
          { table: 'C1', ids: [2] },
        ],
      }),
      status.INVALID_ARGUMENT,
      /^tables\[1\]\.table: "C1" appears twice$/,
    );
    await expectStatus(
      call(client.batchLookup, { ...ok, tables: [{ table: 'C1', ids: [] }] }),
      status.INVALID_ARGUMENT,
      /^tables\[0\]\.ids: must not be empty$/,
    );
    const half = new Array(60).fill(1);
    await expectStatus(
      call(client.batchLookup, {
        ...ok,
        tables: [
          { table: 'C1', ids: half },
          { table: 'C2', ids: half },
        ],
      }),
      status.INVALID_ARGUMENT,
      /^tables\[1\]\.ids: more than the limit of 100 ids in one request$/,
    );
    await expectStatus(call(client.batchLookup, ok), status.NOT_FOUND, /has no active version/);
  });

  it('Search validates the query block, k and metric', async () => {
    const queries = {
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      dim: 2,
      count: 1,
      data: Buffer.from(new Float32Array([1, 0]).buffer),
      codec: '',
    };
    const ok = {
      model: 'docs',
      table: 'passages',
      queries,
      k: 10,
      metric: store.Metric.METRIC_L2,
      exactRerank: false,
      nprobe: 0,
      version: '',
    };
    await expectStatus(
      call(client.search, { ...ok, queries: undefined }),
      status.INVALID_ARGUMENT,
      /^queries: is required$/,
    );
    await expectStatus(
      call(client.search, { ...ok, queries: { ...queries, dim: 3 } }),
      status.INVALID_ARGUMENT,
      /^queries\.data: has 8 bytes, expected/,
    );
    await expectStatus(
      call(client.search, { ...ok, k: 0 }),
      status.INVALID_ARGUMENT,
      /^k: must be an integer in \[1, 1000\], got 0$/,
    );
    await expectStatus(
      call(client.search, { ...ok, metric: -5 as store.Metric }),
      status.INVALID_ARGUMENT,
      /^metric: must be one of/,
    );
    await expectStatus(
      call(client.search, ok),
      status.NOT_FOUND,
      /model "docs" has no active version/,
    );
  });

  it('admin RPCs require the bearer token when one is configured', async () => {
    await expectStatus(
      call(client.activateVersion, { model: 'ctr', version: 'v2' }),
      status.UNAUTHENTICATED,
      /bearer token/,
    );
    const wrong = new Metadata();
    wrong.set('authorization', 'Bearer nope');
    await expectStatus(
      call(client.loadVersion, { model: 'ctr', version: 'v2' }, wrong),
      status.UNAUTHENTICATED,
      /bearer token/,
    );
    const admin = new Metadata();
    admin.set('authorization', 'Bearer s3cret');
    await expectStatus(
      call(client.loadVersion, { model: 'ctr', version: '' }, admin),
      status.INVALID_ARGUMENT,
      /^version: is required$/,
    );
    await expectStatus(
      call(client.activateVersion, { model: 'ctr', version: 'v2' }, admin),
      status.NOT_FOUND,
      /ctr\/v2 is not loaded: LoadVersion first/,
    );
  });

  it('loads, activates and serves versions; every response names its version', async () => {
    const loaded = await succeed(client.loadVersion, { model: 'ctr', version: 'v1' });
    expect(loaded.tables[0]).toMatchObject({
      model: 'ctr',
      version: 'v1',
      table: 'sparse',
      method: 'full',
      rows: 40,
      dim: 4,
      memoryBytes: 640,
      bytesPerRow: 16,
      active: false,
    });
    expect(loaded.tables[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(
      (await succeed(client.activateVersion, { model: 'ctr', version: 'v1' })).previousVersion,
    ).toBe('');

    const f32 = await succeed(client.lookup, {
      model: 'ctr',
      table: 'sparse',
      ids: [3, 39, 3],
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      version: '',
    });
    expect(f32.version).toBe('v1');
    expect(f32.rows).toMatchObject({
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      dim: 4,
      count: 3,
    });
    const data = f32.rows?.data as Buffer;
    expect(
      Array.from(
        new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
      ),
    ).toEqual(rowsOf(v1, [3, 39, 3]));

    const f16 = await succeed(client.lookup, {
      model: 'ctr',
      table: 'sparse',
      ids: [5],
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT16_LE,
      version: '',
    });
    const halves = f16.rows?.data as Buffer;
    const decoded = Array.from({ length: 4 }, (_, j) => fromHalf(halves.readUInt16LE(j * 2)));
    rowsOf(v1, [5]).forEach((v, j) =>
      expect(Math.abs((decoded[j] as number) - v)).toBeLessThanOrEqual(Math.abs(v) * 1e-3 + 1e-7),
    );

    await expectStatus(
      call(client.lookup, {
        model: 'ctr',
        table: 'sparse',
        ids: [1, 40],
        encoding: 0,
        version: '',
      }),
      status.INVALID_ARGUMENT,
      /^ids\[1\]: id 40 is out of range for table "sparse" \(rows \[0, 40\)\)$/,
    );
    await expectStatus(
      call(client.lookup, { model: 'ctr', table: 'dense', ids: [1], encoding: 0, version: '' }),
      status.NOT_FOUND,
      /table "dense" not found in ctr\/v1/,
    );
    await expectStatus(
      call(client.lookup, {
        model: 'ctr',
        table: 'sparse',
        ids: [1],
        encoding: common.RowEncoding.ROW_ENCODING_CODES,
        version: '',
      }),
      status.INVALID_ARGUMENT,
      /has no compressed wire codes/,
    );

    await succeed(client.loadVersion, { model: 'ctr', version: 'v2' });
    expect(
      (await succeed(client.activateVersion, { model: 'ctr', version: 'v2' })).previousVersion,
    ).toBe('v1');
    const batch = await succeed(client.batchLookup, {
      model: 'ctr',
      version: '',
      encoding: 0,
      tables: [{ table: 'sparse', ids: [0, 1] }],
    });
    expect(batch.version).toBe('v2');
    const b = batch.tables[0]?.rows?.data as Buffer;
    expect(
      Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))),
    ).toEqual(rowsOf(v2, [0, 1]));
    await expectStatus(
      call(client.batchLookup, {
        model: 'ctr',
        version: '',
        encoding: 0,
        tables: [
          { table: 'sparse', ids: [0] },
          { table: 'other', ids: [0] },
        ],
      }),
      status.NOT_FOUND,
      /table "other"/,
    );

    const described = await succeed(client.describeTables, { model: 'ctr' });
    expect(described.tables.map((t) => [t.version, t.active])).toEqual([['v2', true]]);
    await expectStatus(
      call(client.describeTables, { model: 'nope' }),
      status.NOT_FOUND,
      /model "nope" has no loaded version/,
    );
    await expectStatus(
      call(client.search, {
        model: 'ctr',
        table: 'sparse',
        k: 1,
        metric: 0,
        exactRerank: false,
        nprobe: 0,
        version: '',
        queries: { encoding: 1, dim: 4, count: 1, data: Buffer.alloc(16), codec: '' },
      }),
      status.FAILED_PRECONDITION,
      /does not support Search/,
    );
  });

  it('refuses a corrupt version with DATA_LOSS and keeps serving the active one', async () => {
    publish(root, 'v3', 3);
    writeFileSync(join(root, 'ctr', 'v3', 'tables', 'sparse.emb'), 'not an artifact');
    await expectStatus(
      call(client.loadVersion, { model: 'ctr', version: 'v3' }, admin()),
      status.DATA_LOSS,
      /SHA-256 mismatch|bytes, manifest says/,
    );
    await expectStatus(
      call(client.loadVersion, { model: 'ctr', version: 'v9' }, admin()),
      status.NOT_FOUND,
      /no manifest.json/,
    );
    const still = await succeed(client.lookup, {
      model: 'ctr',
      table: 'sparse',
      ids: [0],
      encoding: 0,
      version: '',
    });
    expect(still.version).toBe('v2');
  });

  it('sends compressed codes the client decodes to exactly the served rows, and searches them', async () => {
    const { method, params } = registry.resolve('rowwise-int8');
    if (method.kind !== 'codec') throw new Error('unexpected');
    const data = new Float32Array(50 * 8).map((_, i) => Math.sin(i * 0.37));
    const table = method.compress(data, { fields: [50], dim: 8 }, params, { seed: 1 });
    new ModelRegistryDir(root).writeVersion({
      model: 'docs',
      version: 'q1',
      tables: [
        {
          name: 'passages',
          method: table.method,
          spec: table.spec,
          rows: 50,
          dim: 8,
          memoryBytes: table.memoryBytes(),
          bytes: table.encode(),
        },
      ],
    });
    await succeed(client.loadVersion, { model: 'docs', version: 'q1' });
    await succeed(client.activateVersion, { model: 'docs', version: 'q1' });
    const ids = [4, 49, 0, 4];
    const codes = await succeed(client.lookup, {
      model: 'docs',
      table: 'passages',
      ids,
      encoding: common.RowEncoding.ROW_ENCODING_CODES,
      version: '',
    });
    expect(codes.rows).toMatchObject({
      encoding: common.RowEncoding.ROW_ENCODING_CODES,
      codec: 'rowwise-int8',
      count: 4,
      dim: 8,
    });
    expect((codes.rows?.data as Buffer).length).toBeLessThan((4 * 8 * 4) / 2); // 8 codes + 4 bytes of scale/bias per row
    expect(Array.from(decodeRows(codes.rows as common.VectorBlock))).toEqual(rowsOf(table, ids));

    const query = new Float32Array(data.subarray(13 * 8, 14 * 8));
    const found = await succeed(client.search, {
      model: 'docs',
      table: 'passages',
      k: 3,
      metric: store.Metric.METRIC_L2,
      exactRerank: false,
      nprobe: 0,
      version: '',
      queries: {
        encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
        dim: 8,
        count: 1,
        data: Buffer.from(query.buffer),
        codec: '',
      },
    });
    expect(found.version).toBe('q1');
    expect(found.results[0]?.ids[0]).toBe(13);
    expect(found.results[0]?.ids).toHaveLength(3);
    await expectStatus(
      call(client.search, {
        model: 'docs',
        table: 'passages',
        k: 3,
        metric: 0,
        exactRerank: false,
        nprobe: 0,
        version: '',
        queries: { encoding: 1, dim: 4, count: 1, data: Buffer.alloc(16), codec: '' },
      }),
      status.INVALID_ARGUMENT,
      /^queries\.dim: is 4, table "passages" has dim 8$/,
    );
  });

  it('serves the same version after a restart', async () => {
    const again = await startStore(
      loadStoreConfig({ EMBPRESS_STORE_PORT: '0', EMBPRESS_STORE_REGISTRY_ROOT: root }),
      pino({ level: 'silent' }),
    );
    const other = new store.EmbeddingStoreServiceClient(
      again.address,
      credentials.createInsecure(),
    );
    try {
      const res = await new Promise<store.LookupResponse>((resolve, reject) =>
        other.lookup(
          { model: 'ctr', table: 'sparse', ids: [7], encoding: 0, version: '' },
          (err, r) => (err ? reject(err) : resolve(r)),
        ),
      );
      expect(res.version).toBe('v2');
      const d = res.rows?.data as Buffer;
      expect(
        Array.from(new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength))),
      ).toEqual(rowsOf(v2, [7]));
    } finally {
      other.close();
      await again.stop();
    }
  });
});

describe('countDistinct (the unique-ids span attribute)', () => {
  it('counts what a Set counts, for small, scratch-sized and larger requests', () => {
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (const [count, range] of [
      [0, 1],
      [1, 1],
      [5, 3],
      [512, 1_000_000],
      [2048, 1500],
      [5000, 2 ** 32 - 1],
    ] as const) {
      const ids = Uint32Array.from({ length: count }, () => next() % range);
      expect(countDistinct(ids)).toBe(new Set(ids).size);
    }
  });
});

// The store over real gRPC on 127.0.0.1:0: every RPC validates its request before anything else.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { common, store } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { healthStatus } from '@embpress/service-kit/testing';
import { loadStoreConfig } from '../config';
import { startStore } from '../main';

type Call<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

describe('EmbeddingStoreService', () => {
  let running: RunningService;
  let client: store.EmbeddingStoreServiceClient;

  beforeAll(async () => {
    const config = loadStoreConfig({
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_MAX_IDS_PER_REQUEST: '100',
      EMBPRESS_STORE_ADMIN_TOKEN: 's3cret',
    });
    running = await startStore(config, pino({ level: 'silent' }));
    client = new store.EmbeddingStoreServiceClient(running.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await running.stop();
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
      /^ids: has 101 entries, more than the limit of 100$/,
    );
    await expectStatus(
      call(client.lookup, { ...ok, encoding: 42 as common.RowEncoding }),
      status.INVALID_ARGUMENT,
      /^encoding: must be one of/,
    );
    await expectStatus(call(client.lookup, ok), status.UNIMPLEMENTED, /embedding-store issue #5/);
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
      /all tables\): has 120 entries/,
    );
    await expectStatus(call(client.batchLookup, ok), status.UNIMPLEMENTED, /BatchLookup/);
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
    await expectStatus(call(client.search, ok), status.UNIMPLEMENTED, /Search/);
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
      status.UNIMPLEMENTED,
      /ActivateVersion/,
    );
  });
});

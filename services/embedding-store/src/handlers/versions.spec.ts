// The store's versions over real gRPC on 127.0.0.1:0: health, the admin RPCs' bearer token,
// loading and activating versions (every response names its version), a corrupt version refused,
// and the active version served again after a restart. The tests run in order on one store.
import { credentials, Metadata, status } from '@grpc/grpc-js';
import pino from 'pino';
import { common, store } from '@embpress/proto';
import { healthStatus } from '@embpress/service-kit/testing';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHalf } from '@embpress/compression';
import { loadStoreConfig } from '../config';
import { startStore } from '../main';
import { admin, expectStatus, publish, rowsOf, useRpcStore } from './rpc-test-store';

describe('EmbeddingStoreService', () => {
  const rpc = useRpcStore();
  const { call, succeed } = rpc;

  it('is SERVING', async () => {
    expect(await healthStatus(rpc.running.address, 'embpress.store.v1.EmbeddingStoreService')).toBe(
      'SERVING',
    );
  });

  it('admin RPCs require the bearer token when one is configured', async () => {
    await expectStatus(
      call(rpc.client.activateVersion, { model: 'ctr', version: 'v2' }),
      status.UNAUTHENTICATED,
      /bearer token/,
    );
    const wrong = new Metadata();
    wrong.set('authorization', 'Bearer nope');
    await expectStatus(
      call(rpc.client.loadVersion, { model: 'ctr', version: 'v2' }, wrong),
      status.UNAUTHENTICATED,
      /bearer token/,
    );
    const admin = new Metadata();
    admin.set('authorization', 'Bearer s3cret');
    await expectStatus(
      call(rpc.client.loadVersion, { model: 'ctr', version: '' }, admin),
      status.INVALID_ARGUMENT,
      /^version: is required$/,
    );
    await expectStatus(
      call(rpc.client.activateVersion, { model: 'ctr', version: 'v2' }, admin),
      status.NOT_FOUND,
      /ctr\/v2 is not loaded: LoadVersion first/,
    );
  });

  it('loads, activates and serves versions; every response names its version', async () => {
    const loaded = await succeed(rpc.client.loadVersion, { model: 'ctr', version: 'v1' });
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
      (await succeed(rpc.client.activateVersion, { model: 'ctr', version: 'v1' })).previousVersion,
    ).toBe('');

    const f32 = await succeed(rpc.client.lookup, {
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
    ).toEqual(rowsOf(rpc.v1, [3, 39, 3]));

    const f16 = await succeed(rpc.client.lookup, {
      model: 'ctr',
      table: 'sparse',
      ids: [5],
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT16_LE,
      version: '',
    });
    const halves = f16.rows?.data as Buffer;
    const decoded = Array.from({ length: 4 }, (_, j) => fromHalf(halves.readUInt16LE(j * 2)));
    rowsOf(rpc.v1, [5]).forEach((v, j) =>
      expect(Math.abs((decoded[j] as number) - v)).toBeLessThanOrEqual(Math.abs(v) * 1e-3 + 1e-7),
    );

    await expectStatus(
      call(rpc.client.lookup, {
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
      call(rpc.client.lookup, { model: 'ctr', table: 'dense', ids: [1], encoding: 0, version: '' }),
      status.NOT_FOUND,
      /table "dense" not found in ctr\/v1/,
    );
    await expectStatus(
      call(rpc.client.lookup, {
        model: 'ctr',
        table: 'sparse',
        ids: [1],
        encoding: common.RowEncoding.ROW_ENCODING_CODES,
        version: '',
      }),
      status.INVALID_ARGUMENT,
      /has no compressed wire codes/,
    );

    await succeed(rpc.client.loadVersion, { model: 'ctr', version: 'v2' });
    expect(
      (await succeed(rpc.client.activateVersion, { model: 'ctr', version: 'v2' })).previousVersion,
    ).toBe('v1');
    const batch = await succeed(rpc.client.batchLookup, {
      model: 'ctr',
      version: '',
      encoding: 0,
      tables: [{ table: 'sparse', ids: [0, 1] }],
    });
    expect(batch.version).toBe('v2');
    const b = batch.tables[0]?.rows?.data as Buffer;
    expect(
      Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))),
    ).toEqual(rowsOf(rpc.v2, [0, 1]));
    await expectStatus(
      call(rpc.client.batchLookup, {
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

    const described = await succeed(rpc.client.describeTables, { model: 'ctr' });
    expect(described.tables.map((t) => [t.version, t.active])).toEqual([['v2', true]]);
    await expectStatus(
      call(rpc.client.describeTables, { model: 'nope' }),
      status.NOT_FOUND,
      /model "nope" has no loaded version/,
    );
    await expectStatus(
      call(rpc.client.search, {
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
    publish(rpc.root, 'v3', 3);
    writeFileSync(join(rpc.root, 'ctr', 'v3', 'tables', 'sparse.emb'), 'not an artifact');
    await expectStatus(
      call(rpc.client.loadVersion, { model: 'ctr', version: 'v3' }, admin()),
      status.DATA_LOSS,
      /SHA-256 mismatch|bytes, manifest says/,
    );
    await expectStatus(
      call(rpc.client.loadVersion, { model: 'ctr', version: 'v9' }, admin()),
      status.NOT_FOUND,
      /no manifest.json/,
    );
    const still = await succeed(rpc.client.lookup, {
      model: 'ctr',
      table: 'sparse',
      ids: [0],
      encoding: 0,
      version: '',
    });
    expect(still.version).toBe('v2');
  });

  it('serves the same version after a restart', async () => {
    const again = await startStore(
      loadStoreConfig({ EMBPRESS_STORE_PORT: '0', EMBPRESS_STORE_REGISTRY_ROOT: rpc.root }),
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
      ).toEqual(rowsOf(rpc.v2, [7]));
    } finally {
      other.close();
      await again.stop();
    }
  });
});

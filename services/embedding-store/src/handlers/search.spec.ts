// Search over real gRPC on 127.0.0.1:0: it validates its request before anything else, and
// searches a compressed table whose wire codes the client decodes to exactly the served rows.
import { status } from '@grpc/grpc-js';
import { common, store } from '@embpress/proto';
import { registry } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { decodeRows } from '@embpress/store-client';
import { expectStatus, rowsOf, useRpcStore } from './rpc-test-store';

describe('EmbeddingStoreService', () => {
  const rpc = useRpcStore();
  const { call, succeed } = rpc;

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
      call(rpc.client.search, { ...ok, queries: undefined }),
      status.INVALID_ARGUMENT,
      /^queries: is required$/,
    );
    await expectStatus(
      call(rpc.client.search, { ...ok, queries: { ...queries, dim: 3 } }),
      status.INVALID_ARGUMENT,
      /^queries\.data: has 8 bytes, expected/,
    );
    await expectStatus(
      call(rpc.client.search, { ...ok, k: 0 }),
      status.INVALID_ARGUMENT,
      /^k: must be an integer in \[1, 1000\], got 0$/,
    );
    await expectStatus(
      call(rpc.client.search, { ...ok, metric: -5 as store.Metric }),
      status.INVALID_ARGUMENT,
      /^metric: must be one of/,
    );
    await expectStatus(
      call(rpc.client.search, ok),
      status.NOT_FOUND,
      /model "docs" has no active version/,
    );
  });

  it('sends compressed codes the client decodes to exactly the served rows, and searches them', async () => {
    const { method, params } = registry.resolve('rowwise-int8');
    if (method.kind !== 'codec') throw new Error('unexpected');
    const data = new Float32Array(50 * 8).map((_, i) => Math.sin(i * 0.37));
    const table = method.compress(data, { fields: [50], dim: 8 }, params, { seed: 1 });
    new ModelRegistryDir(rpc.root).writeVersion({
      model: 'docs',
      version: 'q1',
      tables: [tableToWrite('passages', table)],
    });
    await succeed(rpc.client.loadVersion, { model: 'docs', version: 'q1' });
    await succeed(rpc.client.activateVersion, { model: 'docs', version: 'q1' });
    const ids = [4, 49, 0, 4];
    const codes = await succeed(rpc.client.lookup, {
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
    const found = await succeed(rpc.client.search, {
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
      call(rpc.client.search, {
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
});

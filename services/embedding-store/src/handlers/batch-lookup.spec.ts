// BatchLookup over real gRPC on 127.0.0.1:0: it validates its request before anything else.
import { status } from '@grpc/grpc-js';
import { expectStatus, useRpcStore } from './rpc-test-store';

describe('EmbeddingStoreService', () => {
  const rpc = useRpcStore();
  const { call } = rpc;

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
      call(rpc.client.batchLookup, { ...ok, tables: [] }),
      status.INVALID_ARGUMENT,
      /^tables: must not be empty$/,
    );
    await expectStatus(
      call(rpc.client.batchLookup, {
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
      call(rpc.client.batchLookup, { ...ok, tables: [{ table: 'C1', ids: [] }] }),
      status.INVALID_ARGUMENT,
      /^tables\[0\]\.ids: must not be empty$/,
    );
    const half = new Array(60).fill(1);
    await expectStatus(
      call(rpc.client.batchLookup, {
        ...ok,
        tables: [
          { table: 'C1', ids: half },
          { table: 'C2', ids: half },
        ],
      }),
      status.INVALID_ARGUMENT,
      /^tables\[1\]\.ids: more than the limit of 100 ids in one request$/,
    );
    await expectStatus(call(rpc.client.batchLookup, ok), status.NOT_FOUND, /has no active version/);
  });
});

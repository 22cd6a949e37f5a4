// Lookup over real gRPC on 127.0.0.1:0: it validates its request before anything else; and
// countDistinct, the unique-ids span attribute of a lookup.
import { status } from '@grpc/grpc-js';
import { common } from '@embpress/proto';
import { countDistinct } from './lookup';
import { expectStatus, useRpcStore } from './rpc-test-store';

describe('EmbeddingStoreService', () => {
  const rpc = useRpcStore();
  const { call } = rpc;

  it('Lookup validates model, table, ids and encoding', async () => {
    const ok = {
      model: 'ctr',
      table: 'C1',
      ids: [1, 2],
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT16_LE,
      version: '',
    };
    await expectStatus(
      call(rpc.client.lookup, { ...ok, model: '' }),
      status.INVALID_ARGUMENT,
      /^model: is required$/,
    );
    await expectStatus(
      call(rpc.client.lookup, { ...ok, table: 'a/b' }),
      status.INVALID_ARGUMENT,
      /^table: must be/,
    );
    await expectStatus(
      call(rpc.client.lookup, { ...ok, ids: [] }),
      status.INVALID_ARGUMENT,
      /^ids: must not be empty$/,
    );
    await expectStatus(
      call(rpc.client.lookup, { ...ok, ids: new Array(101).fill(0) }),
      status.INVALID_ARGUMENT,
      /^ids: more than the limit of 100 ids in one request$/,
    );
    await expectStatus(
      call(rpc.client.lookup, { ...ok, encoding: 42 as common.RowEncoding }),
      status.INVALID_ARGUMENT,
      /^encoding: must be one of/,
    );
    await expectStatus(
      call(rpc.client.lookup, ok),
      status.NOT_FOUND,
      /model "ctr" has no active version/,
    );
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

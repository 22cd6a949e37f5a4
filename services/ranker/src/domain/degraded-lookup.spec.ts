import { status } from '@grpc/grpc-js';
import { ShardedStoreError, ShardRouter, type ShardMap } from '@embpress/store-client';
import { degradedRows } from './degraded-lookup';

// One table of 30 rows in three row ranges: s0 [0, 10), s1 [10, 20), s2 [20, 30).
const map: ShardMap = {
  shards: ['s0', 's1', 's2'].map((name) => ({ name, addresses: [`127.0.0.1:1`] })),
  tables: [
    {
      model: 'm',
      table: 't',
      placement: {
        kind: 'rows',
        ranges: [
          { shard: 's0', start: 0, end: 10 },
          { shard: 's1', start: 10, end: 20 },
          { shard: 's2', start: 20, end: 30 },
        ],
      },
    },
  ],
};
const router = new ShardRouter(map);
const DIM = 2;
const down = (shard: string) =>
  new ShardedStoreError(status.UNAVAILABLE, `shard "${shard}" is down`, { shard });

/** A store whose `downShards` do not answer; row id → [id, -id]. */
function store(downShards: string[]) {
  const calls: number[][] = [];
  const lookup = async (ids: Uint32Array) => {
    calls.push(Array.from(ids));
    for (const id of ids) {
      const shard = `s${Math.floor(id / 10)}`;
      if (downShards.includes(shard)) throw down(shard);
    }
    return Float32Array.from(Array.from(ids).flatMap((id) => [id, -id]));
  };
  return { lookup, calls };
}

describe('degradedRows', () => {
  const ids = Uint32Array.from([1, 15, 25, 2]);

  it('zeroes the failed shard rows only and keeps the others', async () => {
    const { lookup, calls } = store(['s1']);
    const got = await degradedRows(router, 'm', 't', DIM, ids, 's1', lookup);
    expect(Array.from(got.rows)).toEqual([1, -1, 0, 0, 25, -25, 2, -2]);
    expect(got).toMatchObject({ failedShards: ['s1'], zeroed: 1 });
    expect(calls).toEqual([[1, 25, 2]]);
  });

  it('drops a second failed shard too, and zeroes everything when no shard is named', async () => {
    const { lookup } = store(['s1', 's2']);
    const got = await degradedRows(router, 'm', 't', DIM, ids, 's1', lookup);
    expect(Array.from(got.rows)).toEqual([1, -1, 0, 0, 0, 0, 2, -2]);
    expect(got).toMatchObject({ failedShards: ['s1', 's2'], zeroed: 2 });
    const blind = await degradedRows(router, 'm', 't', DIM, ids, undefined, lookup);
    expect(Array.from(blind.rows)).toEqual(new Array(8).fill(0));
  });

  it('passes on errors that are not a shard failure', async () => {
    const refused = new ShardedStoreError(status.NOT_FOUND, 'no such version', { shard: 's0' });
    await expect(
      degradedRows(router, 'm', 't', DIM, ids, 's1', () => Promise.reject(refused)),
    ).rejects.toBe(refused);
  });
});

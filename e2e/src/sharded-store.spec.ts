// The sharded store as real processes (issue #5, "Sharded integration test"): one table cut into
// three row ranges served by three `embpress serve store` processes (shard s1 by two replicas),
// beside an unsharded store holding the whole table. The sharded client must return rows
// IDENTICAL to the unsharded store's, refuse ids past the table, and keep answering while a
// replica stops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { registry, Rng, type CompressedTable } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite, type TableToWrite } from '@embpress/model-registry';
import { common, store } from '@embpress/proto';
import {
  decodeRows,
  parseShardMap,
  ShardedStoreClient,
  StoreClient,
  type ShardedBatchLookupRequest,
} from '@embpress/store-client';
import { readyPort, runCli, type CliProcess } from '@embpress/cli/testing';

const { RowEncoding } = common;
const ROWS = 3000;
const DIM = 8;
const SIDE_ROWS = 500;
const RANGES = [
  { shard: 's0', start: 0, end: 1000 },
  { shard: 's1', start: 1000, end: 2000 },
  { shard: 's2', start: 2000, end: 3000 },
];

/** A `full` table holding exactly `rows` (fp32, row-major), built through the method registry. */
function fullTable(rows: Float32Array): CompressedTable {
  return registry.loadContent({
    method: 'full',
    spec: 'full',
    params: {},
    shape: { fields: [rows.length / DIM], dim: DIM },
    sections: new Map([['table', rows]]),
  });
}

function int8Table(rows: Float32Array): CompressedTable {
  const { method, params } = registry.resolve('rowwise-int8');
  if (method.kind !== 'codec') throw new Error('rowwise-int8 is a codec');
  return method.compress(rows, { fields: [rows.length / DIM], dim: DIM }, params, { seed: 1 });
}

/** Writes version v1 of model ctr with `tables` and points the store at it (restored at boot). */
function publish(root: string, tables: TableToWrite[]): void {
  const dir = new ModelRegistryDir(root);
  dir.writeVersion({ model: 'ctr', version: 'v1', tables });
  dir.setActiveVersion('ctr', 'v1');
}

async function stop(cli: CliProcess): Promise<void> {
  if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill('SIGTERM');
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), 3000);
  await cli.exit;
  clearTimeout(timer);
}

describe('sharded store', () => {
  it('returns rows identical to an unsharded store, refuses ids past the table, survives a replica stopping', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'embpress-sharded-'));
    const processes: CliProcess[] = [];
    const clients: Array<{ close(): void }> = [];
    try {
      // ---- data: one fp32 table, the whole of it and its three row ranges -----------------
      const data = new Rng(42).fillUniform(new Float32Array(ROWS * DIM), -1, 1);
      const side = new Rng(43).fillUniform(new Float32Array(SIDE_ROWS * DIM), -1, 1);
      publish(join(dir, 'whole'), [
        tableToWrite('sparse', fullTable(data)),
        tableToWrite('sparse8', int8Table(data)),
        tableToWrite('side', fullTable(side)),
      ]);
      for (const { shard, start, end } of RANGES) {
        const slice = data.slice(start * DIM, end * DIM);
        const tables = [
          tableToWrite('sparse', fullTable(slice)),
          tableToWrite('sparse8', int8Table(slice)),
        ];
        // A table placed whole on one shard, beside its ranges.
        if (shard === 's1') tables.push(tableToWrite('side', fullTable(side)));
        publish(join(dir, shard), tables);
      }

      // ---- five store processes: the whole table, s0, s1 (two replicas), s2 ---------------
      const serve = (root: string) =>
        runCli(['serve', 'store'], {
          EMBPRESS_STORE_PORT: '0',
          EMBPRESS_STORE_REGISTRY_ROOT: join(dir, root),
          EMBPRESS_STORE_SHUTDOWN_GRACE_MS: '2000',
          EMBPRESS_SPANS_FILE: join(dir, `spans-${processes.length}.jsonl`),
          EMBPRESS_LOG_LEVEL: 'warn',
        });
      for (const root of ['whole', 's0', 's1', 's1', 's2']) processes.push(serve(root));
      const ports = await Promise.all(processes.map((p) => readyPort(p)));
      const address = (i: number) => `127.0.0.1:${ports[i] as number}`;
      const s1Replica = processes[2] as CliProcess;

      const shardMap = parseShardMap(
        JSON.stringify({
          shards: [
            { name: 's0', addresses: [address(1)] },
            { name: 's1', addresses: [address(2), address(3)] },
            { name: 's2', addresses: [address(4)] },
          ],
          tables: ['sparse', 'sparse8'].map((table) => ({
            model: 'ctr',
            table,
            placement: { kind: 'rows', ranges: RANGES },
          })),
          defaultShard: 's1',
        }),
        'test shard map',
      );
      const sharded = new ShardedStoreClient(shardMap, { tls: {}, timeoutMs: 5000 });
      const single = ShardedStoreClient.create({ address: address(0), tls: {}, timeoutMs: 5000 });
      const whole = new StoreClient({ address: address(0), tls: {}, timeoutMs: 5000 });
      clients.push(sharded, single, whole);

      // ---- random ids with duplicates and every range boundary ----------------------------
      const rng = new Rng(7);
      const ids = [0, 999, 1000, 1999, 2000, 2999, 999, 1000, 0];
      for (let i = 0; i < 2000; i += 1) ids.push(rng.int(0, ROWS));
      for (let i = 0; i < 300; i += 1) ids.push(ids[rng.int(0, ids.length)] as number);
      const sideIds = Array.from({ length: 200 }, () => rng.int(0, SIDE_ROWS));
      expect(new Set(ids).size).toBeLessThan(ids.length);

      /** The unsharded store's rows, decoded to fp32 the same way. */
      async function reference(request: ShardedBatchLookupRequest): Promise<Float32Array[]> {
        const response = await whole.batchLookup({
          model: request.model,
          version: '',
          encoding: request.encoding ?? RowEncoding.ROW_ENCODING_FLOAT32_LE,
          tables: request.tables.map((t) => ({ table: t.table, ids: Array.from(t.ids) })),
        });
        expect(response.version).toBe('v1');
        return response.tables.map((t) => decodeRows(t.rows as common.VectorBlock));
      }
      const bytes = (rows: Float32Array) =>
        Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength);

      const requests: ShardedBatchLookupRequest[] = [
        RowEncoding.ROW_ENCODING_FLOAT32_LE,
        RowEncoding.ROW_ENCODING_FLOAT16_LE,
        RowEncoding.ROW_ENCODING_CODES,
      ].map((encoding) => ({
        model: 'ctr',
        encoding,
        // Full tables have no wire codes: CODES is asked of the int8 table alone.
        tables:
          encoding === RowEncoding.ROW_ENCODING_CODES
            ? [{ table: 'sparse8', ids }]
            : [
                { table: 'sparse', ids },
                { table: 'sparse8', ids: [...ids].reverse() },
                { table: 'side', ids: sideIds },
              ],
      }));
      for (const request of requests) {
        const expected = await reference(request);
        for (const client of [sharded, single]) {
          const result = await client.batchLookup(request);
          expect(result.version).toBe('v1');
          expect(result.tables.map((t) => t.table)).toEqual(request.tables.map((t) => t.table));
          result.tables.forEach((t, i) => {
            expect(t).toMatchObject({ dim: DIM, count: request.tables[i]?.ids.length });
            expect(Buffer.compare(bytes(t.rows), bytes(expected[i] as Float32Array))).toBe(0);
          });
        }
      }
      // The fp32 rows are the table's own values, at the right place (boundaries included).
      const fp32 = await sharded.lookup({ model: 'ctr', table: 'sparse', ids: [999, 1000, 2999] });
      expect(Array.from(fp32.rows)).toEqual([
        ...data.subarray(999 * DIM, 1001 * DIM),
        ...data.subarray(2999 * DIM, 3000 * DIM),
      ]);

      // ---- search: every range searched, the best k of all, global ids ---------------------
      const queries = new Rng(44).fillUniform(new Float32Array(6 * DIM), -1, 1);
      for (const metric of [store.Metric.METRIC_INNER_PRODUCT, store.Metric.METRIC_L2]) {
        const search = { model: 'ctr', table: 'sparse8', k: 12, metric };
        const unsharded = await whole.search({
          ...search,
          version: '',
          exactRerank: false,
          nprobe: 0,
          queries: {
            encoding: RowEncoding.ROW_ENCODING_FLOAT32_LE,
            dim: DIM,
            count: 6,
            data: Buffer.from(queries.buffer),
            codec: '',
          },
        });
        const found = await sharded.search({ ...search, queries, dim: DIM });
        expect(found.version).toBe('v1');
        expect(found.shards.map((s) => s.shard).sort()).toEqual(['s0', 's1', 's2']);
        expect(found.results).toEqual(unsharded.results);
        // The hits span the ranges: the merge really took rows of several shards.
        const hitShards = new Set(
          found.results.flatMap((r) => r.ids.map((id) => Math.floor(id / 1000))),
        );
        expect(hitShards.size).toBeGreaterThan(1);
      }

      // ---- ids past the table ---------------------------------------------------------------
      const past = await sharded
        .batchLookup({ model: 'ctr', tables: [{ table: 'sparse', ids: [5, ROWS] }] })
        .catch((e: unknown) => e);
      expect(past).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect((past as Error).message).toContain('"sparse"');
      expect((past as Error).message).toContain(`id ${ROWS}`);
      // Past a table placed whole on a shard: the shard's own INVALID_ARGUMENT, named.
      const pastSide = await sharded
        .lookup({ model: 'ctr', table: 'side', ids: [SIDE_ROWS] })
        .catch((e: unknown) => e);
      expect(pastSide).toMatchObject({ code: status.INVALID_ARGUMENT, shard: 's1' });
      expect((pastSide as Error).message).toMatch(/shard "s1" .*"side"/);

      // ---- one replica of s1 stops while calls keep coming ----------------------------------
      const expected = await reference(requests[0] as ShardedBatchLookupRequest);
      const answeredBy = new Set<string>();
      let calls = 0;
      const failures: string[] = [];
      let stopped = false;
      const loop = async () => {
        // Until the replica is gone, then 40 calls more, some of them round-robined to it.
        for (let after = 0; after < 40; after += stopped ? 1 : 0) {
          try {
            const result = await sharded.batchLookup(requests[0] as ShardedBatchLookupRequest);
            calls += 1;
            for (const s of result.shards) if (s.shard === 's1') answeredBy.add(s.address);
            result.tables.forEach((t, i) => {
              if (Buffer.compare(bytes(t.rows), bytes(expected[i] as Float32Array)) !== 0)
                failures.push(`rows of ${t.table} differ`);
            });
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      };
      const loops = [loop(), loop(), loop()];
      await new Promise((resolve) => setTimeout(resolve, 300));
      const callsBeforeStop = calls;
      expect(answeredBy).toEqual(new Set([address(2), address(3)]));
      s1Replica.child.kill('SIGTERM');
      expect((await s1Replica.exit).code).toBe(0);
      stopped = true;
      answeredBy.clear();
      await Promise.all(loops);
      // Once it is gone only the other replica answers (loops may finish one call begun before).
      expect(answeredBy.has(address(3))).toBe(true);
      expect(failures).toEqual([]);
      expect(callsBeforeStop).toBeGreaterThan(0);
      expect(calls).toBeGreaterThanOrEqual(callsBeforeStop + 120);
    } finally {
      for (const client of clients) client.close();
      await Promise.all(processes.map(stop));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// 10,000 malformed or hostile requests against a real store: random bytes, huge id counts,
// out-of-range enums, unknown tables, non-finite queries, hostile names. No crash, no INTERNAL,
// the right status for each kind, memory steady, and the store still serves afterwards.
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type ServiceError,
} from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { registry, Rng, SparseOptimizer } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { common, store } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { loadStoreConfig } from './config';
import { startStore } from './main';

const passthrough = (b: Buffer) => b;
const methods = [
  'Lookup',
  'BatchLookup',
  'Search',
  'DescribeTables',
  'LoadVersion',
  'ActivateVersion',
] as const;
const RawClient = makeGenericClientConstructor(
  Object.fromEntries(
    methods.map((m) => [
      m,
      {
        path: `/embpress.store.v1.EmbeddingStoreService/${m}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: passthrough,
        requestDeserialize: passthrough,
        responseSerialize: passthrough,
        responseDeserialize: passthrough,
      },
    ]),
  ),
  'FuzzStore',
);
type Raw = InstanceType<typeof RawClient> &
  Record<
    string,
    (req: Buffer, md: Metadata, opts: object, cb: (err: ServiceError | null) => void) => void
  >;

describe('store under hostile input', () => {
  let root: string;
  let running: RunningService;
  let raw: Raw;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embpress-fuzz-'));
    const { method, params } = registry.resolve('full');
    if (method.kind !== 'trainable') throw new Error('unexpected');
    const table = method
      .createTrainable({ fields: [100], dim: 4 }, params, {
        seed: 1,
        optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }),
      })
      .toTable();
    const dir = new ModelRegistryDir(root);
    dir.writeVersion({
      model: 'ctr',
      version: 'v1',
      tables: [tableToWrite('sparse', table)],
    });
    dir.setActiveVersion('ctr', 'v1');
    running = await startStore(
      loadStoreConfig({
        EMBPRESS_STORE_PORT: '0',
        EMBPRESS_STORE_REGISTRY_ROOT: root,
        EMBPRESS_STORE_ADMIN_TOKEN: 't',
        EMBPRESS_STORE_MAX_IDS_PER_REQUEST: '1000',
      }),
      pino({ level: 'silent' }),
    );
    raw = new RawClient(running.address, credentials.createInsecure()) as Raw;
  });

  afterAll(async () => {
    raw.close();
    await running.stop();
    rmSync(root, { recursive: true, force: true });
  });

  function send(method: (typeof methods)[number], bytes: Buffer): Promise<status> {
    return new Promise((resolve) =>
      raw[method]?.(bytes, new Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
        resolve(err === null ? status.OK : err.code),
      ),
    );
  }

  const rng = new Rng(99);
  const f32 = (values: number[]) => Buffer.from(Float32Array.from(values).buffer);
  const hostile: Array<{
    method: (typeof methods)[number];
    bytes: () => Buffer;
    expect: status[];
  }> = [
    {
      method: 'Lookup',
      bytes: () =>
        Buffer.from(
          store.LookupRequest.encode({
            model: 'ctr',
            table: 'sparse',
            ids: Array.from({ length: 1001 }, (_, i) => i % 100),
            encoding: 1,
            version: '',
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'Lookup',
      bytes: () =>
        Buffer.from(
          store.LookupRequest.encode({
            model: 'ctr',
            table: 'sparse',
            ids: [1],
            encoding: rng.int(4, 2 ** 31) as common.RowEncoding,
            version: '',
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'Lookup',
      bytes: () =>
        Buffer.from(
          store.LookupRequest.encode({
            model: 'ctr',
            table: 'sparse',
            ids: [1],
            encoding: -1 as common.RowEncoding,
            version: '',
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'Lookup',
      bytes: () =>
        Buffer.from(
          store.LookupRequest.encode({
            model: 'ctr',
            table: 'sparse',
            ids: [rng.int(100, 2 ** 32)],
            encoding: 1,
            version: '',
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'Lookup',
      bytes: () =>
        Buffer.from(
          store.LookupRequest.encode({
            model: 'ctr',
            table: `t${rng.int(0, 1e9)}`,
            ids: [1],
            encoding: 1,
            version: '',
          }).finish(),
        ),
      expect: [status.NOT_FOUND],
    },
    {
      method: 'Lookup',
      bytes: () =>
        Buffer.from(
          store.LookupRequest.encode({
            model: '../../etc',
            table: 'x',
            ids: [1],
            encoding: 1,
            version: '',
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'BatchLookup',
      bytes: () =>
        Buffer.from(
          store.BatchLookupRequest.encode({
            model: 'ctr',
            version: '',
            encoding: 1,
            tables: [
              { table: 'sparse', ids: [1] },
              { table: 'nope', ids: [2] },
            ],
          }).finish(),
        ),
      expect: [status.NOT_FOUND],
    },
    {
      method: 'BatchLookup',
      bytes: () =>
        Buffer.from(
          store.BatchLookupRequest.encode({
            model: 'ctr',
            version: '',
            encoding: 1,
            tables: Array.from({ length: 5000 }, (_, i) => ({ table: `t${i}`, ids: [1] })),
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'Search',
      bytes: () =>
        Buffer.from(
          store.SearchRequest.encode({
            model: 'ctr',
            table: 'sparse',
            k: 5,
            metric: 1,
            exactRerank: false,
            nprobe: 0,
            version: '',
            queries: { encoding: 1, dim: 4, count: 1, data: f32([NaN, 1, 2, 3]), codec: '' },
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'Search',
      bytes: () =>
        Buffer.from(
          store.SearchRequest.encode({
            model: 'ctr',
            table: 'sparse',
            k: 2 ** 31,
            metric: 1,
            exactRerank: false,
            nprobe: 0,
            version: '',
            queries: { encoding: 1, dim: 4, count: 1, data: f32([0, 1, 2, 3]), codec: '' },
          }).finish(),
        ),
      expect: [status.INVALID_ARGUMENT],
    },
    {
      method: 'Search',
      bytes: () =>
        Buffer.from(
          store.SearchRequest.encode({
            model: 'ctr',
            table: 'sparse',
            k: 3,
            metric: 1,
            exactRerank: false,
            nprobe: 0,
            version: '',
            queries: { encoding: 1, dim: 4, count: 1, data: f32([0, 1, 2, 3]), codec: '' },
          }).finish(),
        ),
      expect: [status.FAILED_PRECONDITION],
    },
    {
      method: 'LoadVersion',
      bytes: () =>
        Buffer.from(store.LoadVersionRequest.encode({ model: 'ctr', version: 'v1' }).finish()),
      expect: [status.UNAUTHENTICATED],
    },
    {
      method: 'ActivateVersion',
      bytes: () =>
        Buffer.from(
          store.ActivateVersionRequest.encode({ model: 'ctr', version: '../v1' }).finish(),
        ),
      expect: [status.UNAUTHENTICATED],
    },
  ];

  it('answers 10,000 of them with the right codes, stays up and keeps its memory', async () => {
    const unexpected: string[] = [];
    const counts = new Map<status, number>();
    let rssMid = 0;
    const total = 10_000;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < total; i = next++) {
        if (i === total / 2) rssMid = process.memoryUsage().rss;
        let method: (typeof methods)[number];
        let bytes: Buffer;
        let allowed: status[];
        if (i % 2 === 0) {
          // Random bytes: undecodable, or decodable into nonsense.
          method = methods[rng.int(0, methods.length)] as (typeof methods)[number];
          bytes = Buffer.from(Uint8Array.from({ length: rng.int(0, 300) }, () => rng.int(0, 256)));
          allowed = [status.INVALID_ARGUMENT, status.NOT_FOUND, status.UNAUTHENTICATED, status.OK];
        } else {
          const h = hostile[rng.int(0, hostile.length)] as (typeof hostile)[number];
          method = h.method;
          bytes = h.bytes();
          allowed = h.expect;
        }
        const code = await send(method, bytes);
        counts.set(code, (counts.get(code) ?? 0) + 1);
        if (!allowed.includes(code) && unexpected.length < 10)
          unexpected.push(`${method} → ${status[code]} for ${bytes.toString('hex').slice(0, 80)}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(unexpected).toEqual([]);
    expect(counts.get(status.INTERNAL) ?? 0).toBe(0);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(total);
    // Memory: the second half must not grow the process like a leak would.
    expect(process.memoryUsage().rss - rssMid).toBeLessThan(64 * 1024 * 1024);
    // Still serving.
    const ok = await new Promise<store.LookupResponse>((resolve, reject) => {
      const client = new store.EmbeddingStoreServiceClient(
        running.address,
        credentials.createInsecure(),
      );
      client.lookup(
        { model: 'ctr', table: 'sparse', ids: [1, 2], encoding: 1, version: '' },
        (err, res) => {
          client.close();
          if (err) reject(err);
          else resolve(res);
        },
      );
    });
    expect(ok.version).toBe('v1');
  }, 180_000); // 10,000 calls: ~20 s alone on 2 cores, several times that on a shared machine
});

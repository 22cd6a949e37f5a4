// LookupStream against a real store on 127.0.0.1:0 (docs/adr/0013): each message answered with
// BatchLookup's own status and text; malformed messages fail alone and the stream goes on; a
// client that floods a stream past its bound gets RESOURCE_EXHAUSTED per message, never a
// broken stream; a graceful shutdown answers what is in flight and ends the stream with OK.
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type ClientDuplexStream,
} from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { registry, type CodecMethod } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { store } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { StoreClient } from '@embpress/store-client';
import { loadStoreConfig } from './config';
import { startStore } from './main';
import { publishVersion, rowsOf } from './__fixtures__/publish';

const PATH = '/embpress.store.v1.EmbeddingStoreService/LookupStream';
const RawStreamClient = makeGenericClientConstructor(
  {
    LookupStream: {
      path: PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => store.LookupStreamResponse.decode(b),
    },
  },
  'RawLookupStream',
);
type RawStream = ClientDuplexStream<Buffer, store.LookupStreamResponse>;

const envelope = (requestId: number, lookup: store.BatchLookupRequest, timeoutMs = 5000) =>
  Buffer.from(
    store.LookupStreamRequest.encode({
      requestId,
      lookup,
      search: undefined,
      timeoutMs,
      traceparent: '',
    }).finish(),
  );
const lookupOf = (ids: number[], table = 'sparse'): store.BatchLookupRequest => ({
  model: 'ctr',
  tables: [{ table, ids }],
  encoding: 1,
  version: '',
});

/** LoadVersion + ActivateVersion of a published version. */
function activate(address: string, model: string, version: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const admin = new store.EmbeddingStoreServiceClient(address, credentials.createInsecure());
    admin.loadVersion({ model, version }, (err) => {
      if (err) return reject(err);
      admin.activateVersion({ model, version }, (e) => {
        admin.close();
        if (e) reject(e);
        else resolve();
      });
    });
  });
}

describe('LookupStream', () => {
  let root: string;
  let running: RunningService;
  let raw: InstanceType<typeof RawStreamClient> & { LookupStream(md: Metadata): RawStream };
  let table: ReturnType<typeof publishVersion>;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embpress-stream-'));
    table = publishVersion(root, 'ctr', 'v1', 3);
    running = await startStore(
      loadStoreConfig({
        EMBPRESS_STORE_PORT: '0',
        EMBPRESS_STORE_REGISTRY_ROOT: root,
        EMBPRESS_STORE_MAX_IDS_PER_REQUEST: '100',
        EMBPRESS_STORE_STREAM_MAX_IN_FLIGHT: '8',
      }),
      pino({ level: 'silent' }),
    );
    await activate(running.address, 'ctr', 'v1');
    raw = new RawStreamClient(running.address, credentials.createInsecure()) as typeof raw;
  });
  afterAll(async () => {
    raw.close();
    await running.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers each message as BatchLookup would, malformed ones alone, and keeps the stream', async () => {
    const stream = raw.LookupStream(new Metadata());
    const answers = new Map<number, store.LookupStreamResponse>();
    stream.on('data', (r: store.LookupStreamResponse) => answers.set(r.requestId, r));
    const ended = new Promise<string>((resolve) => {
      stream.on('error', (e) => resolve(`error ${e.message}`));
      stream.on('end', () => resolve('end'));
    });
    // ids [2^32, 5] (packed varints) in table "sparse", inside envelope 4.
    const tableIds = Buffer.from([
      ...[0x0a, 6, ...Buffer.from('sparse')],
      ...[0x12, 6, 0x80, 0x80, 0x80, 0x80, 0x10, 0x05],
    ]);
    const wideLookup = Buffer.from([
      0x0a,
      3,
      ...Buffer.from('ctr'),
      0x12,
      tableIds.length,
      ...tableIds,
    ]);
    const wideId = Buffer.from([0x08, 4, 0x12, wideLookup.length, ...wideLookup]);
    stream.write(envelope(1, lookupOf([3, 7, 3])));
    stream.write(envelope(2, lookupOf([3], 'nope')));
    stream.write(envelope(3, lookupOf([400])));
    stream.write(wideId);
    stream.write(envelope(5, lookupOf(Array.from({ length: 101 }, (_, i) => i % 40))));
    stream.write(Buffer.from([0xff, 0xff, 0xff])); // not an envelope at all: no id to answer with
    stream.write(envelope(7, { ...lookupOf([1]), model: '' }));
    stream.write(envelope(8, lookupOf([39, 0])));
    const deadline = Date.now() + 5000;
    while (answers.size < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const codes = Object.fromEntries([...answers].map(([id, r]) => [id, r.statusCode]));
    expect(codes).toEqual({
      0: status.INVALID_ARGUMENT,
      1: status.OK,
      2: status.NOT_FOUND,
      3: status.INVALID_ARGUMENT,
      4: status.INVALID_ARGUMENT,
      5: status.INVALID_ARGUMENT,
      7: status.INVALID_ARGUMENT,
      8: status.OK,
    });
    expect(answers.get(3)?.statusMessage).toBe(
      'tables[0].ids[0]: id 400 is out of range for table "sparse" (rows [0, 40))',
    );
    expect(answers.get(4)?.statusMessage).toMatch(/tables\[0\]\.ids\[0\]: id 4294967296 is above/);
    expect(answers.get(5)?.statusMessage).toMatch(/more than the limit of 100 ids/);
    const ok = answers.get(8)?.lookup?.tables[0]?.rows;
    const rows = new Float32Array(new Uint8Array(ok?.data ?? []).buffer);
    expect(Array.from(rows)).toEqual(rowsOf(table, [39, 0]));
    expect(answers.get(1)?.lookup?.version).toBe('v1');
    // The stream is still open: one more message is answered, then a half-close ends it with OK.
    stream.write(envelope(9, lookupOf([1])));
    while (!answers.has(9) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(answers.get(9)?.statusCode).toBe(status.OK);
    stream.end();
    expect(await ended).toBe('end');
  });

  it('answers RESOURCE_EXHAUSTED per message past the in-flight bound, never breaking the stream', async () => {
    const stream = raw.LookupStream(new Metadata());
    const codes: number[] = [];
    stream.on('data', (r: store.LookupStreamResponse) => codes.push(r.statusCode));
    const ended = new Promise<string>((resolve) => {
      stream.on('error', (e) => resolve(`error ${e.message}`));
      stream.on('end', () => resolve('end'));
    });
    // Not reading: the answers (100 rows of 4 floats each) pile up unflushed in the server.
    stream.pause();
    const ids = Array.from({ length: 100 }, (_, i) => i % 40);
    const total = 3000;
    for (let i = 1; i <= total; i += 1) stream.write(envelope(i, lookupOf(ids), 30_000));
    await new Promise((r) => setTimeout(r, 1500));
    stream.resume();
    const deadline = Date.now() + 20_000;
    while (codes.length < total && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(codes).toHaveLength(total);
    const counts = new Map<number, number>();
    for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([status.OK, status.RESOURCE_EXHAUSTED]);
    // Afterwards the same stream serves normally again.
    codes.length = 0;
    stream.write(envelope(total + 1, lookupOf([1, 2])));
    while (codes.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(codes).toEqual([status.OK]);
    stream.end();
    expect(await ended).toBe('end');
  }, 40_000);

  it('is what StoreClient.batchLookup uses, with the rows of BatchLookup', async () => {
    const client = new StoreClient({ address: running.address, tls: {}, timeoutMs: 5000 });
    try {
      const res = await client.batchLookup(lookupOf([5, 6, 5]));
      expect(client.streaming).toBe(true);
      const rows = new Float32Array(new Uint8Array(res.tables[0]?.rows?.data ?? []).buffer);
      expect(Array.from(rows)).toEqual(rowsOf(table, [5, 6, 5]));
      await expect(client.batchLookup(lookupOf([3], 'nope'))).rejects.toMatchObject({
        code: status.NOT_FOUND,
        details: expect.stringContaining('table "nope" not found'),
      });
    } finally {
      client.close();
    }
  });

  it('answers Search messages as the unary Search would, and is what StoreClient.search uses', async () => {
    // A searchable (fp16) copy of the fixture's rows, as model "vec".
    const { dim, rows } = table;
    const all = new Float32Array(
      rowsOf(
        table,
        Array.from({ length: rows }, (_, i) => i),
      ),
    );
    const { method, params } = registry.resolve('fp16');
    const fp16 = (method as CodecMethod).compress(all, { fields: [rows], dim }, params, {
      seed: 1,
    });
    new ModelRegistryDir(root).writeVersion({
      model: 'vec',
      version: 'v1',
      tables: [tableToWrite('docs', fp16)],
    });
    await activate(running.address, 'vec', 'v1');
    const query = new Float32Array(rowsOf(table, [7]));
    const request = (tableName: string, k = 3): store.SearchRequest => ({
      model: 'vec',
      table: tableName,
      queries: {
        encoding: 1,
        count: 1,
        dim,
        data: Buffer.from(query.buffer.slice(0)),
        codec: '',
      },
      k,
      metric: store.Metric.METRIC_INNER_PRODUCT,
      exactRerank: false,
      version: '',
      nprobe: 0,
    });
    const streamed = new StoreClient({ address: running.address, tls: {}, timeoutMs: 5000 });
    const unary = new StoreClient({
      address: running.address,
      tls: {},
      timeoutMs: 5000,
      streams: 0,
    });
    try {
      const viaStream = await streamed.search(request('docs'));
      expect(streamed.streaming).toBe(true);
      expect(viaStream).toEqual(await unary.search(request('docs')));
      expect(viaStream.results[0]?.ids).toHaveLength(3);
      // A failing search fails its message only, with the unary Search's code and text.
      const unaryFailure = await unary.search(request('nope')).catch((e: unknown) => e);
      await expect(streamed.search(request('nope'))).rejects.toMatchObject({
        code: (unaryFailure as { code: number }).code,
        details: (unaryFailure as { details: string }).details,
      });
      expect(await streamed.search(request('docs', 2))).toMatchObject({
        results: [{ ids: viaStream.results[0]?.ids.slice(0, 2) }],
      });
    } finally {
      streamed.close();
      unary.close();
    }
  });

  it('refuses a message that carries both a lookup and a search, alone', async () => {
    const stream = raw.LookupStream(new Metadata());
    const answers: store.LookupStreamResponse[] = [];
    stream.on('data', (r: store.LookupStreamResponse) => answers.push(r));
    stream.on('error', () => undefined);
    const both = store.LookupStreamRequest.encode({
      requestId: 1,
      lookup: lookupOf([1]),
      search: {
        model: 'ctr',
        table: 'sparse',
        queries: undefined,
        k: 1,
        metric: 1,
        exactRerank: false,
        version: '',
        nprobe: 0,
      },
      timeoutMs: 5000,
      traceparent: '',
    }).finish();
    stream.write(Buffer.from(both));
    stream.write(envelope(2, lookupOf([1])));
    const deadline = Date.now() + 5000;
    while (answers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    stream.end();
    const byId = new Map(answers.map((a) => [a.requestId, a]));
    expect(byId.get(1)).toMatchObject({
      statusCode: status.INVALID_ARGUMENT,
      statusMessage: expect.stringContaining('a lookup or a search, not both'),
    });
    expect(byId.get(2)?.statusCode).toBe(status.OK);
  });
});

// The client side of LookupStream against plain grpc-js servers: a store built before
// LookupStream (UNIMPLEMENTED) is served by unary BatchLookup, the messages in flight included;
// a message with no answer fails DEADLINE_EXCEEDED on time; a server that goes away fails the
// messages in flight with UNAVAILABLE, and calls work again once a server is back.
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { common, store } from '@embpress/proto';
import { StoreClient } from './store-client';

const rowsFor = (request: store.BatchLookupRequest): store.BatchLookupResponse => ({
  model: request.model,
  version: 'v7',
  tables: request.tables.map((t) => ({
    table: t.table,
    rows: {
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      dim: 1,
      count: t.ids.length,
      data: Buffer.from(Float32Array.from(t.ids).buffer),
      codec: '',
    },
  })),
});

async function serve(implementation: Record<string, unknown>, port = 0) {
  const server = new Server();
  server.addService(store.EmbeddingStoreServiceService, implementation as never);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, address: `127.0.0.1:${bound}`, port: bound };
}

const request = (ids: number[]): store.BatchLookupRequest => ({
  model: 'm',
  tables: [{ table: 't', ids }],
  encoding: 0,
  version: '',
});
const idsOf = (res: store.BatchLookupResponse) =>
  Array.from(new Float32Array(new Uint8Array(res.tables[0]?.rows?.data ?? []).buffer));

describe('LookupStream client', () => {
  it('falls back to unary BatchLookup when the store has no LookupStream', async () => {
    let unaryCalls = 0;
    const { server, address } = await serve({
      batchLookup: (
        call: { request: store.BatchLookupRequest },
        cb: (e: null, r: store.BatchLookupResponse) => void,
      ) => {
        unaryCalls += 1;
        cb(null, rowsFor(call.request));
      },
    });
    const client = new StoreClient({ address, tls: {}, timeoutMs: 5000, streams: 2 });
    try {
      // Several at once: the ones sent on the stream before UNIMPLEMENTED came back are re-sent.
      const answers = await Promise.all([1, 2, 3].map((i) => client.batchLookup(request([i, 9]))));
      expect(answers.map(idsOf)).toEqual([
        [1, 9],
        [2, 9],
        [3, 9],
      ]);
      expect(client.streaming).toBe(false);
      expect(unaryCalls).toBe(3);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('sends Search over the stream, and falls back to unary Search with the lookups', async () => {
    const searchOf = (k: number): store.SearchRequest => ({
      model: 'm',
      table: 'docs',
      queries: undefined,
      k,
      metric: 1,
      exactRerank: false,
      version: '',
      nprobe: 0,
    });
    const hits = (r: store.SearchRequest): store.SearchResponse => ({
      model: r.model,
      version: 'v7',
      table: r.table,
      results: [{ ids: Array.from({ length: r.k }, (_, i) => i), scores: [] }],
    });
    // A store with LookupStream: searches arrive as stream messages, never as unary calls.
    const seen: string[] = [];
    const streaming = await serve({
      search: () => seen.push('unary search'),
      lookupStream: (
        call: ServerDuplexStream<store.LookupStreamRequest, store.LookupStreamResponse>,
      ) =>
        call.on('data', (m: store.LookupStreamRequest) => {
          seen.push(m.search !== undefined ? 'stream search' : 'stream lookup');
          call.write({
            requestId: m.requestId,
            statusCode: 0,
            statusMessage: '',
            lookup: m.lookup === undefined ? undefined : rowsFor(m.lookup),
            search: m.search === undefined ? undefined : hits(m.search),
          });
        }),
    });
    const client = new StoreClient({ address: streaming.address, tls: {}, timeoutMs: 5000 });
    try {
      const [found, rows] = await Promise.all([
        client.search(searchOf(2)),
        client.batchLookup(request([4])),
      ]);
      expect(found.results[0]?.ids).toEqual([0, 1]);
      expect(idsOf(rows)).toEqual([4]);
      expect(seen.sort()).toEqual(['stream lookup', 'stream search']);
    } finally {
      client.close();
      streaming.server.forceShutdown();
    }
    // A store without it: both kinds re-sent as unary calls.
    let unarySearches = 0;
    const old = await serve({
      search: (
        call: { request: store.SearchRequest },
        cb: (e: null, r: store.SearchResponse) => void,
      ) => {
        unarySearches += 1;
        cb(null, hits(call.request));
      },
      batchLookup: (
        call: { request: store.BatchLookupRequest },
        cb: (e: null, r: store.BatchLookupResponse) => void,
      ) => cb(null, rowsFor(call.request)),
    });
    const fallback = new StoreClient({ address: old.address, tls: {}, timeoutMs: 5000 });
    try {
      const [found, rows] = await Promise.all([
        fallback.search(searchOf(3)),
        fallback.batchLookup(request([5])),
      ]);
      expect(found.results[0]?.ids).toEqual([0, 1, 2]);
      expect(idsOf(rows)).toEqual([5]);
      expect(fallback.streaming).toBe(false);
      expect(unarySearches).toBe(1);
    } finally {
      fallback.close();
      old.server.forceShutdown();
    }
  });

  it('fails an unanswered message with DEADLINE_EXCEEDED at its deadline, others unaffected', async () => {
    const { server, address } = await serve({
      lookupStream: (
        call: ServerDuplexStream<store.LookupStreamRequest, store.LookupStreamResponse>,
      ) =>
        call.on('data', (m: store.LookupStreamRequest) => {
          if (m.lookup?.tables[0]?.ids[0] === 666) return; // never answered
          call.write({
            requestId: m.requestId,
            search: undefined,
            statusCode: 0,
            statusMessage: '',
            lookup: rowsFor(m.lookup as store.BatchLookupRequest),
          });
        }),
    });
    const client = new StoreClient({ address, tls: {}, timeoutMs: 5000, streams: 1 });
    try {
      const started = Date.now();
      await expect(
        client.batchLookup(request([4]), { deadline: Date.now() - 1 }),
      ).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
      const lost = client.batchLookup(request([666]), { deadline: Date.now() + 300 });
      expect(idsOf(await client.batchLookup(request([4])))).toEqual([4]);
      await expect(lost).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('fails messages in flight with UNAVAILABLE when the server goes away, and recovers', async () => {
    const held: Array<() => void> = [];
    const streamServer = (
      call: ServerDuplexStream<store.LookupStreamRequest, store.LookupStreamResponse>,
    ) =>
      call.on('data', (m: store.LookupStreamRequest) => {
        const answer = () =>
          call.write({
            requestId: m.requestId,
            search: undefined,
            statusCode: 0,
            statusMessage: '',
            lookup: rowsFor(m.lookup as store.BatchLookupRequest),
          });
        if (m.lookup?.tables[0]?.ids[0] === 1) held.push(answer);
        else answer();
      });
    const first = await serve({ lookupStream: streamServer });
    const client = new StoreClient(
      { address: first.address, tls: {}, timeoutMs: 5000, streams: 1 },
      { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    );
    try {
      const inFlight = [client.batchLookup(request([1])), client.batchLookup(request([1]))];
      while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
      const killedAt = Date.now();
      first.server.forceShutdown();
      const outcomes = await Promise.allSettled(inFlight);
      expect(Date.now() - killedAt).toBeLessThan(2000);
      for (const o of outcomes)
        expect(o).toMatchObject({ status: 'rejected', reason: { code: status.UNAVAILABLE } });
      const second = await serve({ lookupStream: streamServer }, first.port);
      try {
        // Reopened after a short jittered backoff: calls succeed again within a second or two.
        const until = Date.now() + 5000;
        let answer: store.BatchLookupResponse | undefined;
        while (answer === undefined && Date.now() < until) {
          answer = await client.batchLookup(request([5])).catch(() => undefined);
          if (answer === undefined) await new Promise((r) => setTimeout(r, 50));
        }
        expect(answer && idsOf(answer)).toEqual([5]);
        expect(client.streaming).toBe(true);
      } finally {
        second.server.forceShutdown();
      }
    } finally {
      client.close();
    }
  });
});

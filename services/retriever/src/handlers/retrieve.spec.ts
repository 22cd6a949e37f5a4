import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { common, retriever } from '@embpress/proto';
import type { RunningService } from '@embpress/service-kit';
import { loadRetrieverConfig } from '../config';
import { startRetriever } from '../main';

describe('RetrieverService', () => {
  let running: RunningService;
  let client: retriever.RetrieverServiceClient;
  beforeAll(async () => {
    running = await startRetriever(
      loadRetrieverConfig({
        EMBPRESS_RETRIEVER_PORT: '0',
        // Nothing is reached: every request here fails validation first.
        EMBPRESS_RETRIEVER_STORE_ADDRESS: '127.0.0.1:9',
      }),
      pino({ level: 'silent' }),
    );
    client = new retriever.RetrieverServiceClient(running.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await running.stop();
  });

  const retrieve = (request: Partial<retriever.RetrieveRequest>) =>
    new Promise<ServiceError | null>((resolve) =>
      client.retrieve(
        retriever.RetrieveRequest.fromPartial(request),
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (err) => resolve(err),
      ),
    );

  it('validates the query, k and re-rank factor', async () => {
    const text = { $case: 'text' as const, value: 'how do I bind a table?' };
    expect((await retrieve({ corpus: 'docs', k: 5 }))?.details).toBe('query: needs text or vector');
    expect((await retrieve({ corpus: 'docs', k: 0, query: text }))?.details).toBe(
      'k: must be an integer in [1, 1000], got 0',
    );
    expect(
      (await retrieve({ corpus: 'docs', k: 5, rerankFactor: 101, query: text }))?.details,
    ).toBe('rerank_factor: must be an integer in [0, 100], got 101');
    const vector = {
      encoding: common.RowEncoding.ROW_ENCODING_FLOAT32_LE,
      dim: 4,
      count: 2,
      data: Buffer.alloc(32),
      codec: '',
    };
    expect(
      (await retrieve({ corpus: 'docs', k: 5, query: { $case: 'vector', value: vector } }))
        ?.details,
    ).toBe('vector.count: must be an integer in [1, 1], got 2');
    expect((await retrieve({ corpus: '../docs', k: 5, query: text }))?.code).toBe(
      status.INVALID_ARGUMENT,
    );
  });
});

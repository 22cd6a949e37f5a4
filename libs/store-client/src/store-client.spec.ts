import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { store } from '@embpress/proto';
import {
  InvalidArgumentError,
  ServiceHost,
  UnavailableError,
  type Handlers,
} from '@embpress/service-kit';
import { lookupStreamServer } from './lookup-stream-envelope';
import { backoffMs, StoreClient } from './store-client';

const notUsed = async (): Promise<never> => {
  throw new Error('not used');
};

describe('StoreClient', () => {
  let host: ServiceHost;
  let failuresLeft = 0;
  let calls = 0;

  beforeAll(async () => {
    host = new ServiceHost({
      name: 'fake-store',
      logger: pino({ level: 'silent' }),
      config: { host: '127.0.0.1', port: 0, tls: {}, shutdownGraceMs: 1000, maxInFlight: 8 },
    });
    const handlers: Handlers<store.EmbeddingStoreServiceServer> = {
      describeTables: async (request) => {
        calls += 1;
        if (request.model === 'bad') throw new InvalidArgumentError('model', 'bad');
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw new UnavailableError('shard restarting');
        }
        return {
          tables: [
            store.TableInfo.fromPartial({ model: request.model, table: 'C1', rows: 10, dim: 4 }),
          ],
        };
      },
      lookup: notUsed,
      batchLookup: notUsed,
      lookupStream: lookupStreamServer(notUsed),
      search: notUsed,
      loadVersion: notUsed,
      activateVersion: notUsed,
    };
    host.addService<store.EmbeddingStoreServiceServer>(
      store.EmbeddingStoreServiceService,
      handlers,
    );
    await host.start();
    host.markServing();
  });
  afterAll(() => host.shutdown());
  beforeEach(() => {
    calls = 0;
    failuresLeft = 0;
  });

  const client = () =>
    new StoreClient(
      { address: host.address, tls: {}, timeoutMs: 2000 },
      { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    );

  it('retries UNAVAILABLE with backoff and succeeds', async () => {
    const c = client();
    failuresLeft = 2;
    const response = await c.describeTables({ model: 'ctr' });
    expect(response.tables[0]).toMatchObject({ model: 'ctr', table: 'C1', rows: 10, dim: 4 });
    expect(calls).toBe(3);
    c.close();
  });

  it('gives up after the configured attempts', async () => {
    const c = client();
    failuresLeft = 5;
    await expect(c.describeTables({ model: 'ctr' })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    expect(calls).toBe(3);
    c.close();
  });

  it('never retries a request the store rejected', async () => {
    const c = client();
    await expect(c.describeTables({ model: 'bad' })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'model: bad',
    });
    expect(calls).toBe(1);
    c.close();
  });

  it('fails within its deadline when nothing listens', async () => {
    const c = new StoreClient({ address: '127.0.0.1:1', tls: {}, timeoutMs: 300 });
    const started = Date.now();
    await expect(c.describeTables({ model: 'ctr' })).rejects.toMatchObject({
      code: expect.any(Number),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    c.close();
  });

  it('backs off with full jitter, capped', () => {
    const policy = { attempts: 5, baseDelayMs: 10, maxDelayMs: 50 };
    expect(backoffMs(policy, 1, () => 1)).toBe(10);
    expect(backoffMs(policy, 3, () => 1)).toBe(40);
    expect(backoffMs(policy, 6, () => 1)).toBe(50);
    expect(backoffMs(policy, 6, () => 0)).toBe(0);
  });
});

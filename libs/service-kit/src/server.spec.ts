import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { retriever } from '@embpress/proto';
import { InvalidArgumentError } from './errors';
import { ServiceHost } from './server';

describe('ServiceHost', () => {
  let host: ServiceHost;
  let client: retriever.RetrieverServiceClient;
  let release: () => void = () => undefined;

  beforeAll(async () => {
    host = new ServiceHost({
      name: 't',
      logger: pino({ level: 'silent' }),
      config: { host: '127.0.0.1', port: 0, tls: {}, shutdownGraceMs: 1000, maxInFlight: 2 },
    });
    host.addService<retriever.RetrieverServiceServer>(retriever.RetrieverServiceService, {
      retrieve: async (request) => {
        if (request.corpus === 'bad') throw new InvalidArgumentError('corpus', 'is bad');
        if (request.corpus === 'boom') throw new Error('secret internal detail');
        if (request.corpus === 'slow') await new Promise<void>((resolve) => (release = resolve));
        return { corpus: request.corpus, version: 'v1', passages: [] };
      },
    });
    await host.start();
    host.markServing();
    client = new retriever.RetrieverServiceClient(host.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await host.shutdown();
  });

  const call = (corpus: string) =>
    new Promise<ServiceError | retriever.RetrieveResponse>((resolve) =>
      client.retrieve(
        retriever.RetrieveRequest.fromPartial({ corpus }),
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (err, res) => resolve(err ?? res),
      ),
    );

  it('maps typed errors to their status and hides unexpected ones behind INTERNAL', async () => {
    expect(await call('bad')).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'corpus: is bad',
    });
    expect(await call('boom')).toMatchObject({ code: status.INTERNAL, details: 'internal error' });
  });

  it('sheds load over the in-flight limit with RESOURCE_EXHAUSTED instead of queueing', async () => {
    const releases: Array<() => void> = [];
    const first = call('slow');
    await new Promise((r) => setTimeout(r, 50));
    releases.push(release);
    const second = call('slow');
    await new Promise((r) => setTimeout(r, 50));
    releases.push(release);
    expect(await call('fast')).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    for (const r of releases) r();
    expect(await first).toMatchObject({ corpus: 'slow' });
    expect(await second).toMatchObject({ corpus: 'slow' });
    expect(await call('fast')).toMatchObject({ corpus: 'fast' });
  });
});

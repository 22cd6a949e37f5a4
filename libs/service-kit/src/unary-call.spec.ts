// unaryCall against a plain grpc-js server on 127.0.0.1:0: the response, the server's error with
// its code, and DEADLINE_EXCEEDED from a relative or an absolute deadline.
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServiceError,
} from '@grpc/grpc-js';
import { retriever } from '@embpress/proto';
import { unaryCall } from './unary-call';

describe('unaryCall', () => {
  let server: Server;
  let client: retriever.RetrieverServiceClient;
  const timers = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    server = new Server();
    const implementation: retriever.RetrieverServiceServer = {
      retrieve: (call, callback) => {
        const { corpus } = call.request;
        if (corpus === 'missing')
          return callback({ code: status.NOT_FOUND, details: 'no corpus "missing"' });
        // Answers after 1 s: longer than the deadlines the tests give it.
        const delayMs = corpus === 'slow' ? 1000 : 0;
        const timer = setTimeout(() => {
          timers.delete(timer);
          const version = String(call.metadata.get('x-version')[0] ?? 'v1');
          callback(null, { corpus, version, passages: [] });
        }, delayMs);
        timers.add(timer);
      },
    };
    server.addService(retriever.RetrieverServiceService, implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new retriever.RetrieverServiceClient(
      `127.0.0.1:${port}`,
      credentials.createInsecure(),
    );
  });
  afterAll(() => {
    for (const timer of timers) clearTimeout(timer);
    client.close();
    server.forceShutdown();
  });

  const request = (corpus: string) => retriever.RetrieveRequest.fromPartial({ corpus });

  it('resolves with the response of the (unbound) method, called on the client', async () => {
    const res = await unaryCall(client, client.retrieve, request('docs'), { timeoutMs: 5000 });
    expect(res).toEqual({ corpus: 'docs', version: 'v1', passages: [] });
  });

  it('sends the metadata it is given', async () => {
    const metadata = new Metadata();
    metadata.set('x-version', 'v9');
    const res = await unaryCall(client, client.retrieve, request('docs'), {
      deadline: Date.now() + 5000,
      metadata,
    });
    expect(res.version).toBe('v9');
  });

  it("rejects with the server's ServiceError and its code", async () => {
    const err = await unaryCall(client, client.retrieve, request('missing'), {
      timeoutMs: 5000,
    }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect({ code: err?.code, details: err?.details }).toEqual({
      code: status.NOT_FOUND,
      details: 'no corpus "missing"',
    });
  });

  it('rejects DEADLINE_EXCEEDED once a relative deadline has passed', async () => {
    const started = Date.now();
    await expect(
      unaryCall(client, client.retrieve, request('slow'), { timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('rejects DEADLINE_EXCEEDED once an absolute deadline has passed', async () => {
    await expect(
      unaryCall(client, client.retrieve, request('slow'), { deadline: Date.now() + 100 }),
    ).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });
});

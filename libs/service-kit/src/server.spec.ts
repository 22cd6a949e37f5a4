import { connect, type Settings } from 'node:http2';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { retriever } from '@embpress/proto';
import { InvalidArgumentError } from './errors';
import { ServiceHost } from './server';

describe('ServiceHost', () => {
  let host: ServiceHost;
  let client: retriever.RetrieverServiceClient;
  let release: () => void = () => undefined;
  /** Why the signal of the last 'watch-*' call aborted (its message), once it has. */
  let aborted: (reason: string) => void = () => undefined;
  const logLines: string[] = [];

  beforeAll(async () => {
    host = new ServiceHost({
      name: 't',
      logger: pino({ level: 'info' }, { write: (line: string) => logLines.push(line) }),
      config: { host: '127.0.0.1', port: 0, tls: {}, shutdownGraceMs: 1000, maxInFlight: 2 },
    });
    host.addService<retriever.RetrieverServiceServer>(retriever.RetrieverServiceService, {
      retrieve: async (request, ctx) => {
        if (request.corpus === 'bad') throw new InvalidArgumentError('corpus', 'is bad');
        if (request.corpus === 'boom') throw new Error('secret internal detail');
        if (request.corpus === 'slow') await new Promise<void>((resolve) => (release = resolve));
        if (request.corpus.startsWith('watch-')) {
          // The signal is made lazily: read it only after the call has waited a while.
          if (request.corpus === 'watch-late') await new Promise((r) => setTimeout(r, 300));
          const signal = ctx.signal;
          await new Promise<void>((resolve) => {
            const done = () => {
              aborted((signal.reason as Error).message);
              resolve();
            };
            if (signal.aborted) done();
            else signal.addEventListener('abort', done);
          });
        }
        if (request.corpus === 'log') ctx.logger.info('from the handler');
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

  const call = (corpus: string, deadlineMs = 5000) =>
    new Promise<ServiceError | retriever.RetrieveResponse>((resolve) =>
      client.retrieve(
        retriever.RetrieveRequest.fromPartial({ corpus }),
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
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

  it("aborts the call's signal at its deadline, also when the handler reads it late", async () => {
    for (const [corpus, deadline] of [
      ['watch-early', 100],
      ['watch-late', 100], // the deadline has passed when the handler first reads the signal
    ] as const) {
      const reason = new Promise<string>((resolve) => (aborted = resolve));
      expect(await call(corpus, deadline)).toMatchObject({ code: status.DEADLINE_EXCEEDED });
      if (corpus === 'watch-late') expect(await reason).toBe('deadline exceeded');
      // The server's deadline counts from when the request arrived, the client's from when it was
      // sent; on a loaded machine the client's own deadline timer may reset the stream before the
      // server's timer fires, and the server then sees a cancel. Either way the signal aborts.
      else expect(['deadline exceeded', 'cancelled by the caller']).toContain(await reason);
    }
  });

  it("aborts the call's signal when the caller cancels", async () => {
    const reason = new Promise<string>((resolve) => (aborted = resolve));
    const pending = client.retrieve(
      retriever.RetrieveRequest.fromPartial({ corpus: 'watch-cancel' }),
      new Metadata(),
      { deadline: Date.now() + 60_000 },
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, 100));
    pending.cancel();
    expect(await reason).toBe('cancelled by the caller');
  });

  it('gives the handler a logger that names the RPC', async () => {
    expect(await call('log')).toMatchObject({ corpus: 'log' });
    const line = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'from the handler');
    expect(line).toMatchObject({ rpc: '/embpress.retriever.v1.RetrieverService/Retrieve' });
  });
});

describe('ServiceHost flowControlWindowBytes', () => {
  it("advertises the stream window in SETTINGS and widens the connection's window", async () => {
    const window = 4 * 1024 * 1024;
    const host = new ServiceHost({
      name: 'w',
      logger: pino({ level: 'silent' }),
      config: { host: '127.0.0.1', port: 0, tls: {}, shutdownGraceMs: 1000, maxInFlight: 2 },
      flowControlWindowBytes: window,
    });
    host.addService<retriever.RetrieverServiceServer>(retriever.RetrieverServiceService, {
      retrieve: async (request) => ({ corpus: request.corpus, version: 'v1', passages: [] }),
    });
    await host.start();
    const session = connect(`http://${host.address}`);
    try {
      const settings = await new Promise<Settings>((resolve) =>
        session.once('remoteSettings', resolve),
      );
      expect(settings.initialWindowSize).toBe(window);
      // The connection window arrives as a WINDOW_UPDATE after the SETTINGS: poll for it.
      for (let i = 0; i < 500 && (session.state.remoteWindowSize ?? 0) < window; i += 1)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(session.state.remoteWindowSize).toBe(window);
    } finally {
      session.destroy();
      await host.shutdown();
    }
  });
});

// A ServiceHost under requests no client library sends: each gets a clear status, none crashes
// the process, and the in-flight byte bound refuses what would not fit.
import pino from 'pino';
import { status } from '@grpc/grpc-js';
import { retriever } from '@embpress/proto';
import { ServiceHost } from './server';
import { CORRUPT_COMPRESSED_MESSAGE, grpcFrame, rawGrpc } from './testing/raw-grpc';

const RETRIEVE = '/embpress.retriever.v1.RetrieverService/Retrieve';
const HEALTH = '/grpc.health.v1.Health/Check';
const retrieveBytes = (corpus: string) =>
  grpcFrame(Buffer.from(retriever.RetrieveRequest.encode({ ...empty, corpus }).finish()));
const empty = retriever.RetrieveRequest.fromPartial({});

describe('ServiceHost under malformed requests', () => {
  let host: ServiceHost;
  const releases: Array<() => void> = [];

  beforeAll(async () => {
    host = new ServiceHost({
      name: 't',
      logger: pino({ level: 'silent' }),
      maxReceiveBytes: 64 * 1024,
      config: {
        host: '127.0.0.1',
        port: 0,
        tls: {},
        shutdownGraceMs: 1000,
        maxInFlight: 100,
        maxInFlightBytes: 1000,
      },
    });
    host.addService<retriever.RetrieverServiceServer>(retriever.RetrieverServiceService, {
      retrieve: async (request, ctx) => {
        const [verb, amount] = request.corpus.split('-');
        if (verb === 'hold') {
          ctx.reserveBytes(Number(amount));
          await new Promise<void>((resolve) => releases.push(resolve));
        }
        return { corpus: request.corpus, version: 'v1', passages: [] };
      },
    });
    await host.start();
    host.markServing();
  });
  afterAll(async () => {
    for (const release of releases) release();
    await host.shutdown();
  });

  const stillServing = async () => {
    const reply = await rawGrpc(host.address, { path: HEALTH, body: grpcFrame(Buffer.alloc(0)) });
    expect(reply.grpcStatus).toBe(status.OK);
  };

  it.each([
    ['gzip', HEALTH],
    ['deflate', HEALTH],
    ['gzip', RETRIEVE],
  ])('answers a corrupt %s message to %s with INTERNAL and keeps serving', async (enc, path) => {
    const reply = await rawGrpc(host.address, {
      path,
      body: CORRUPT_COMPRESSED_MESSAGE,
      headers: { 'grpc-encoding': enc },
    });
    expect(reply).toMatchObject({ grpcStatus: status.INTERNAL });
    expect(reply.grpcMessage).toMatch(/decompress/);
    const emptyFrame = await rawGrpc(host.address, {
      path,
      body: grpcFrame(Buffer.alloc(0), true),
      headers: { 'grpc-encoding': enc },
    });
    expect(emptyFrame.grpcStatus).toBe(status.INTERNAL);
    await stillServing();
  });

  it('answers a malformed grpc-timeout with INVALID_ARGUMENT naming the header', async () => {
    for (const timeout of ['1x', '123456789S', '5 S', 'S', 'abc5S', '-1S']) {
      const reply = await rawGrpc(host.address, {
        path: RETRIEVE,
        body: retrieveBytes('c'),
        headers: { 'grpc-timeout': timeout },
      });
      expect({ timeout, ...reply }).toMatchObject({ timeout, grpcStatus: status.INVALID_ARGUMENT });
      expect(reply.grpcMessage).toContain('grpc-timeout');
    }
    const valid = await rawGrpc(host.address, {
      path: RETRIEVE,
      body: retrieveBytes('c'),
      headers: { 'grpc-timeout': '5000m' },
    });
    expect(valid.grpcStatus).toBe(status.OK);
  });

  it('answers a truncated body with INVALID_ARGUMENT, not UNIMPLEMENTED', async () => {
    const whole = retrieveBytes('corpus');
    const reply = await rawGrpc(host.address, { path: RETRIEVE, body: whole.subarray(0, 8) });
    expect(reply).toMatchObject({ grpcStatus: status.INVALID_ARGUMENT });
    expect(reply.grpcMessage).toMatch(/truncated/);
    const none = await rawGrpc(host.address, { path: RETRIEVE, body: Buffer.alloc(0) });
    expect(none.grpcStatus).toBe(status.INVALID_ARGUMENT);
    await stillServing();
  });

  it('refuses a message over the receive limit from its length prefix', async () => {
    const reply = await rawGrpc(host.address, {
      path: RETRIEVE,
      body: grpcFrame(Buffer.alloc(10), false, 100 * 1024 * 1024),
    });
    expect(reply.grpcStatus).toBe(status.RESOURCE_EXHAUSTED);
    await stillServing();
  });

  it('bounds the bytes held by the calls in flight', async () => {
    const first = rawGrpc(host.address, { path: RETRIEVE, body: retrieveBytes('hold-600') });
    await new Promise((r) => setTimeout(r, 100));
    const over = await rawGrpc(host.address, { path: RETRIEVE, body: retrieveBytes('hold-600') });
    expect(over.grpcStatus).toBe(status.RESOURCE_EXHAUSTED);
    expect(over.grpcMessage).toMatch(/bytes in flight/);
    const alone = await rawGrpc(host.address, { path: RETRIEVE, body: retrieveBytes('hold-5000') });
    expect(alone.grpcMessage).toMatch(/more than this server's bound of 1000 bytes/);
    for (const release of releases.splice(0)) release();
    expect((await first).grpcStatus).toBe(status.OK);
    // Released: the same reservation fits again.
    const again = rawGrpc(host.address, { path: RETRIEVE, body: retrieveBytes('hold-600') });
    await new Promise((r) => setTimeout(r, 100));
    for (const release of releases.splice(0)) release();
    expect((await again).grpcStatus).toBe(status.OK);
  });
});

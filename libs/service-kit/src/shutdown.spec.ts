import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { retriever } from '@embpress/proto';

function startFixture(env: Record<string, string>) {
  const child = fork(join(__dirname, '__fixtures__', 'slow-server.ts'), [], {
    execArgv: ['--require', 'tsx/cjs'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const port = new Promise<number>((resolve, reject) => {
    child.on('message', (m: { port: number }) => resolve(m.port));
    void exited.then(() => reject(new Error('fixture exited before ready')));
  });
  return { child, exited, port };
}

function retrieve(
  client: retriever.RetrieverServiceClient,
): Promise<ServiceError | retriever.RetrieveResponse> {
  return new Promise((resolve) =>
    client.retrieve(
      retriever.RetrieveRequest.fromPartial({
        corpus: 'docs',
        k: 1,
        query: { $case: 'text', value: 'q' },
      }),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => resolve(err ?? res),
    ),
  );
}

describe('graceful shutdown on SIGTERM', () => {
  it('finishes the in-flight call, refuses new ones, and exits 0 within the grace period', async () => {
    const fixture = startFixture({ SLOW_MS: '1500', GRACE_MS: '5000' });
    const port = await fixture.port;
    const client = new retriever.RetrieverServiceClient(
      `127.0.0.1:${port}`,
      credentials.createInsecure(),
    );
    try {
      const slow = retrieve(client);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the call is in flight
      const signalledAt = Date.now();
      fixture.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 200));

      const late = await retrieve(client);
      expect((late as ServiceError).code).toBe(status.UNAVAILABLE);

      const result = await slow;
      expect(result).toEqual({ corpus: 'docs', version: 'v1', passages: [] });
      expect(await fixture.exited).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(5000);
    } finally {
      client.close();
      fixture.child.kill('SIGKILL');
    }
  });

  it('cancels calls still running when the grace period ends, and still exits 0', async () => {
    const fixture = startFixture({ SLOW_MS: '8000', GRACE_MS: '500' });
    const port = await fixture.port;
    const client = new retriever.RetrieverServiceClient(
      `127.0.0.1:${port}`,
      credentials.createInsecure(),
    );
    try {
      const slow = retrieve(client);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const signalledAt = Date.now();
      fixture.child.kill('SIGTERM');
      const result = await slow;
      expect((result as ServiceError).code).toBeDefined();
      expect(await fixture.exited).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(3000);
    } finally {
      client.close();
      fixture.child.kill('SIGKILL');
    }
  });
});

import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

// The exporters run in a child process (see __fixtures__/otlp-export.ts); this loopback server
// stands in for an OTLP/HTTP collector and records which paths were posted to.
describe('startTelemetry with otlpEndpoint (child process)', () => {
  const posts: { path: string; bytes: number }[] = [];
  const collector = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', bytes });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  beforeAll(() => new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve)));
  afterAll(() => new Promise<void>((resolve) => collector.close(() => resolve())));

  it('posts traces to /v1/traces and metrics to /v1/metrics', async () => {
    const { port } = collector.address() as AddressInfo;
    await promisify(execFile)(
      process.execPath,
      ['--require', require.resolve('tsx/cjs'), join(__dirname, '__fixtures__', 'otlp-export.ts')],
      {
        // Trailing slash on purpose: it must not produce `//v1/traces`.
        env: { ...process.env, FIXTURE_OTLP_ENDPOINT: `http://127.0.0.1:${port}/` },
        timeout: 25_000,
      },
    );

    const paths = posts.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['/v1/traces', '/v1/metrics']));
    expect(posts.every((p) => p.bytes > 0)).toBe(true);
  });
});

// End-to-end: real grpc-js server + client in a child process. It has to be a separate process:
// jest loads modules through its own registry, which bypasses the require-in-the-middle hook
// GrpcInstrumentation relies on, so in-jest gRPC calls would never be traced.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { JsonlSpanRecord } from './jsonl-span-exporter';

interface FixtureOutput {
  reply: string;
  prometheusPort: number;
  metricsText: string;
}

describe('startTelemetry in a gRPC process (child process)', () => {
  let dir: string;
  let spans: JsonlSpanRecord[];
  let output: FixtureOutput;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'telemetry-e2e-'));
    const spansFile = join(dir, 'spans.jsonl');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--require', require.resolve('tsx/cjs'), join(__dirname, '__fixtures__', 'grpc-echo.ts')],
      { env: { ...process.env, FIXTURE_SPANS_FILE: spansFile }, timeout: 25_000 },
    );
    output = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as FixtureOutput;
    spans = readFileSync(spansFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as JsonlSpanRecord);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('made the call', () => {
    expect(output.reply).toBe('hello');
  });

  it('wrote a CLIENT span that is an ancestor of the SERVER span, in one trace', () => {
    const client = spans.find((s) => s.kind === 'CLIENT');
    const server = spans.find((s) => s.kind === 'SERVER');
    expect(client).toBeDefined();
    expect(server).toBeDefined();
    if (!client || !server) return;

    expect(server.traceId).toBe(client.traceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const ancestors: string[] = [];
    for (let s = byId.get(server.parentSpanId ?? ''); s; s = byId.get(s.parentSpanId ?? '')) {
      ancestors.push(s.spanId);
    }
    expect(ancestors).toContain(client.spanId);

    for (const span of [client, server]) {
      expect(span.attributes).toMatchObject({
        'rpc.system': 'grpc',
        'rpc.service': 'test.Echo',
        'rpc.method': 'Say',
        'rpc.grpc.status_code': 0,
      });
      expect(span.resource['service.name']).toBe('fixture');
    }
  });

  it('served rpc.server.duration on the ephemeral Prometheus port', () => {
    expect(output.prometheusPort).toBeGreaterThan(0);
    expect(output.metricsText).toContain('# TYPE rpc_server_duration histogram');
    expect(output.metricsText).toMatch(
      /rpc_server_duration_count\{[^}]*rpc_service="test\.Echo"[^}]*rpc_method="Say"[^}]*\} 1/,
    );
  });
});

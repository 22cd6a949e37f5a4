// Two real services (store and ranker, each its own `embpress serve` process on 127.0.0.1:0):
// a Rank call goes ranker → store client → store, and both processes write their spans to one
// JSONL file. The trace must connect across the hop.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ranker } from '@embpress/proto';
import { healthStatus, reflectedServices } from '@embpress/service-kit/testing';
import { readyPort, runCli, type CliProcess } from '@embpress/cli/testing';

interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: string;
  resource: Record<string, unknown>;
}

function rank(
  port: number,
  request: Partial<ranker.RankRequest>,
): Promise<ServiceError | ranker.RankResponse> {
  const client = new ranker.RankerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise((resolve) => {
    client.rank(
      ranker.RankRequest.fromPartial(request),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        resolve(err ?? res);
      },
    );
  });
}

describe('ranker → store traced call', () => {
  let dir: string;
  let store: CliProcess;
  let rankerProc: CliProcess;
  let rankerPort: number;
  const spansFile = () => join(dir, 'spans.jsonl');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'embpress-trace-'));
    const common = { EMBPRESS_SPANS_FILE: spansFile(), EMBPRESS_LOG_LEVEL: 'warn' };
    store = runCli(['serve', 'store'], { ...common, EMBPRESS_STORE_PORT: '0' });
    const storePort = await readyPort(store);
    rankerProc = runCli(['serve', 'ranker'], {
      ...common,
      EMBPRESS_RANKER_PORT: '0',
      EMBPRESS_RANKER_STORE_ADDRESS: `127.0.0.1:${storePort}`,
    });
    rankerPort = await readyPort(rankerProc);
  });

  afterAll(async () => {
    for (const proc of [rankerProc, store]) {
      if (proc !== undefined && proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports SERVING and lists its services through reflection', async () => {
    expect(await healthStatus(`127.0.0.1:${rankerPort}`)).toBe('SERVING');
    expect(await healthStatus(`127.0.0.1:${rankerPort}`, 'embpress.ranker.v1.RankerService')).toBe(
      'SERVING',
    );
    expect(await reflectedServices(`127.0.0.1:${rankerPort}`)).toEqual([
      'embpress.ranker.v1.RankerService',
      'grpc.health.v1.Health',
    ]);
  });

  it('answers a bad request with INVALID_ARGUMENT naming the field', async () => {
    const result = await rank(rankerPort, {
      model: 'ctr',
      candidates: [
        { id: 'a', features: [{ name: 'I1', value: { $case: 'numeric', value: NaN } }] },
      ],
    });
    expect((result as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((result as ServiceError).details).toBe(
      'candidates[0].features[0].numeric: must be a finite number, got NaN',
    );

    const empty = await rank(rankerPort, { model: 'ctr', candidates: [] });
    expect((empty as ServiceError).details).toBe('candidates: must not be empty');
  });

  it('traces a call through the store client to the store with one trace id', async () => {
    const result = await rank(rankerPort, {
      model: 'ctr',
      candidates: [
        { id: 'a', features: [{ name: 'C1', value: { $case: 'categorical', value: '68fd1e64' } }] },
      ],
    });
    // No model is loaded in this store: it says so and the ranker passes it on.
    expect((result as ServiceError).code).toBe(status.NOT_FOUND);
    expect((result as ServiceError).details).toMatch(
      /^store DescribeTables: shard "store" \(127\.0\.0\.1:\d+\): model "ctr" has no loaded version$/,
    );

    // Stop both gracefully: shutdown flushes their spans.
    rankerProc.child.kill('SIGTERM');
    store.child.kill('SIGTERM');
    expect((await rankerProc.exit).code).toBe(0);
    expect((await store.exit).code).toBe(0);

    const spans: SpanLine[] = readFileSync(spansFile(), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SpanLine);
    const client = spans.find(
      (s) => s.kind === 'CLIENT' && s.name.endsWith('EmbeddingStoreService/DescribeTables'),
    );
    const rankServer = spans.find((s) => s.spanId === client?.parentSpanId);
    const server = spans.find((s) => s.kind === 'SERVER' && s.parentSpanId === client?.spanId);
    expect(client?.resource['service.name']).toBe('embpress-ranker');
    expect(rankServer).toMatchObject({
      kind: 'SERVER',
      name: expect.stringMatching(/RankerService\/Rank$/),
      traceId: client?.traceId,
    });
    expect(rankServer?.resource['service.name']).toBe('embpress-ranker');
    expect(server).toMatchObject({
      name: expect.stringMatching(/EmbeddingStoreService\/DescribeTables$/),
      traceId: client?.traceId,
    });
    expect(server?.resource['service.name']).toBe('embpress-store');
  });
});

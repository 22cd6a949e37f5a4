import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentTraceIds, startTelemetry } from './telemetry';
import type { JsonlSpanRecord } from './jsonl-span-exporter';
import { rpcServerDuration } from './instruments';

// One startTelemetry() per jest file: providers are process (here: test-file) globals.
describe('startTelemetry (in-process, JSONL spans)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'telemetry-'));
  const spansFile = join(dir, 'spans.jsonl');
  const telemetry = startTelemetry({ serviceName: 'unit', serviceVersion: '0.0.1', spansFile });
  afterAll(async () => {
    await telemetry.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a second start', () => {
    expect(() => startTelemetry({ serviceName: 'again' })).toThrow(/already called/);
  });

  it('exposes the active span ids and writes spans on flush', async () => {
    expect(currentTraceIds()).toEqual({});
    let ids: ReturnType<typeof currentTraceIds> = {};
    // Async callback: the AsyncLocalStorage context manager must carry the span across awaits.
    await telemetry.tracer.startActiveSpan('work', async (span) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      ids = currentTraceIds();
      span.end();
    });
    await telemetry.flush();

    expect(ids.traceId).toMatch(/^[0-9a-f]{32}$/);
    const records = readFileSync(spansFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as JsonlSpanRecord);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      name: 'work',
      kind: 'INTERNAL',
      traceId: ids.traceId,
      spanId: ids.spanId,
      resource: { 'service.name': 'unit', 'service.version': '0.0.1' },
    });
  });

  it('has no Prometheus port unless asked, and shuts down idempotently', async () => {
    await expect(telemetry.prometheusPort()).resolves.toBeUndefined();
    rpcServerDuration().record(1, { 'rpc.service': 's', 'rpc.method': 'm' });
    await telemetry.shutdown();
    await expect(telemetry.shutdown()).resolves.toBeUndefined();
  });
});

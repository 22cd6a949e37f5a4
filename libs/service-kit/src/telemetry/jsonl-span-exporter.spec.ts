import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonlSpanExporter } from './jsonl-span-exporter';
import type { JsonlSpanRecord } from './jsonl-span-exporter';

const readRecords = (file: string): JsonlSpanRecord[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as JsonlSpanRecord);

describe('JsonlSpanExporter', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'jsonl-span-exporter-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one JSON line per span with ids, kind, status, times and resource', async () => {
    // Parent directories do not exist yet: the exporter creates them.
    const file = join(dir, 'nested', 'spans.jsonl');
    const exporter = new JsonlSpanExporter(file);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'unit', 'service.version': '1.2.3' }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('test');

    const parent = tracer.startSpan('parent', {
      kind: SpanKind.SERVER,
      startTime: [1_700_000_000, 0],
      attributes: { 'rpc.method': 'Say' },
    });
    const child = tracer.startSpan(
      'child',
      { kind: SpanKind.CLIENT, startTime: [1_700_000_000, 100_000_000] },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
    child.addEvent('retry', { attempt: 2 }, [1_700_000_000, 200_000_000]);
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    child.end([1_700_000_000, 350_000_000]);
    parent.setStatus({ code: SpanStatusCode.OK });
    parent.end([1_700_000_001, 500_000_000]);
    await provider.forceFlush();

    const [childRec, parentRec] = readRecords(file);
    expect(childRec).toEqual({
      traceId: parent.spanContext().traceId,
      spanId: child.spanContext().spanId,
      parentSpanId: parent.spanContext().spanId,
      name: 'child',
      kind: 'CLIENT',
      startTimeUnixNano: '1700000000100000000',
      endTimeUnixNano: '1700000000350000000',
      durationMs: 250,
      status: { code: 'ERROR', message: 'boom' },
      attributes: {},
      events: [{ name: 'retry', timeUnixNano: '1700000000200000000', attributes: { attempt: 2 } }],
      resource: { 'service.name': 'unit', 'service.version': '1.2.3' },
    });
    expect(parentRec).toMatchObject({
      spanId: parent.spanContext().spanId,
      parentSpanId: null,
      kind: 'SERVER',
      durationMs: 1500,
      status: { code: 'OK' },
      attributes: { 'rpc.method': 'Say' },
      events: [],
    });
    expect(parentRec?.status).not.toHaveProperty('message');

    await provider.shutdown();
  });

  it('appends to an existing file shared with another writer, and fails after shutdown', async () => {
    const file = join(dir, 'shared.jsonl');
    const a = new JsonlSpanExporter(file);
    const b = new JsonlSpanExporter(file);
    const providerA = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(a)] });
    const providerB = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(b)] });
    for (let i = 0; i < 50; i++) {
      providerA.getTracer('a').startSpan(`a${i}`).end();
      providerB.getTracer('b').startSpan(`b${i}`).end();
    }
    await Promise.all([providerA.shutdown(), providerB.shutdown()]);

    const names = readRecords(file).map((r) => r.name);
    expect(names).toHaveLength(100);
    expect(names.slice(0, 2)).toEqual(['a0', 'b0']);

    const result = await new Promise((resolve) => a.export([], resolve));
    expect(result).toMatchObject({ code: ExportResultCode.FAILED });
    await expect(a.shutdown()).resolves.toBeUndefined(); // idempotent
  });
});

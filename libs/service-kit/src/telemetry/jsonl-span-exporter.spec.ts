import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonlSpanExporter, toJsonlLine, toJsonlSpanRecord } from './jsonl-span-exporter';
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

  it('writes each line as JSON.stringify of its record (the resource serialized once)', async () => {
    const spans: Parameters<typeof toJsonlLine>[0][] = [];
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'unit', 'host.name': 'h"1' }),
      spanProcessors: [
        new SimpleSpanProcessor({
          export: (batch, done) => {
            spans.push(...batch);
            done({ code: ExportResultCode.SUCCESS });
          },
          shutdown: async () => undefined,
        }),
      ],
    });
    const tracer = provider.getTracer('test');
    // Nanoseconds that need zero padding, an epoch-0 time, events, status, attributes.
    const a = tracer.startSpan('a', { startTime: [1_700_000_000, 5], attributes: { n: 1 } });
    a.addEvent('e', { x: 'y' }, [1_700_000_000, 42_000]);
    a.setStatus({ code: SpanStatusCode.ERROR, message: 'no' });
    a.end([1_700_000_001, 999_999_999]);
    tracer.startSpan('b', { startTime: [0, 7] }).end([0, 9]);
    await provider.forceFlush();
    expect(spans).toHaveLength(2);
    for (const span of spans) {
      const line = toJsonlLine(span);
      expect(line).toBe(JSON.stringify(toJsonlSpanRecord(span)));
      expect(toJsonlLine(span)).toBe(line);
    }
    expect(JSON.parse(toJsonlLine(spans[0] as (typeof spans)[number]))).toMatchObject({
      startTimeUnixNano: '1700000000000000005',
      endTimeUnixNano: '1700000001999999999',
      events: [{ timeUnixNano: '1700000000000042000' }],
    });
    expect(JSON.parse(toJsonlLine(spans[1] as (typeof spans)[number])).startTimeUnixNano).toBe('7');
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

  describe('buffered', () => {
    const spansOf = (provider: BasicTracerProvider, prefix: string, n: number) => {
      for (let i = 0; i < n; i++) provider.getTracer('t').startSpan(`${prefix}${i}`).end();
    };
    const count = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).length;

    it('holds lines until forceFlush, then writes all of them in order; shutdown writes the rest', async () => {
      const file = join(dir, 'buffered.jsonl');
      // An interval no test waits for: only forceFlush/shutdown can have written the lines.
      const exporter = new JsonlSpanExporter(file, {
        flushIntervalMs: 3_600_000,
        maxBufferedBytes: 1 << 30,
      });
      const provider = new BasicTracerProvider({
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      });
      spansOf(provider, 's', 100);
      expect(count(file)).toBe(0);
      await exporter.forceFlush();
      expect(readRecords(file).map((r) => r.name)).toEqual(
        Array.from({ length: 100 }, (_, i) => `s${i}`),
      );
      spansOf(provider, 't', 7);
      expect(count(file)).toBe(100);
      await provider.shutdown();
      expect(count(file)).toBe(107);
      expect(process.listeners('exit')).not.toContain(
        (exporter as unknown as { flushOnExit: () => void }).flushOnExit,
      );
    });

    it('writes as soon as the buffer reaches its byte limit', () => {
      const file = join(dir, 'full.jsonl');
      const exporter = new JsonlSpanExporter(file, {
        flushIntervalMs: 3_600_000,
        maxBufferedBytes: 1,
      });
      const provider = new BasicTracerProvider({
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      });
      spansOf(provider, 'x', 3);
      expect(count(file)).toBe(3);
      return provider.shutdown();
    });

    it('writes after the flush interval without being asked', async () => {
      const file = join(dir, 'timed.jsonl');
      const exporter = new JsonlSpanExporter(file, {
        flushIntervalMs: 5,
        maxBufferedBytes: 1 << 30,
      });
      const provider = new BasicTracerProvider({
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      });
      spansOf(provider, 'y', 2);
      expect(count(file)).toBe(0);
      // Polls (no fixed sleep): the timer fires once the event loop gets to it.
      for (let waited = 0; count(file) < 2 && waited < 10_000; waited += 10)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(count(file)).toBe(2);
      await provider.shutdown();
    });
  });
});

import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Attributes, HrTime } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** One line of the JSONL file: a finished span, flattened for `jq`/grep and for tests. */
export interface JsonlSpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  /** `SpanKind` name: SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER. */
  kind: string;
  /** Nanoseconds since the epoch, as a string: the value does not fit a JSON double. */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  durationMs: number;
  status: { code: string; message?: string };
  attributes: Attributes;
  events: { name: string; timeUnixNano: string; attributes: Attributes }[];
  resource: Record<string, unknown>;
}

const hrTimeToNanos = (time: HrTime): bigint => BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);

export function toJsonlSpanRecord(span: ReadableSpan): JsonlSpanRecord {
  const { traceId, spanId } = span.spanContext();
  const status: JsonlSpanRecord['status'] = { code: SpanStatusCode[span.status.code] };
  if (span.status.message) status.message = span.status.message;
  return {
    traceId,
    spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    name: span.name,
    kind: SpanKind[span.kind],
    startTimeUnixNano: hrTimeToNanos(span.startTime).toString(),
    endTimeUnixNano: hrTimeToNanos(span.endTime).toString(),
    durationMs: span.duration[0] * 1e3 + span.duration[1] / 1e6,
    status,
    attributes: span.attributes,
    events: span.events.map((event) => ({
      name: event.name,
      timeUnixNano: hrTimeToNanos(event.time).toString(),
      attributes: event.attributes ?? {},
    })),
    resource: { ...span.resource.attributes },
  };
}

/**
 * Appends one JSON object per finished span, one per line, to `filePath`.
 *
 * Writes are synchronous, one `appendFileSync` per complete line on a descriptor opened with
 * O_APPEND: the kernel then never interleaves two writers inside a line, so several processes
 * (every service of a local stack) can share one file. Because every line reaches the kernel
 * before `export` reports success, `forceFlush`/`shutdown` only have to fsync.
 */
export class JsonlSpanExporter implements SpanExporter {
  private fd: number | undefined;

  constructor(readonly filePath: string) {
    mkdirSync(dirname(filePath), { recursive: true });
    this.fd = openSync(filePath, 'a');
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.fd === undefined) {
      resultCallback({
        code: ExportResultCode.FAILED,
        error: new Error('JsonlSpanExporter is shut down'),
      });
      return;
    }
    try {
      for (const span of spans) {
        appendFileSync(this.fd, `${JSON.stringify(toJsonlSpanRecord(span))}\n`);
      }
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  async forceFlush(): Promise<void> {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  async shutdown(): Promise<void> {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fsyncSync(fd);
    closeSync(fd);
  }
}

import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
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

/** Nanoseconds since the epoch as decimal text, without BigInt arithmetic (hot: 2 per span). */
function hrTimeToNanos(time: HrTime): string {
  const [seconds, nanos] = time;
  return seconds === 0 ? String(nanos) : `${seconds}${String(nanos).padStart(9, '0')}`;
}

export function toJsonlSpanRecord(span: ReadableSpan): JsonlSpanRecord {
  return { ...spanFields(span), resource: { ...span.resource.attributes } };
}

/** Every field of the record but the resource, in the record's order. */
function spanFields(span: ReadableSpan): Omit<JsonlSpanRecord, 'resource'> {
  const { traceId, spanId } = span.spanContext();
  const status: JsonlSpanRecord['status'] = { code: SpanStatusCode[span.status.code] };
  if (span.status.message) status.message = span.status.message;
  return {
    traceId,
    spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    name: span.name,
    kind: SpanKind[span.kind],
    startTimeUnixNano: hrTimeToNanos(span.startTime),
    endTimeUnixNano: hrTimeToNanos(span.endTime),
    durationMs: span.duration[0] * 1e3 + span.duration[1] / 1e6,
    status,
    attributes: span.attributes,
    events: span.events.map((event) => ({
      name: event.name,
      timeUnixNano: hrTimeToNanos(event.time),
      attributes: event.attributes ?? {},
    })),
  };
}

/** A process's resource is the same object on every span: its JSON is built once. */
const resourceJson = new WeakMap<object, string>();

/**
 * `JSON.stringify(toJsonlSpanRecord(span))`, the same text, with the resource (the record's last
 * field, a dozen attributes repeated on every line) serialized once per resource.
 */
export function toJsonlLine(span: ReadableSpan): string {
  let resource = resourceJson.get(span.resource);
  if (resource === undefined) {
    resource = JSON.stringify({ ...span.resource.attributes });
    // A resource whose detectors are still running may gain attributes: not cached until done.
    if (span.resource.asyncAttributesPending !== true) resourceJson.set(span.resource, resource);
  }
  const body = JSON.stringify(spanFields(span));
  return `${body.slice(0, -1)},"resource":${resource}}`;
}

/** Buffering of a JsonlSpanExporter; without it every span is written as it ends. */
export interface JsonlBuffering {
  /** Buffered lines are written at most this long after the first of them (an unref'd timer). */
  flushIntervalMs: number;
  /** ... or as soon as they reach this many bytes (UTF-16 code units, near enough). */
  maxBufferedBytes: number;
}

/** What services use: at 3,000 RPCs/s, ~30 writes/s instead of 3,000. */
export const SERVICE_JSONL_BUFFERING: JsonlBuffering = {
  flushIntervalMs: 200,
  maxBufferedBytes: 256 * 1024,
};

/**
 * Appends one JSON object per finished span, one per line, to `filePath`.
 *
 * Every write is one `writeSync` of whole lines on a descriptor opened with O_APPEND: the kernel
 * then never interleaves two writers inside a line, so several processes (every service of a local
 * stack) can share one file.
 *
 * Unbuffered (the default), each span is written when `export` is called: a span is in the file as
 * soon as it ends, and `forceFlush`/`shutdown` only fsync. Buffered (`buffering`), lines are
 * collected and written in one call when the buffer is full or `flushIntervalMs` after the first
 * buffered line, and on forceFlush, shutdown and process exit. No span is dropped (the buffer is
 * bounded by its byte limit, not by discarding); a process killed with SIGKILL loses at most the
 * last interval. The cost that buffering removes is one write system call per RPC.
 */
export class JsonlSpanExporter implements SpanExporter {
  private fd: number | undefined;
  private lines: string[] = [];
  private bufferedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushOnExit = () => this.writeBuffered();

  constructor(
    readonly filePath: string,
    private readonly buffering?: JsonlBuffering,
  ) {
    mkdirSync(dirname(filePath), { recursive: true });
    this.fd = openSync(filePath, 'a');
    if (buffering !== undefined) process.on('exit', this.flushOnExit);
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
      if (this.buffering === undefined) {
        for (const span of spans) {
          appendFileSync(this.fd, `${toJsonlLine(span)}\n`);
        }
      } else {
        for (const span of spans) {
          const line = `${toJsonlLine(span)}\n`;
          this.lines.push(line);
          this.bufferedBytes += line.length;
        }
        if (this.bufferedBytes >= this.buffering.maxBufferedBytes) this.writeBuffered();
        else if (this.timer === undefined && this.lines.length > 0) {
          this.timer = setTimeout(() => this.writeBuffered(), this.buffering.flushIntervalMs);
          this.timer.unref();
        }
      }
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  async forceFlush(): Promise<void> {
    if (this.fd === undefined) return;
    this.writeBuffered();
    fsyncSync(this.fd);
  }

  async shutdown(): Promise<void> {
    if (this.fd === undefined) return;
    this.writeBuffered();
    const fd = this.fd;
    this.fd = undefined;
    process.removeListener('exit', this.flushOnExit);
    fsyncSync(fd);
    closeSync(fd);
  }

  /** Writes what is buffered, in one system call (a full write loop for the rare short write). */
  private writeBuffered(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.lines.length === 0 || this.fd === undefined) return;
    const bytes = Buffer.from(this.lines.join(''), 'utf8');
    this.lines = [];
    this.bufferedBytes = 0;
    for (let written = 0; written < bytes.length; )
      written += writeSync(this.fd, bytes, written, bytes.length - written);
  }
}

// Finished spans read back from a file, in one shape whatever wrote them:
//  - the JSONL span exporter of libs/service-kit (EMBPRESS_SPANS_FILE; `npm start` writes
//    var/traces/spans.jsonl): one flattened span per line;
//  - an OTLP JSON export (an ExportTraceServiceRequest: `{"resourceSpans": [...]}`), either one
//    document or one per line, as the OpenTelemetry Collector's file exporter writes them.
import { existsSync, readFileSync } from 'node:fs';
import { BenchSetupError } from '../bench-setup-error';

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  /** SERVER, CLIENT, INTERNAL, PRODUCER or CONSUMER. */
  kind: string;
  /** The resource's service.name ('' when absent). */
  service: string;
  /** Start, in milliseconds since the epoch (microsecond precision). */
  startMs: number;
  durationMs: number;
  error: boolean;
  attributes: Record<string, unknown>;
}

/** Nanoseconds since the epoch (decimal text or a number) to milliseconds, µs kept. */
function nanosToMs(value: unknown): number {
  if (typeof value === 'number') return value / 1e6;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return Number.NaN;
  return Number(BigInt(value) / 1000n) / 1000;
}

/** A line of the JSONL exporter (libs/service-kit/src/telemetry/jsonl-span-exporter.ts). */
function fromJsonlRecord(r: Record<string, unknown>): Span {
  const resource = (r.resource ?? {}) as Record<string, unknown>;
  const status = (r.status ?? {}) as { code?: unknown };
  const startMs = nanosToMs(r.startTimeUnixNano);
  const durationMs =
    typeof r.durationMs === 'number' ? r.durationMs : nanosToMs(r.endTimeUnixNano) - startMs;
  return {
    traceId: String(r.traceId ?? ''),
    spanId: String(r.spanId ?? ''),
    parentSpanId: typeof r.parentSpanId === 'string' ? r.parentSpanId : null,
    name: String(r.name ?? ''),
    kind: String(r.kind ?? 'INTERNAL'),
    service: String(resource['service.name'] ?? ''),
    startMs,
    durationMs,
    error: status.code === 'ERROR',
    attributes: (r.attributes ?? {}) as Record<string, unknown>,
  };
}

// ---- OTLP JSON (opentelemetry-proto, JSON encoding: enums as numbers or names, ids in hex) ----

const OTLP_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

interface OtlpKeyValue {
  key: string;
  value?: Record<string, unknown>;
}

function otlpValue(v: Record<string, unknown> | undefined): unknown {
  if (v === undefined) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  // int64 travels as a string in JSON.
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) {
    const values = ((v.arrayValue as { values?: Record<string, unknown>[] }).values ?? []).map(
      otlpValue,
    );
    return values;
  }
  return undefined;
}

function otlpAttributes(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list as OtlpKeyValue[]) out[kv.key] = otlpValue(kv.value);
  return out;
}

function otlpKind(kind: unknown): string {
  if (typeof kind === 'number') return OTLP_KINDS[kind] ?? 'INTERNAL';
  if (typeof kind === 'string') return kind.replace(/^SPAN_KIND_/, '');
  return 'INTERNAL';
}

function otlpError(status: unknown): boolean {
  const code = (status as { code?: unknown } | undefined)?.code;
  return code === 2 || code === 'STATUS_CODE_ERROR';
}

/** The spans of one ExportTraceServiceRequest document. */
function fromOtlpDocument(doc: { resourceSpans?: unknown }): Span[] {
  const out: Span[] = [];
  for (const rs of (doc.resourceSpans ?? []) as Record<string, unknown>[]) {
    const resource = otlpAttributes(
      (rs.resource as { attributes?: unknown } | undefined)?.attributes,
    );
    const scopes = (rs.scopeSpans ?? rs.instrumentationLibrarySpans ?? []) as {
      spans?: Record<string, unknown>[];
    }[];
    for (const scope of scopes)
      for (const s of scope.spans ?? []) {
        const startMs = nanosToMs(s.startTimeUnixNano);
        const parent = typeof s.parentSpanId === 'string' ? s.parentSpanId : '';
        out.push({
          traceId: String(s.traceId ?? ''),
          spanId: String(s.spanId ?? ''),
          parentSpanId: parent === '' ? null : parent,
          name: String(s.name ?? ''),
          kind: otlpKind(s.kind),
          service: String(resource['service.name'] ?? ''),
          startMs,
          durationMs: nanosToMs(s.endTimeUnixNano) - startMs,
          error: otlpError(s.status),
          attributes: otlpAttributes(s.attributes),
        });
      }
  }
  return out;
}

/** Spans of JSONL exporter lines or OTLP JSON documents (whole text or one per line). */
export function parseSpans(text: string, source = 'spans'): Span[] {
  const trimmed = text.trimStart();
  if (trimmed === '') return [];
  // One pretty-printed OTLP document (several lines, one JSON value).
  if (trimmed.startsWith('{') && /^\{\s*"resourceSpans"/.test(trimmed)) {
    try {
      return fromOtlpDocument(JSON.parse(trimmed) as { resourceSpans?: unknown });
    } catch {
      // not one document: one per line, below
    }
  }
  const spans: Span[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // A process killed while writing leaves at most its last line cut: that one is skipped.
      if (i === lines.length - 1 || lines.slice(i + 1).every((l) => l.trim() === '')) return;
      throw new BenchSetupError(`${source}:${i + 1}: not a JSON line`);
    }
    if (typeof value !== 'object' || value === null)
      throw new BenchSetupError(`${source}:${i + 1}: not a span object`);
    if ('resourceSpans' in value) spans.push(...fromOtlpDocument(value));
    else spans.push(fromJsonlRecord(value as Record<string, unknown>));
  });
  return spans;
}

/** The spans of a file (an absent file has none: a service that never traced wrote nothing). */
export function readSpans(file: string): Span[] {
  if (!existsSync(file)) return [];
  return parseSpans(readFileSync(file, 'utf8'), file);
}

// `embpress traces summarize`: where the time of a Rank or a Retrieve goes, from finished spans.
//  - Per span name (and service, kind): count and p50/p90/p99/max.
//  - Per request (a Rank or Retrieve server span and the spans of its trace): the ranker's stages
//    (feature mapping, store lookup, decode, dense forward), each store call as the caller saw it
//    (its CLIENT span) against the store's own SERVER span of the same call, and their difference:
//    the network and queue gap (serialization, the wire, both event loops' queues). "other" is
//    the server span's time outside its named stages (validation, version pinning, answer).
//  - The slowest requests with the same breakdown.
import { percentile } from '@embpress/loadtest';
import type { Span } from './span-file';

export interface Percentiles {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SpanNameStats extends Percentiles {
  service: string;
  name: string;
  kind: string;
  errors: number;
}

/** One request's components, in milliseconds (absent: the request had no such span). */
export type Breakdown = Record<string, number>;

export interface OperationBreakdown {
  /** 'Rank' or 'Retrieve'. */
  operation: string;
  service: string;
  requests: number;
  errors: number;
  /** Component → percentiles over the requests that had it, in BREAKDOWN order. */
  components: Record<string, Percentiles>;
}

export interface SlowTrace {
  traceId: string;
  operation: string;
  startMs: number;
  durationMs: number;
  error: boolean;
  breakdown: Breakdown;
}

export interface TraceSummary {
  spans: number;
  traces: number;
  /** First and last span start, epoch ms (null without spans). */
  fromMs: number | null;
  toMs: number | null;
  byName: SpanNameStats[];
  operations: OperationBreakdown[];
  slowest: SlowTrace[];
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    meanMs: sorted.length === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  };
}

/** The operations broken down: the request a user sends, by its server span's name. */
const OPERATIONS = [
  { operation: 'Rank', suffix: 'RankerService/Rank' },
  { operation: 'Retrieve', suffix: 'RetrieverService/Retrieve' },
];

/** Ranker stages by span name → component name. */
const STAGES: Record<string, string> = {
  'ranker.feature_mapping': 'feature mapping',
  'ranker.store_lookup': 'store lookup',
  'ranker.decode': 'decode',
  'ranker.dense_forward': 'dense forward',
};

/** A store call's label: its method, or the stream message it carried (`LookupStream:Search`). */
function callLabel(span: Span): string {
  const method = String(span.attributes['rpc.method'] ?? span.name.split('/').pop() ?? span.name);
  const streamCall = span.attributes['embpress.stream_call'];
  return typeof streamCall === 'string' ? `${method}:${streamCall}` : method;
}

function add(b: Breakdown, key: string, ms: number): void {
  b[key] = (b[key] ?? 0) + ms;
}

/**
 * The breakdown of the request whose server span is `root`, from the spans of its trace. Store
 * calls are CLIENT spans of the root's service; their SERVER side is the span whose parent they
 * are (the store continues the caller's trace context). A call repeated (shards, retries) sums.
 */
export function breakdownOf(root: Span, trace: readonly Span[]): Breakdown {
  const b: Breakdown = { total: root.durationMs };
  const children = new Map<string, Span[]>();
  for (const s of trace) {
    if (s.parentSpanId === null) continue;
    const list = children.get(s.parentSpanId) ?? [];
    list.push(s);
    children.set(s.parentSpanId, list);
  }
  let staged = 0;
  for (const s of trace) {
    if (s === root || s.service !== root.service) continue;
    const stage = STAGES[s.name];
    if (stage !== undefined) {
      add(b, stage, s.durationMs);
      // Top-level stages (children of the server span) partition its time; decode nests in the
      // store lookup, so it is not counted twice.
      if (s.parentSpanId === root.spanId) staged += s.durationMs;
      continue;
    }
    if (s.kind !== 'CLIENT') continue;
    const label = `store ${callLabel(s)}`;
    add(b, `${label} client`, s.durationMs);
    if (s.parentSpanId === root.spanId) staged += s.durationMs;
    const server = (children.get(s.spanId) ?? []).find((c) => c.kind === 'SERVER');
    if (server !== undefined) {
      add(b, `${label} server`, server.durationMs);
      add(b, `${label} network/queue gap`, Math.max(0, s.durationMs - server.durationMs));
    }
  }
  b.other = Math.max(0, root.durationMs - staged);
  return b;
}

const CALL_PARTS = [' client', ' server', ' network/queue gap'];

/** Component order for display: total, stages, each store call (client, server, gap), other. */
function componentOrder(keys: Iterable<string>): string[] {
  const rank = (k: string): [number, string, number] => {
    if (k === 'total') return [0, '', 0];
    const stage = Object.values(STAGES).indexOf(k);
    if (stage >= 0) return [1 + stage, '', 0];
    if (k === 'other') return [100, '', 0];
    const part = CALL_PARTS.findIndex((p) => k.endsWith(p));
    return [50, part < 0 ? k : k.slice(0, -(CALL_PARTS[part] as string).length), part];
  };
  return [...new Set(keys)].sort((a, b) => {
    const [ra, la, pa] = rank(a);
    const [rb, lb, pb] = rank(b);
    return ra - rb || la.localeCompare(lb) || pa - pb;
  });
}

/** The breakdown with its components in display order. */
function ordered(b: Breakdown): Breakdown {
  return Object.fromEntries(componentOrder(Object.keys(b)).map((k) => [k, b[k] as number]));
}

export interface SummarizeOptions {
  /** Slowest requests listed (default 5). */
  slowest?: number;
  /** Only spans that started at or after this epoch ms (default: all). */
  fromMs?: number;
}

export function summarizeTraces(
  all: readonly Span[],
  options: SummarizeOptions = {},
): TraceSummary {
  const spans =
    options.fromMs === undefined ? all : all.filter((s) => s.startMs >= (options.fromMs as number));
  const byKey = new Map<string, { span: Span; durations: number[]; errors: number }>();
  const byTrace = new Map<string, Span[]>();
  let fromMs: number | null = null;
  let toMs: number | null = null;
  for (const s of spans) {
    const key = `${s.service}\u0000${s.name}\u0000${s.kind}`;
    const entry = byKey.get(key) ?? { span: s, durations: [], errors: 0 };
    entry.durations.push(s.durationMs);
    if (s.error) entry.errors += 1;
    byKey.set(key, entry);
    const trace = byTrace.get(s.traceId) ?? [];
    trace.push(s);
    byTrace.set(s.traceId, trace);
    fromMs = fromMs === null ? s.startMs : Math.min(fromMs, s.startMs);
    toMs = toMs === null ? s.startMs : Math.max(toMs, s.startMs);
  }
  const byName: SpanNameStats[] = [...byKey.values()]
    .map(({ span, durations, errors }) => ({
      service: span.service,
      name: span.name,
      kind: span.kind,
      errors,
      ...percentiles(durations),
    }))
    .sort((a, b) => a.service.localeCompare(b.service) || b.count - a.count);

  const operations: OperationBreakdown[] = [];
  const slow: SlowTrace[] = [];
  for (const { operation, suffix } of OPERATIONS) {
    const perComponent = new Map<string, number[]>();
    let requests = 0;
    let errors = 0;
    let service = '';
    for (const s of spans) {
      if (s.kind !== 'SERVER' || !s.name.endsWith(suffix)) continue;
      requests += 1;
      if (s.error) errors += 1;
      service = s.service;
      const breakdown = ordered(breakdownOf(s, byTrace.get(s.traceId) ?? [s]));
      for (const [k, v] of Object.entries(breakdown)) {
        const list = perComponent.get(k) ?? [];
        list.push(v);
        perComponent.set(k, list);
      }
      slow.push({
        traceId: s.traceId,
        operation,
        startMs: s.startMs,
        durationMs: s.durationMs,
        error: s.error,
        breakdown,
      });
    }
    if (requests === 0) continue;
    const components: Record<string, Percentiles> = {};
    for (const k of componentOrder(perComponent.keys()))
      components[k] = percentiles(perComponent.get(k) as number[]);
    operations.push({ operation, service, requests, errors, components });
  }
  slow.sort((a, b) => b.durationMs - a.durationMs);
  return {
    spans: spans.length,
    traces: byTrace.size,
    fromMs,
    toMs,
    byName,
    operations,
    slowest: slow.slice(0, options.slowest ?? 5),
  };
}

// ---- text -----------------------------------------------------------------------------------

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** The summary as text for a terminal. */
export function formatTraceSummary(s: TraceSummary): string {
  const out: string[] = [];
  const span =
    s.fromMs === null || s.toMs === null
      ? ''
      : ` from ${new Date(s.fromMs).toISOString()} over ${((s.toMs - s.fromMs) / 1000).toFixed(1)} s`;
  out.push(`${s.spans} spans in ${s.traces} traces${span}`, '');
  out.push('Spans by name (ms):');
  out.push(
    table(
      ['service / span (kind)', 'count', 'errors', 'p50', 'p90', 'p99', 'max'],
      s.byName.map((n) => [
        `${n.service} ${n.name} (${n.kind})`,
        String(n.count),
        String(n.errors),
        ms(n.p50Ms),
        ms(n.p90Ms),
        ms(n.p99Ms),
        ms(n.maxMs),
      ]),
    ),
  );
  for (const op of s.operations) {
    out.push(
      '',
      `${op.operation} (${op.service}): ${op.requests} requests, ${op.errors} errors; per request (ms):`,
    );
    out.push(
      table(
        ['component', 'requests', 'mean', 'p50', 'p90', 'p99', 'max'],
        Object.entries(op.components).map(([k, p]) => [
          k,
          String(p.count),
          ms(p.meanMs),
          ms(p.p50Ms),
          ms(p.p90Ms),
          ms(p.p99Ms),
          ms(p.maxMs),
        ]),
      ),
    );
  }
  if (s.operations.length === 0)
    out.push('', 'No Rank or Retrieve server spans: no per-request breakdown.');
  if (s.slowest.length > 0) {
    out.push('', 'Slowest requests:');
    for (const t of s.slowest) {
      const parts = Object.entries(t.breakdown)
        .filter(([k]) => k !== 'total')
        .map(([k, v]) => `${k} ${ms(v)}`)
        .join(', ');
      out.push(
        `  ${t.operation} ${ms(t.durationMs)} ms${t.error ? ' (error)' : ''} trace ${t.traceId} at ${new Date(t.startMs).toISOString()}: ${parts}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

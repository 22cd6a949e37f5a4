// The ranker's stage times over a measured window of a span file: what `embpress bench ranker`
// and `embpress experiment` report beside their load results (per stage p50/p99/mean, the
// hot-row cache's hits and misses, the Rank calls answered OK).
import { percentile } from '@embpress/loadtest';
import { readSpans, type Span } from './span-file';

/** Percentiles of one span name's durations. */
export interface StageTimes {
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

export interface SpanSummary {
  stages: Record<string, StageTimes>;
  /** Sums of the ranker.store_lookup spans' cache attributes; spans = how many carried them. */
  cache: { hits: number; misses: number; spans: number };
  /** Rank server spans without an error status that started at or after `answeredFromMs`. */
  answered: number;
}

const STAGE_NAMES = new Set([
  'ranker.feature_mapping',
  'ranker.store_lookup',
  'ranker.dense_forward',
]);

/** Store server spans of row lookups: unary BatchLookup, or a BatchLookup message of a stream. */
export function isStoreLookupServer(span: Span): boolean {
  if (span.kind !== 'SERVER' || span.service !== 'embpress-store') return false;
  if (span.name.endsWith('/BatchLookup')) return true;
  return (
    span.name.endsWith('/LookupStream') && span.attributes['embpress.stream_call'] === 'BatchLookup'
  );
}

export function stageTimes(durations: number[]): StageTimes {
  const list = [...durations].sort((a, b) => a - b);
  return {
    count: list.length,
    p50Ms: percentile(list, 0.5),
    p99Ms: percentile(list, 0.99),
    meanMs: list.reduce((a, b) => a + b, 0) / list.length,
  };
}

/**
 * Durations per stage, and the hot-row cache's hits and misses, of the spans that started at or
 * after `fromMs` (epoch ms); and the Rank calls answered OK from `answeredFromMs` on.
 */
export function summarizeSpans(
  spansFile: string,
  fromMs: number,
  answeredFromMs = fromMs,
): SpanSummary {
  const cache = { hits: 0, misses: 0, spans: 0 };
  let answered = 0;
  const byStage = new Map<string, number[]>();
  for (const span of readSpans(spansFile)) {
    if (
      span.startMs >= answeredFromMs &&
      span.kind === 'SERVER' &&
      span.service === 'embpress-ranker' &&
      span.name.endsWith('/Rank') &&
      !span.error
    )
      answered += 1;
    if (span.startMs < fromMs) continue;
    let stage: string | undefined;
    if (STAGE_NAMES.has(span.name)) stage = span.name;
    const hits = span.attributes['embpress.cache.hits'];
    const misses = span.attributes['embpress.cache.misses'];
    if (
      span.name === 'ranker.store_lookup' &&
      typeof hits === 'number' &&
      typeof misses === 'number'
    ) {
      cache.hits += hits;
      cache.misses += misses;
      cache.spans += 1;
    } else if (span.kind === 'SERVER' && span.service === 'embpress-ranker')
      stage = 'ranker.Rank (server)';
    else if (isStoreLookupServer(span)) stage = 'store.BatchLookup (server)';
    if (stage === undefined) continue;
    const list = byStage.get(stage) ?? [];
    list.push(span.durationMs);
    byStage.set(stage, list);
  }
  const stages: Record<string, StageTimes> = {};
  for (const [stage, list] of byStage) stages[stage] = stageTimes(list);
  return { stages, cache, answered };
}

import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { RankerMetrics } from './ranker-metrics';
import { lookupThroughCache, RowCache, type RowCacheNamespace } from './row-cache';

describe('RankerMetrics', () => {
  it('counts the hot-row cache hits and misses per table, and reports its rows and bytes', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const cache = new RowCache(1 << 16);
    const metrics = new RankerMetrics(cache, provider.getMeter('test'));
    const ns = cache.namespace('ctr', 'v1', 'sparse', 4) as RowCacheNamespace;
    const fetch = async (ids: Uint32Array) => ({
      rows: new Float32Array(ids.length * 4),
      degraded: false,
      cacheable: true,
    });
    const observe = (hits: number, misses: number) =>
      metrics.recordCache('ctr', 'sparse', 'rowwise-int8', hits, misses);
    await lookupThroughCache(cache, ns, Uint32Array.from([1, 2, 3, 1]), fetch, observe);
    await lookupThroughCache(cache, ns, Uint32Array.from([1, 2, 4]), fetch, observe);
    await reader.forceFlush();
    const all = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    const points = (name: string) => all.find((m) => m.descriptor.name === name)?.dataPoints ?? [];
    const lookups = points('embpress.ranker.row_cache.lookups');
    const count = (result: string) =>
      lookups.find((p) => p.attributes.result === result)?.value as number;
    expect(count('hit')).toBe(2);
    expect(count('miss')).toBe(4);
    expect(lookups[0]?.attributes).toMatchObject({
      model: 'ctr',
      table: 'sparse',
      method: 'rowwise-int8',
    });
    expect(points('embpress.ranker.row_cache.rows')[0]?.value).toBe(4);
    expect(points('embpress.ranker.row_cache.memory')[0]?.value).toBe(cache.byteLength);
    expect(cache.byteLength).toBeLessThanOrEqual(1 << 16);
    await provider.shutdown();
  });
});

// The ranker's own metrics (beside the RPC duration every service records): the hot-row cache's
// hits and misses (the hit ratio is hits / (hits + misses)), counted in distinct ids per Rank, and
// gauges of the rows it holds and the bytes it has allocated. Exported through OTLP or the
// Prometheus endpoint (EMBPRESS_METRICS_PORT), like the store's (README, "Traces and metrics").
import { metrics, type Counter, type Meter } from '@opentelemetry/api';
import type { RowCache } from './row-cache';

export class RankerMetrics {
  private readonly cacheLookups: Counter;

  constructor(cache: RowCache, meter: Meter = metrics.getMeter('@embpress/ranker')) {
    this.cacheLookups = meter.createCounter('embpress.ranker.row_cache.lookups', {
      unit: '{row}',
      description:
        'Distinct row ids a Rank looked up in the hot-row cache, by result (hit, miss), per table',
    });
    const rows = meter.createObservableGauge('embpress.ranker.row_cache.rows', {
      unit: '{row}',
      description: 'Rows held by the hot-row cache',
    });
    const bytes = meter.createObservableGauge('embpress.ranker.row_cache.memory', {
      unit: 'By',
      description: 'Bytes allocated by the hot-row cache (at most EMBPRESS_RANKER_ROW_CACHE_BYTES)',
    });
    meter.addBatchObservableCallback(
      (observer) => {
        observer.observe(rows, cache.size);
        observer.observe(bytes, cache.byteLength);
      },
      [rows, bytes],
    );
  }

  /** One Rank's cache probe: `hits` and `misses` distinct ids of one table. */
  recordCache(model: string, table: string, method: string, hits: number, misses: number): void {
    if (hits > 0) this.cacheLookups.add(hits, { model, table, method, result: 'hit' });
    if (misses > 0) this.cacheLookups.add(misses, { model, table, method, result: 'miss' });
  }
}

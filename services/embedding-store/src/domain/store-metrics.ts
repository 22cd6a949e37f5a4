// The store's own metrics (beside the RPC duration every service records): per-table lookup
// latency and rows served (rows/s is its rate), and gauges of each loaded table's memory and
// bytes per row. Exported through OTLP or the Prometheus endpoint (EMBPRESS_METRICS_PORT).
import { metrics, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import type { ModelVersions } from './model-versions';

export class StoreMetrics {
  private readonly lookupDuration: Histogram;
  private readonly rowsServed: Counter;

  constructor(
    versions: ModelVersions,
    meter: Meter = metrics.getMeter('@embpress/embedding-store'),
  ) {
    this.lookupDuration = meter.createHistogram('embpress.store.lookup.duration', {
      unit: 'ms',
      description: 'Time to gather and encode the rows of one table in a Lookup/BatchLookup',
    });
    this.rowsServed = meter.createCounter('embpress.store.rows', {
      unit: '{row}',
      description: 'Rows served, per table',
    });
    const memory = meter.createObservableGauge('embpress.store.table.memory', {
      unit: 'By',
      description: 'Bytes held by a loaded table',
    });
    const perRow = meter.createObservableGauge('embpress.store.table.bytes_per_row', {
      unit: 'By',
      description: 'Bytes held per row of a loaded table',
    });
    meter.addBatchObservableCallback(
      (observer) => {
        for (const { loaded, active } of versions.list()) {
          for (const [table, t] of loaded.tables) {
            const attributes = {
              model: loaded.model,
              version: loaded.version,
              table,
              method: t.method,
              active,
            };
            const bytes = t.memoryBytes();
            observer.observe(memory, bytes, attributes);
            observer.observe(perRow, bytes / t.rows, attributes);
          }
        }
      },
      [memory, perRow],
    );
  }

  /** One table's part of a lookup: `rows` rows in `ms` milliseconds. */
  recordLookup(model: string, table: string, method: string, rows: number, ms: number): void {
    const attributes = { model, table, method };
    this.lookupDuration.record(ms, attributes);
    this.rowsServed.add(rows, attributes);
  }
}

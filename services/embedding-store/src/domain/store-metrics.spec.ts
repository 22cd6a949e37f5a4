import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { registry } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';
import { ModelVersions } from './model-versions';
import { StoreMetrics } from './store-metrics';

describe('StoreMetrics', () => {
  it('records per-table lookup latency and rows, and reports table memory gauges', async () => {
    const root = mkdtempSync(join(tmpdir(), 'embpress-metrics-'));
    try {
      const { method, params } = registry.resolve('rowwise-int8');
      if (method.kind !== 'codec') throw new Error('unexpected');
      const table = method.compress(
        new Float32Array(100 * 8).map((_, i) => Math.sin(i)),
        { fields: [100], dim: 8 },
        params,
        { seed: 1 },
      );
      const dir = new ModelRegistryDir(root);
      dir.writeVersion({
        model: 'ctr',
        version: 'v1',
        tables: [tableToWrite('sparse', table)],
      });
      const versions = new ModelVersions(dir);
      versions.load('ctr', 'v1');
      versions.activate('ctr', 'v1');

      const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
      const provider = new MeterProvider({ readers: [reader] });
      const storeMetrics = new StoreMetrics(versions, provider.getMeter('test'));
      storeMetrics.recordLookup('ctr', 'sparse', 'rowwise-int8', 512, 1.5);
      storeMetrics.recordLookup('ctr', 'sparse', 'rowwise-int8', 512, 2.5);
      await reader.forceFlush();
      const all = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
      const byName = (name: string) =>
        all.find((m) => m.descriptor.name === name)?.dataPoints ?? [];
      expect(byName('embpress.store.rows')[0]?.value).toBe(1024);
      expect(byName('embpress.store.lookup.duration')[0]?.value).toMatchObject({
        count: 2,
        sum: 4,
      });
      expect(byName('embpress.store.table.memory')[0]).toMatchObject({
        value: table.memoryBytes(),
        attributes: { model: 'ctr', version: 'v1', table: 'sparse', active: true },
      });
      expect(byName('embpress.store.table.bytes_per_row')[0]?.value).toBe(
        table.memoryBytes() / 100,
      );
      await provider.shutdown();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

import type { store } from '@embpress/proto';
import {
  annotateSpan,
  InvalidArgumentError,
  optionalName,
  requireCount,
  requireName,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { encodeRows, lookupBytes, uint32Ids } from '../domain/encode-rows';
import { idError, toServiceError } from '../domain/errors';
import type { ModelVersions } from '../domain/model-versions';
import type { StoreMetrics } from '../domain/store-metrics';
import { tableOf } from './lookup';
import { requireRowEncoding } from './validate-store';
import { MAX_TABLES_PER_REQUEST, type BatchLookupRequestIn } from '../wire/request-decoder';

export function batchLookupHandler(
  config: StoreConfig,
  versions: ModelVersions,
  metrics: StoreMetrics,
): UnaryHandler<BatchLookupRequestIn, store.BatchLookupResponse> {
  return async (request, ctx) => {
    requireName('model', request.model);
    const version = optionalName('version', request.version);
    const encoding = requireRowEncoding('encoding', request.encoding);
    requireCount('tables', request.tables.length, 1, MAX_TABLES_PER_REQUEST);
    const seen = new Set<string>();
    let totalIds = 0;
    request.tables.forEach((entry, i) => {
      requireName(`tables[${i}].table`, entry.table);
      if (seen.has(entry.table))
        throw new InvalidArgumentError(`tables[${i}].table`, `"${entry.table}" appears twice`);
      seen.add(entry.table);
      requireCount(`tables[${i}].ids`, entry.ids.length, 1, config.maxIdsPerRequest);
      totalIds += entry.ids.length;
    });
    requireCount('tables[*].ids (all tables)', totalIds, 1, config.maxIdsPerRequest);
    let lease;
    try {
      lease = versions.acquire(request.model, version);
    } catch (err) {
      throw toServiceError(err, request.model);
    }
    try {
      // One version for every table of the request (the lease pins it).
      const tablesOf = request.tables.map((entry) => tableOf(lease.version, entry.table));
      ctx.reserveBytes(
        tablesOf.reduce(
          (sum, t, i) => sum + lookupBytes(t.dim, request.tables[i]?.ids.length ?? 0, encoding),
          0,
        ),
      );
      const started = performance.now();
      const tables = request.tables.map((entry, i) => {
        const table = tablesOf[i] as (typeof tablesOf)[number];
        const tableStarted = performance.now();
        let rows;
        try {
          rows = encodeRows(table, entry.table, uint32Ids(entry.ids), encoding);
        } catch (err) {
          throw idError(err, `tables[${i}].ids`, entry.table);
        }
        metrics.recordLookup(
          request.model,
          entry.table,
          table.method,
          entry.ids.length,
          performance.now() - tableStarted,
        );
        return { table: entry.table, rows };
      });
      annotateSpan({
        'embpress.model': request.model,
        'embpress.version': lease.version.version,
        'embpress.tables': request.tables.length,
        'embpress.ids': totalIds,
        'embpress.bytes_out': tables.reduce((sum, t) => sum + (t.rows.data.length ?? 0), 0),
        'embpress.decode_us': Math.round((performance.now() - started) * 1000),
      });
      return { model: request.model, version: lease.version.version, tables };
    } finally {
      lease.release();
    }
  };
}

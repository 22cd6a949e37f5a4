import type { store } from '@embpress/proto';
import {
  annotateSpan,
  NotFoundError,
  optionalName,
  requireCount,
  requireName,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { encodeRows } from '../domain/encode-rows';
import { idError, toServiceError } from '../domain/errors';
import type { LoadedVersion, ModelVersions } from '../domain/model-versions';
import { requireRowEncoding } from './validate-store';

export function tableOf(loaded: LoadedVersion, name: string) {
  const table = loaded.tables.get(name);
  if (table === undefined)
    throw new NotFoundError(
      `table "${name}" not found in ${loaded.model}/${loaded.version} (tables: ${[...loaded.tables.keys()].join(', ')})`,
    );
  return table;
}

export function lookupHandler(
  config: StoreConfig,
  versions: ModelVersions,
): UnaryHandler<store.LookupRequest, store.LookupResponse> {
  return async (request) => {
    requireName('model', request.model);
    requireName('table', request.table);
    const version = optionalName('version', request.version);
    requireCount('ids', request.ids.length, 1, config.maxIdsPerRequest);
    const encoding = requireRowEncoding('encoding', request.encoding);
    let lease;
    try {
      lease = versions.acquire(request.model, version);
    } catch (err) {
      throw toServiceError(err, request.model);
    }
    try {
      const table = tableOf(lease.version, request.table);
      const started = performance.now();
      let rows;
      try {
        rows = encodeRows(table, request.table, Uint32Array.from(request.ids), encoding);
      } catch (err) {
        throw idError(err, 'ids', request.table);
      }
      annotateSpan({
        'embpress.model': request.model,
        'embpress.version': lease.version.version,
        'embpress.table': request.table,
        'embpress.method': table.spec,
        'embpress.ids': request.ids.length,
        'embpress.unique_ids': new Set(request.ids).size,
        'embpress.bytes_out': rows.data.length,
        'embpress.decode_us': Math.round((performance.now() - started) * 1000),
      });
      return { model: request.model, version: lease.version.version, table: request.table, rows };
    } finally {
      lease.release();
    }
  };
}

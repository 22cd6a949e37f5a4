import type { store } from '@embpress/proto';
import {
  InvalidArgumentError,
  optionalName,
  requireCount,
  requireName,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { registryNotYet } from './not-yet';
import { requireRowEncoding } from './validate-store';

export function batchLookupHandler(
  config: StoreConfig,
): UnaryHandler<store.BatchLookupRequest, store.BatchLookupResponse> {
  return async (request) => {
    requireName('model', request.model);
    optionalName('version', request.version);
    requireRowEncoding('encoding', request.encoding);
    requireCount('tables', request.tables.length, 1, 4096);
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
    throw registryNotYet('BatchLookup');
  };
}

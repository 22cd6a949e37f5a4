import type { store } from '@embpress/proto';
import { optionalName, requireCount, requireName, type UnaryHandler } from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { registryNotYet } from './not-yet';
import { requireRowEncoding } from './validate-store';

export function lookupHandler(
  config: StoreConfig,
): UnaryHandler<store.LookupRequest, store.LookupResponse> {
  return async (request) => {
    requireName('model', request.model);
    requireName('table', request.table);
    optionalName('version', request.version);
    requireCount('ids', request.ids.length, 1, config.maxIdsPerRequest);
    requireRowEncoding('encoding', request.encoding);
    throw registryNotYet('Lookup');
  };
}

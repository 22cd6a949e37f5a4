import { store } from '@embpress/proto';
import {
  optionalName,
  requireEnum,
  requireFloat32Block,
  requireIntInRange,
  requireName,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { StoreConfig } from '../config';
import { registryNotYet } from './not-yet';

const MAX_DIM = 65_536;

export function searchHandler(
  config: StoreConfig,
): UnaryHandler<store.SearchRequest, store.SearchResponse> {
  return async (request) => {
    requireName('model', request.model);
    requireName('table', request.table);
    optionalName('version', request.version);
    requireFloat32Block('queries', request.queries, {
      maxCount: config.maxSearchQueries,
      maxDim: MAX_DIM,
    });
    requireIntInRange('k', request.k, 1, config.maxSearchK);
    const { Metric } = store;
    requireEnum(
      'metric',
      request.metric,
      [Metric.METRIC_UNSPECIFIED, Metric.METRIC_INNER_PRODUCT, Metric.METRIC_L2],
      Metric,
    );
    throw registryNotYet('Search');
  };
}

import type { retriever } from '@embpress/proto';
import {
  InvalidArgumentError,
  requireFloat32Block,
  requireIntInRange,
  requireName,
  requireText,
  UnimplementedError,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { RetrieverConfig } from '../config';

export function retrieveHandler(
  config: RetrieverConfig,
): UnaryHandler<retriever.RetrieveRequest, retriever.RetrieveResponse> {
  return async (request) => {
    requireName('corpus', request.corpus);
    if (request.table !== '') requireName('table', request.table);
    const query = request.query;
    if (query === undefined) throw new InvalidArgumentError('query', 'needs text or vector');
    if (query.$case === 'text') requireText('text', query.value, config.maxQueryChars);
    else requireFloat32Block('vector', query.value, { maxCount: 1, maxDim: 65_536 });
    requireIntInRange('k', request.k, 1, config.maxK);
    requireIntInRange('rerank_factor', request.rerankFactor, 0, 100);
    throw new UnimplementedError(
      'Retrieve: corpus ingest, the text encoder and search over the store are not built yet (retriever issue #6)',
    );
  };
}

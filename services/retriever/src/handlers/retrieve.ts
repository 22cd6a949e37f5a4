// Retrieve: validate → the corpus version (the store's active one) → its encoder and passages →
// the query vector (encoded text, or the given vector) → Search on every shard holding the table,
// PINNED to that version (optionally re-ranked by the store with the fp32 companion) → passages
// with ids, texts and scores, and the version they all came from.
import { status } from '@grpc/grpc-js';
import type { retriever } from '@embpress/proto';
import {
  FailedPreconditionError,
  fromUpstream,
  InvalidArgumentError,
  isServiceError,
  NotFoundError,
  requireFloat32Block,
  requireIntInRange,
  requireName,
  requireText,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { ActiveVersions, ShardedStoreClient } from '@embpress/store-client';
import type { RetrieverConfig } from '../config';
import { CorpusError, type CorpusVersion } from '@embpress/corpus';
import type { CorpusCache } from '../domain/corpus-cache';

export interface RetrieveDeps {
  config: RetrieverConfig;
  store: ShardedStoreClient;
  versions: ActiveVersions;
  corpora: CorpusCache;
}

function corpusVersion(corpora: CorpusCache, corpus: string, version: string): CorpusVersion {
  try {
    return corpora.get(corpus, version);
  } catch (err) {
    if (err instanceof CorpusError)
      throw new FailedPreconditionError(`retriever registry: ${err.message}`);
    throw err;
  }
}

export function retrieveHandler(
  deps: RetrieveDeps,
): UnaryHandler<retriever.RetrieveRequest, retriever.RetrieveResponse> {
  const { config, store, versions, corpora } = deps;

  async function retrieveAt(
    request: retriever.RetrieveRequest,
    version: string,
    deadline: number,
  ): Promise<retriever.RetrieveResponse> {
    const corpus = corpusVersion(corpora, request.corpus, version);
    const table = request.table === '' ? corpus.retrieval.table : request.table;
    const query = request.query as NonNullable<retriever.RetrieveRequest['query']>;
    let vector: Float32Array;
    if (query.$case === 'text') {
      if (corpus.encoder === undefined)
        throw new FailedPreconditionError(
          `corpus ${request.corpus}/${version} holds precomputed vectors (${corpus.retrieval.encoder.kind === 'precomputed' ? corpus.retrieval.encoder.source : ''}); query it with a vector`,
        );
      if (!corpus.encoder.knowsAnyTerm(query.value))
        throw new InvalidArgumentError('text', 'has no term of the corpus vocabulary');
      vector = corpus.encoder.encode(query.value);
    } else {
      vector = requireFloat32Block('vector', query.value, { maxCount: 1, maxDim: 65_536 });
      if (query.value.dim !== corpus.retrieval.dim)
        throw new InvalidArgumentError(
          'vector.dim',
          `is ${query.value.dim}, corpus ${request.corpus}/${version} has dim ${corpus.retrieval.dim}`,
        );
    }
    const rerank = request.rerankFactor > 0;
    const k = Math.min(request.k, corpus.passages.length);
    const searchK = rerank ? Math.min(k * request.rerankFactor, corpus.passages.length) : k;
    let result;
    try {
      result = await store.search(
        {
          model: request.corpus,
          version,
          table,
          queries: vector,
          dim: vector.length,
          // The store re-scores its code candidates with the fp32 rows and returns the exact best
          // k·r; the best k of those are kept.
          k: searchK,
          exactRerank: rerank,
          nprobe: config.defaultNprobe,
        },
        { deadline },
      );
    } catch (err) {
      // No fp32 companion for exact_rerank, a table without search: the caller's to fix.
      if (isServiceError(err) && err.code === status.FAILED_PRECONDITION)
        throw new FailedPreconditionError(`store Search: ${err.details}`);
      // k was validated here; only k × rerank_factor can exceed the store's Search limit.
      if (isServiceError(err) && err.code === status.INVALID_ARGUMENT && rerank)
        throw new InvalidArgumentError(
          'rerank_factor',
          `k × rerank_factor = ${searchK} candidates is over the store's Search limit (store: ${err.details})`,
        );
      throw fromUpstream(err, 'store Search');
    }
    const hits = result.results[0] ?? { ids: [], scores: [] };
    const passages = hits.ids.slice(0, k).map((id, i) => {
      const passage = corpus.passages[id];
      if (passage === undefined)
        throw new FailedPreconditionError(
          `store returned row ${id} of ${request.corpus}/${version}, which has ${corpus.passages.length} passages`,
        );
      return { id: passage.id, text: passage.text, score: hits.scores[i] as number };
    });
    return { corpus: request.corpus, version: result.version, passages };
  }

  return async (request, ctx) => {
    requireName('corpus', request.corpus);
    if (request.table !== '') requireName('table', request.table);
    const query = request.query;
    if (query === undefined) throw new InvalidArgumentError('query', 'needs text or vector');
    if (query.$case === 'text') requireText('text', query.value, config.maxQueryChars);
    else requireFloat32Block('vector', query.value, { maxCount: 1, maxDim: 65_536 });
    requireIntInRange('k', request.k, 1, config.maxK);
    requireIntInRange('rerank_factor', request.rerankFactor, 0, 100);
    const deadline = ctx.deadline ?? Date.now() + config.store.timeoutMs;

    const resolve = async () => {
      try {
        return await versions.resolve(request.corpus, deadline);
      } catch (err) {
        throw fromUpstream(err, 'store DescribeTables');
      }
    };
    const version = await resolve();
    try {
      return await retrieveAt(request, version, deadline);
    } catch (err) {
      // The store unloaded the cached version since: ask for the active one again, once.
      if (err instanceof NotFoundError || (isServiceError(err) && err.code === status.NOT_FOUND)) {
        versions.forget(request.corpus);
        const fresh = await resolve();
        if (fresh !== version) return retrieveAt(request, fresh, deadline);
      }
      throw err;
    }
  };
}

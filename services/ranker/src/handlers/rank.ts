// Rank: validate → learn the model's tables and active version from the store → (feature
// mapping, BatchLookup, dense forward: ranker issue #6). The store call is real and traced, so a
// Rank request already shows the ranker → store hop in its trace.
import type { ranker } from '@embpress/proto';
import {
  fromUpstream,
  outgoingDeadline,
  UnimplementedError,
  type UnaryHandler,
} from '@embpress/service-kit';
import type { ShardedStoreClient } from '@embpress/store-client';
import type { RankerConfig } from '../config';
import { validateRankRequest } from './validate-rank';

export function rankHandler(
  config: RankerConfig,
  store: ShardedStoreClient,
): UnaryHandler<ranker.RankRequest, ranker.RankResponse> {
  return async (request, ctx) => {
    validateRankRequest(request, config);
    const deadline = outgoingDeadline(ctx.deadline, config.store.timeoutMs);
    try {
      await store.describeTables(request.model, { deadline });
    } catch (err) {
      throw fromUpstream(err, 'store DescribeTables');
    }
    throw new UnimplementedError(
      'Rank: feature mapping, BatchLookup and the dense forward are not built yet (ranker issue #6)',
    );
  };
}

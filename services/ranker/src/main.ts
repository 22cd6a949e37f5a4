// Composition root of the ranker. Telemetry is started by the caller first.
import { initBackend } from '@embpress/models';
import { ranker } from '@embpress/proto';
import { ServiceHost, type Logger, type RunningService } from '@embpress/service-kit';
import { ActiveVersions, ShardedStoreClient } from '@embpress/store-client';
import type { RankerConfig } from './config';
import { ModelCache } from './domain/model-cache';
import { RankerMetrics } from './domain/ranker-metrics';
import { RowCache } from './domain/row-cache';
import { loadServedModel } from './domain/served-model';
import { rankHandler } from './handlers/rank';
import { decodeRankRequest, type RankRequestIn } from './wire/rank-request-decoder';

/**
 * The generated service definition with Rank's request decoded by hand: the categorical values
 * stay bytes until the feature mapping looks them up (wire/rank-request-decoder.ts).
 */
function rankerServiceDefinition(): typeof ranker.RankerServiceService {
  const generated = ranker.RankerServiceService;
  return {
    ...generated,
    rank: {
      ...generated.rank,
      requestDeserialize: (bytes: Buffer): RankRequestIn => decodeRankRequest(bytes),
    } as typeof generated.rank,
  };
}

export async function startRanker(config: RankerConfig, logger: Logger): Promise<RunningService> {
  // Once, before serving: the dense forward of every request runs on it.
  const backend = await initBackend(config.backend);
  logger.info(
    {
      backend: backend.name,
      registryRoot: config.registryRoot,
      rowCacheBytes: config.rowCacheBytes,
    },
    'tfjs backend ready',
  );
  const store = ShardedStoreClient.create(config.store, config.shardMap);
  const versions = ActiveVersions.of(store, config.versionTtlMs);
  const models = new ModelCache(config.modelCacheSize, (model, version) =>
    loadServedModel(config.registryRoot, model, version),
  );
  // Decoded rows of the served versions; allocated when the first Rank tells it the rows' width.
  const rowCache = new RowCache(config.rowCacheBytes);
  const metrics = new RankerMetrics(rowCache);
  const host = new ServiceHost({ name: 'ranker', config: config.server, logger });
  host.addService<ranker.RankerServiceServer>(rankerServiceDefinition(), {
    rank: rankHandler({ config, store, versions, models, rowCache, metrics }),
  });
  await host.start();
  const running = host.markServing();
  return {
    ...running,
    stop: async () => {
      await running.stop();
      store.close();
      models.clear();
      rowCache.clear();
    },
  };
}

// Composition root of the ranker. Telemetry is started by the caller first.
import { ranker } from '@embpress/proto';
import { ServiceHost, type Logger, type RunningService } from '@embpress/service-kit';
import { ShardedStoreClient } from '@embpress/store-client';
import type { RankerConfig } from './config';
import { rankHandler } from './handlers/rank';

export async function startRanker(config: RankerConfig, logger: Logger): Promise<RunningService> {
  const store = ShardedStoreClient.create(config.store, config.shardMap);
  const host = new ServiceHost({ name: 'ranker', config: config.server, logger });
  host.addService<ranker.RankerServiceServer>(ranker.RankerServiceService, {
    rank: rankHandler(config, store),
  });
  await host.start();
  const running = host.markServing();
  return {
    ...running,
    stop: async () => {
      await running.stop();
      store.close();
    },
  };
}

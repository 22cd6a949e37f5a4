// Composition root of the retriever. Telemetry is started by the caller first.
import { ModelRegistryDir } from '@embpress/model-registry';
import { retriever } from '@embpress/proto';
import { ServiceHost, type Logger, type RunningService } from '@embpress/service-kit';
import { ActiveVersions, ShardedStoreClient } from '@embpress/store-client';
import type { RetrieverConfig } from './config';
import { readCorpusVersion } from '@embpress/corpus';
import { CorpusCache } from './domain/corpus-cache';
import { retrieveHandler } from './handlers/retrieve';

export async function startRetriever(
  config: RetrieverConfig,
  logger: Logger,
): Promise<RunningService> {
  const store = ShardedStoreClient.create(config.store, config.shardMap);
  const versions = ActiveVersions.of(store, config.versionTtlMs, 'corpus');
  const registryDir = new ModelRegistryDir(config.registryRoot);
  const corpora = new CorpusCache(config.corpusCacheSize, (corpus, version) =>
    readCorpusVersion(registryDir, corpus, version),
  );
  const host = new ServiceHost({ name: 'retriever', config: config.server, logger });
  host.addService<retriever.RetrieverServiceServer>(retriever.RetrieverServiceService, {
    retrieve: retrieveHandler({ config, store, versions, corpora }),
  });
  await host.start();
  const running = host.markServing();
  return {
    ...running,
    stop: async () => {
      await running.stop();
      store.close();
      corpora.clear();
    },
  };
}
